"""People's changes: acknowledge, resolve by hand (pure)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from fhir_api.alerts import (
    AlertNotFound,
    ChangeKind,
    PatientState,
    Status,
    TransitionError,
    acknowledge,
    alert_from_json,
    alert_to_json,
    resolve,
)

from .factories import T0, bp, feed, kinds_of

MIN = timedelta(minutes=1)


def _urgent() -> tuple[PatientState, str]:
    state, _ = feed(PatientState("p1"), [bp(190, 100, T0)])
    return state, state.alerts["bp-urgent"].id


def test_acknowledge_then_resolve_by_hand_records_who_when_and_why():
    state, alert_id = _urgent()
    acked = acknowledge(state, alert_id, by="cm-1", note="calling her now", now=T0 + 5 * MIN)
    [change] = acked.changes
    assert change.kind is ChangeKind.ACKNOWLEDGED
    alert = acked.state.alerts["bp-urgent"]
    assert alert.status is Status.ACKNOWLEDGED
    assert (alert.acknowledged.by, alert.acknowledged.at) == ("cm-1", T0 + 5 * MIN)

    done = resolve(
        acked.state, alert_id, by="dr-1", note="medication changed", now=T0 + 1 * 60 * MIN
    )
    [change] = done.changes
    assert change.kind is ChangeKind.RESOLVED
    assert change.alert.status is Status.RESOLVED
    assert change.alert.resolved.by == "dr-1" and change.alert.resolved.note == "medication changed"
    assert done.state.alerts == {}
    assert alert_from_json(alert_to_json(change.alert)) == change.alert


def test_acknowledging_twice_is_refused():
    state, alert_id = _urgent()
    acked = acknowledge(state, alert_id, by="cm-1", note="", now=T0 + MIN).state
    with pytest.raises(TransitionError):
        acknowledge(acked, alert_id, by="nurse-1", note="", now=T0 + 2 * MIN)


def test_an_unknown_or_resolved_alert_is_not_found():
    state, alert_id = _urgent()
    with pytest.raises(AlertNotFound):
        acknowledge(state, "p1/bp-urgent/99", by="cm-1", note="", now=T0)
    done = resolve(state, alert_id, by="dr-1", note="seen", now=T0 + MIN).state
    with pytest.raises(AlertNotFound):
        resolve(done, alert_id, by="dr-1", note="again", now=T0 + 2 * MIN)


def test_resolving_by_hand_needs_a_note():
    state, alert_id = _urgent()
    with pytest.raises(TransitionError, match="note"):
        resolve(state, alert_id, by="dr-1", note="  ", now=T0 + MIN)


def test_after_resolving_by_hand_only_new_readings_open_a_new_alert():
    state, alert_id = _urgent()
    state = resolve(state, alert_id, by="dr-1", note="known, treated", now=T0 + MIN).state
    state, changes = feed(state, [bp(150, 90, T0 + 2 * MIN)])
    assert changes == []
    state, changes = feed(state, [bp(192, 104, T0 + 3 * MIN)])
    assert kinds_of(changes) == [("opened", "bp-urgent")]
    assert changes[0].alert.id == "p1/bp-urgent/2"
    assert changes[0].alert.count == 1  # the new reading only
