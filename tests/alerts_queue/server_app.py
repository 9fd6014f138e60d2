"""The app a crash test's uvicorn process serves: the server with the test's evaluator.

`uvicorn tests.alerts_queue.server_app:app --factory`, settings from `HOMEVITALS_*`.
"""

from __future__ import annotations

from fastapi import FastAPI

from fhir_api.app import create_app
from fhir_api.settings import Settings

from .evaluator import CountingEvaluator


def app() -> FastAPI:
    return create_app(Settings(), evaluator=CountingEvaluator())
