"""The defaults and a patient's overrides (pure)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from fhir_api.alerts import RULES, Kind, Overrides, Severity, defaults, rules_for
from fhir_api.vital_limits import DEFAULT, Level, Limits, Spo2Scale, limits_of, with_limits

SYS, DIA = Kind.SYSTOLIC, Kind.DIASTOLIC


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
    rules = rules_for(limits=Limits(systolic=125, pulse_high=110), zone="Asia/Tokyo")
    high = rules.rule("bp-high")
    assert high is not None
    assert high.limits == {Kind.SYSTOLIC: 125.0, Kind.DIASTOLIC: 85.0}
    assert high.margins == defaults.BP_HIGH.margins
    assert rules.rule("pulse-high").limits[Kind.PULSE] == 110
    assert rules.zone == "Asia/Tokyo"


def test_the_limits_come_from_the_patients_vital_limits_extension():
    patient = with_limits(
        {"resourceType": "Patient"},
        {"systolic_urgent": 170, "pulse_high": 140},
        Spo2Scale.TARGET_88_92,
    )
    rules = rules_for(limits=limits_of(patient))
    assert rules.rule("bp-urgent").limits[Kind.SYSTOLIC] == 170
    assert rules.rule("spo2-low").limits[Kind.SPO2] == 88.0
    # The urgent pulse level is never inside the patient's own warning band.
    assert rules.rule("pulse-urgent-high").limits[Kind.PULSE] == 141


# Values on both sides of every flag's limit, and the limits themselves.
_PROBES = {
    Kind.SYSTOLIC: (120, 134, 135, 136, 179, 180, 181),
    Kind.DIASTOLIC: (70, 84, 85, 86, 109, 110, 111),
    Kind.SPO2: (80, 85, 86, 87, 88, 89, 90, 91, 97),
    Kind.PULSE: (30, 40, 41, 49, 50, 51, 99, 100, 101, 130, 131, 150),
}


@pytest.mark.parametrize(
    "limits",
    [
        DEFAULT,
        Limits(systolic=140, diastolic=90, pulse_low=45, pulse_high=120),
        Limits(spo2_low=88, spo2_scale=Spo2Scale.TARGET_88_92),
    ],
    ids=["defaults", "own-limits", "scale-2"],
)
def test_flags_and_alerts_use_one_set_of_numbers(limits):
    """Issue 12/13: a reading the pages flag is one the alert rules count, and no other."""
    rules = rules_for(limits=limits)
    flag = {
        "bp-high": lambda v: limits.blood_pressure(v.get(SYS), v.get(DIA)) is not None,
        "bp-urgent": lambda v: limits.blood_pressure(v.get(SYS), v.get(DIA)) is Level.URGENT,
        "spo2-low": lambda v: limits.spo2(v[Kind.SPO2]) is Level.LOW,
        "pulse-high": lambda v: limits.pulse(v[Kind.PULSE]) is Level.HIGH,
        "pulse-low": lambda v: limits.pulse(v[Kind.PULSE]) is Level.LOW,
    }
    for condition, flagged in flag.items():
        rule = rules.rule(condition)
        for kind in rule.kinds:
            for value in _PROBES[kind]:
                values = {kind: float(value)}
                assert rule.out_of_range(values) == flagged(values), (condition, value)
    # The urgent levels of SpO2 and pulse lie beyond the flags' limits.
    assert rules.rule("spo2-urgent").limits[Kind.SPO2] < limits.spo2_low
    assert rules.rule("pulse-urgent-high").limits[Kind.PULSE] > limits.pulse_high
    assert rules.rule("pulse-urgent-low").limits[Kind.PULSE] < limits.pulse_low


def test_an_unknown_override_is_refused():
    assert Overrides.from_mapping({"weight-gain-kg": 1.5}).weight_gain_kg == 1.5
    with pytest.raises(ValueError, match="systolic-high"):
        Overrides.from_mapping({"systolic-high": 130})  # a vital limit, not an override


def test_rules_can_be_turned_off_per_patient():
    rules = rules_for(Overrides(disabled=frozenset({"bp-high"}), no_reading={}))
    assert rules.rule("bp-high") is None and rules.rule("bp-urgent") is not None
    assert rules.no_reading == {}
    assert rules_for().no_reading == {Kind.SYSTOLIC: timedelta(days=3)}


def test_an_unknown_zone_falls_back_to_utc():
    assert rules_for(zone="Mars/Olympus").tz.utcoffset(None) == timedelta(0)
