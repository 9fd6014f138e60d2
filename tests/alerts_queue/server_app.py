"""The app a crash test's uvicorn process serves: the server with the real rules, and
the test's hook that pauses the first evaluation in any process (to be killed there).

`uvicorn tests.alerts_queue.server_app:app --factory`, settings from `HOMEVITALS_*`.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from fhir_api.alerts.evaluator import RuleEvaluator
from fhir_api.app import create_app, real_evaluator
from fhir_api.settings import Settings

from .evaluator import pause_once_if_asked


class PausingRules(RuleEvaluator):
    """The real rules, after the crash test's pause (the first evaluation only)."""

    def evaluate(self, *args: Any, **kwargs: Any) -> Any:
        pause_once_if_asked()
        return super().evaluate(*args, **kwargs)


def app() -> FastAPI:
    settings = Settings()
    rules = real_evaluator(settings)
    pausing = PausingRules(
        server_zone=rules.server_zone, base_url=rules.base_url, language=rules.language
    )
    return create_app(settings, evaluator=pausing)
