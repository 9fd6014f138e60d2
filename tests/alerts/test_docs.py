"""docs/alerts.md says what the default rules do (the table is checked against the code)."""

from __future__ import annotations

from pathlib import Path

from fhir_api.alerts import RULES, Direction, Rule
from fhir_api.alerts.defaults import SPO2_SCALE_2

DOC = Path(__file__).resolve().parents[2] / "docs" / "alerts.md"


def _number(value: float) -> str:
    return f"{value:g}"


def _row(rule: Rule) -> str:
    above = rule.direction is Direction.ABOVE
    sign_of = {(True, False): "≥", (False, False): "≤", (True, True): ">", (False, True): "<"}
    limits = " or ".join(
        f"{k.value} {sign_of[above, rule.strict]} {_number(v)}" for k, v in rule.limits.items()
    )
    sign = -1 if above else 1
    recovery = " and ".join(
        f"{k.value} {'<' if above else '>'} {_number(v + sign * rule.margins[k])}"
        for k, v in rule.limits.items()
    )
    if rule.days:
        confirmation = f"{rule.days} days within {rule.window_days}"
    elif rule.consecutive == 1:
        confirmation = "at once"
    else:
        confirmation = f"{rule.consecutive} in a row"
    return (
        f"| `{rule.id}` | {rule.severity.value} | {rule.sampling.value} | {limits} | "
        f"{confirmation} | {recovery}, or {rule.resolve_after} settled |"
    )


def test_every_default_rule_is_in_the_table_as_the_code_has_it():
    text = DOC.read_text(encoding="utf-8")
    for rule in (*RULES, *SPO2_SCALE_2):
        assert _row(rule) in text, _row(rule)
    assert "clinician must confirm" in text
