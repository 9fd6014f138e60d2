"""The defaults and a patient's overrides (pure)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from fhir_api.alerts import RULES, Kind, Overrides, Severity, defaults, rules_for


def test_every_default_rule_has_one_condition_a_margin_and_a_confirmation():
    ids = [r.id for r in RULES]
    assert len(ids) == len(set(ids))
    for rule in RULES:
        assert set(rule.margins) == set(rule.limits) == set(rule.kinds), rule.id
        assert all(m > 0 for m in rule.margins.values()), rule.id
        assert rule.consecutive >= 1 and rule.resolve_after >= 1, rule.id
    assert {r.id for r in RULES if r.severity is Severity.URGENT} >= {"bp-urgent", "spo2-urgent"}


def test_urgent_defaults_fire_at_once():
    """Issue 13: urgent thresholds fire at once (no confirmation)."""
    for rule in (*RULES, *defaults.SPO2_SCALE_2):
        if rule.severity is Severity.URGENT:
            assert (rule.consecutive, rule.days, rule.sampling.value) == (1, 0, "reading"), rule.id


def test_the_defaults_say_a_clinician_must_confirm_them_and_cite_sources():
    text = defaults.__doc__ or ""
    assert "CLINICIAN MUST CONFIRM" in text
    for source in ("JSH 2019", "NEWS", "ESC Guidelines for heart failure"):
        assert source in text


def test_a_patients_limit_replaces_the_default_and_keeps_the_margin():
    rules = rules_for(Overrides(systolic_high=125, pulse_high=100), zone="Asia/Tokyo")
    high = rules.rule("bp-high")
    assert high is not None
    assert high.limits == {Kind.SYSTOLIC: 125.0, Kind.DIASTOLIC: 85.0}
    assert high.margins == defaults.BP_HIGH.margins
    assert rules.rule("pulse-high").limits[Kind.PULSE] == 100
    assert rules.zone == "Asia/Tokyo"


def test_overrides_from_the_extension_names():
    overrides = Overrides.from_mapping({"systolic-urgent": 170, "spo2-scale": "target-88-92"})
    rules = rules_for(overrides)
    assert rules.rule("bp-urgent").limits[Kind.SYSTOLIC] == 170
    assert rules.rule("spo2-low").limits[Kind.SPO2] == 85.0
    with pytest.raises(ValueError, match="systolic-hihg"):
        Overrides.from_mapping({"systolic-hihg": 130})


def test_an_unknown_spo2_scale_is_refused():
    with pytest.raises(ValueError, match="scale"):
        rules_for(Overrides(spo2_scale="scale-3"))


def test_rules_can_be_turned_off_per_patient():
    rules = rules_for(Overrides(disabled=frozenset({"bp-high"}), no_reading={}))
    assert rules.rule("bp-high") is None and rules.rule("bp-urgent") is not None
    assert rules.no_reading == {}
    assert rules_for().no_reading == {Kind.SYSTOLIC: timedelta(days=3)}


def test_an_unknown_zone_falls_back_to_utc():
    assert rules_for(zone="Mars/Olympus").tz.utcoffset(None) == timedelta(0)
