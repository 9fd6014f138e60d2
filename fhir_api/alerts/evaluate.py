"""Judging arriving readings (pure): `evaluate(state, readings, rules, now) -> Outcome`.

The state keeps each kind's recent readings; every decision is recomputed from them,
sorted by time, so the answer does not depend on the order readings arrive in: a
late reading (older than the newest) takes its place in the history, and the same
reading twice changes nothing (readings are keyed by Observation id; a corrected value
under the same id replaces the old one).

For each rule (`model.Rule`) the readings become samples (each Observation, the mean
of a sitting, or a weight gain); an alert opens when the confirmation holds on the
samples after the condition's last resolution, gathers every later sample beyond its
limit, and resolves on a recovered sample or after `resolve_after` settled samples
in a row (past half the recovery margin), counted after its newest out-of-range
sample (hysteresis: a value wavering around the limit keeps the alert, it does not
flap).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta, tzinfo

from .lifecycle import opened, resolved, updated
from .model import (
    Change,
    ChangeKind,
    Kind,
    Outcome,
    PatientState,
    Point,
    Reading,
    Rule,
    Sampling,
    Severity,
)
from .observations import observation_of
from .rules import Rules, no_reading_condition

__all__ = [
    "HISTORY_DAYS",
    "HISTORY_POINTS",
    "Sample",
    "day_of",
    "decide",
    "evaluate",
    "occasions_of",
    "samples_of",
]

HISTORY_DAYS = 8  # the longest window (7 days over) and a day's margin for the zone
HISTORY_POINTS = 64  # per kind: two sittings of two a day for a week, with room
_EVENING_ENDS = timedelta(hours=2)


@dataclass(frozen=True, slots=True)
class Sample:
    """What a rule compares: one Observation, a sitting's mean, or a weight gain."""

    at: datetime
    values: dict[Kind, float]
    observations: tuple[str, ...]
    occasion: str


def occasions_of(points: Mapping[Kind, Sequence[Point]], window: timedelta) -> dict[str, str]:
    """The sitting of each Observation: a reading's own key, else the time its sitting began.

    A sitting begins with a reading and takes every reading (of any kind) up to
    `window` later, so a cuff's blood pressure and pulse, and the two readings JSH asks
    for, are one occasion, and their notifications one message.
    """
    keys: dict[str, str] = {}
    start: datetime | None = None
    for point in sorted(
        (p for kind in points.values() for p in kind), key=lambda p: (p.at, p.observation)
    ):
        if point.occasion is not None:
            keys[point.observation] = point.occasion
            continue
        if start is None or point.at - start > window:
            start = point.at
        keys.setdefault(point.observation, start.isoformat())
    return keys


def _by_observation(
    rule: Rule, points: Mapping[Kind, Sequence[Point]]
) -> dict[str, tuple[datetime, dict[Kind, float]]]:
    found: dict[str, tuple[datetime, dict[Kind, float]]] = {}
    for kind in rule.kinds:
        for point in points.get(kind, ()):
            found.setdefault(point.observation, (point.at, {}))[1][kind] = point.value
    return found


def samples_of(
    rule: Rule,
    points: Mapping[Kind, Sequence[Point]],
    occasions: Mapping[str, str],
    now: datetime,
    window: timedelta,
) -> tuple[list[Sample], datetime | None]:
    """The rule's samples, oldest first, and when an incomplete sitting will close.

    A sitting is judged once it has `per_occasion` readings, or once it is over
    (`window` after its first reading, or a later reading began another one).
    """
    if rule.sampling is Sampling.GAIN:
        return _gains(rule, points, occasions), None
    readings = _by_observation(rule, points)
    if rule.sampling is Sampling.READING:
        samples = [
            Sample(at, values, (obs,), occasions.get(obs, at.isoformat()))
            for obs, (at, values) in readings.items()
        ]
        return sorted(samples, key=lambda s: (s.at, s.observations)), None
    groups: dict[str, list[tuple[str, datetime, dict[Kind, float]]]] = {}
    for obs, (at, values) in readings.items():
        groups.setdefault(occasions.get(obs, at.isoformat()), []).append((obs, at, values))
    newest = max((at for at, _ in readings.values()), default=None)
    samples, pending = [], None
    for key, members in groups.items():
        first = min(at for _, at, _ in members)
        closes = first + window
        counts = {k: sum(1 for *_, v in members if k in v) for k in rule.kinds}
        over = now >= closes or (newest is not None and newest > closes)
        if max(counts.values()) < rule.per_occasion and not over:
            pending = closes if pending is None else min(pending, closes)
            continue
        means = {k: sum(v[k] for *_, v in members if k in v) / n for k, n in counts.items() if n}
        last = max(at for _, at, _ in members)
        samples.append(Sample(last, means, tuple(sorted(o for o, *_ in members)), key))
    return sorted(samples, key=lambda s: (s.at, s.observations)), pending


def _gains(
    rule: Rule, points: Mapping[Kind, Sequence[Point]], occasions: Mapping[str, str]
) -> list[Sample]:
    """Each weight's rise over the lowest weight of the `gain_days` before it."""
    kind = rule.kinds[0]
    weights = sorted(points.get(kind, ()), key=lambda p: p.at)
    span = timedelta(days=rule.gain_days)
    samples = []
    for point in weights:
        earlier = [q.value for q in weights if point.at - span <= q.at < point.at]
        if earlier:
            gain = point.value - min(earlier)
            occasion = occasions.get(point.observation, point.at.isoformat())
            samples.append(Sample(point.at, {kind: gain}, (point.observation,), occasion))
    return samples


def day_of(at: datetime, zone: tzinfo) -> date:
    """The patient's day a reading counts for: before 02:00 it is the evening before.

    The charts' convention (`clinician_ui/charts.py` `occasion_of`, JSH evening
    readings taken after midnight), so "3 days over" counts the days the page shows.
    """
    return (at.astimezone(zone) - _EVENING_ENDS).date()


def _confirmed(rule: Rule, samples: Sequence[Sample], zone: tzinfo) -> bool:
    """Enough out-of-range samples: `consecutive` in a row, or on `days` local days."""
    if rule.days:
        days = sorted({day_of(s.at, zone) for s in samples if rule.out_of_range(s.values)})
        need = rule.days
        return any(
            (days[i + need - 1] - days[i]).days < rule.window_days
            for i in range(len(days) - need + 1)
        )
    run = 0
    for sample in samples:
        run = run + 1 if rule.out_of_range(sample.values) else 0
        if run >= rule.consecutive:
            return True
    return False


def _settled(rule: Rule, after: Sequence[Sample]) -> bool:
    """`resolve_after` settled samples in a row."""
    run = 0
    for sample in after:
        run = run + 1 if rule.settled(sample.values) else 0
        if run >= rule.resolve_after:
            return True
    return False


def decide(
    state: PatientState, rule: Rule, samples: Sequence[Sample], zone: tzinfo, now: datetime
) -> tuple[PatientState, list[Change]]:
    """Open, update or resolve the rule's alert from its samples (oldest first)."""
    condition = rule.id
    mark = state.resolved_at.get(condition)
    eligible = [s for s in samples if mark is None or s.at > mark]
    alert = state.alerts.get(condition)
    changes: list[Change] = []
    sequence = state.sequence
    is_new = alert is None
    bad = [s for s in eligible if rule.out_of_range(s.values)]
    if alert is None:
        if not _confirmed(rule, eligible, zone):
            return state, []
        sequence += 1
        alert, _ = opened(
            f"{state.patient}/{condition}/{sequence}",
            condition,
            rule.severity,
            now,
            patient=state.patient,
        )
    fresh = [s for s in bad if not set(s.observations) <= set(alert.observations)]
    for sample in fresh:
        worse = not alert.worst or rule.excess(sample.values) > rule.excess(alert.worst)
        alert = updated(
            alert, at=sample.at, values=sample.values, worse=worse, observations=sample.observations
        )
    if fresh:
        kind = ChangeKind.OPENED if is_new else ChangeKind.UPDATED
        changes.append(Change(kind, alert, now, fresh[-1].occasion))
    newest_bad = max([s.at for s in bad] + ([alert.last_at] if alert.last_at else []), default=now)
    after = [s for s in eligible if s.at > newest_bad]
    alerts, marks = dict(state.alerts), dict(state.resolved_at)
    if after and (any(rule.recovered(s.values) for s in after) or _settled(rule, after)):
        alert, change = resolved(alert, now)
        changes.append(replace(change, occasion=after[-1].occasion))
        alerts.pop(condition, None)
        marks[condition] = after[-1].at
    else:
        alerts[condition] = alert
    if not changes:
        return state, []
    return replace(state, alerts=alerts, resolved_at=marks, sequence=sequence), changes


def _judge_all(
    state: PatientState, rules: Rules, now: datetime, kinds: set[Kind] | None
) -> Outcome[PatientState]:
    """Every rule that reads one of `kinds` (None: every rule), and the sittings' clock."""
    occasions = occasions_of(state.points, rules.occasion_window)
    changes: list[Change] = []
    pending: datetime | None = None
    occasion_rules = False
    zone = rules.tz
    for rule in rules.thresholds:
        if kinds is not None and not kinds.intersection(rule.kinds):
            continue
        samples, closes = samples_of(rule, state.points, occasions, now, rules.occasion_window)
        if rule.sampling is Sampling.OCCASION:
            occasion_rules = True
            if closes is not None and (pending is None or closes < pending):
                pending = closes
        state, found = decide(state, rule, samples, zone, now)
        changes.extend(found)
    for kind in kinds if kinds is not None else set(state.last_seen):
        condition = no_reading_condition(kind)
        silent = state.alerts.get(condition)
        seen = state.last_seen.get(kind)
        if silent is not None and seen is not None and seen > (silent.last_at or seen):
            _, change = resolved(silent, now)
            # Re-armed: the next silence of that kind opens a new alert.
            alerts = {k: a for k, a in state.alerts.items() if k != condition}
            marks = {k: m for k, m in state.resolved_at.items() if k != condition}
            state = replace(state, alerts=alerts, resolved_at=marks)
            changes.append(change)
    if occasion_rules or kinds is None:
        state = replace(state, pending=pending)
    return Outcome(state, tuple(_inhibited(changes, state, rules)))


def _inhibited(changes: list[Change], state: PatientState, rules: Rules) -> list[Change]:
    """Warnings on the values an open urgent alert already covers, marked as inhibited.

    SpO2 88 % twice opens spo2-urgent and then spo2-low: the second message would say
    less than the first. It is recorded, and sent to no one while the urgent one is open.
    """
    urgent = [
        (rule, alert)
        for condition, alert in state.alerts.items()
        if alert.severity is Severity.URGENT and (rule := rules.rule(condition)) is not None
    ]
    if not urgent:
        return changes
    marked = []
    for change in changes:
        rule = rules.rule(change.alert.condition)
        if rule is not None and rule.severity is not Severity.URGENT:
            cover = next(
                (
                    alert.id
                    for other, alert in urgent
                    if other.direction is rule.direction and set(other.kinds) & set(rule.kinds)
                ),
                None,
            )
            change = replace(change, inhibited_by=cover) if cover else change
        marked.append(change)
    return marked


def _merged(
    state: PatientState, readings: Iterable[Reading], retracted: Iterable[str], now: datetime
) -> tuple[PatientState, set[Kind]]:
    """The state with the readings in its history (and retracted ones out of it)."""
    points = {kind: list(found) for kind, found in state.points.items()}
    last_seen = dict(state.last_seen)
    gateway, gateway_at = state.gateway, max(last_seen.values(), default=None)
    horizon = now - timedelta(days=HISTORY_DAYS)
    touched: set[Kind] = set()
    for reading in readings:
        if reading.patient != state.patient:
            raise ValueError(f"a reading of {reading.patient} given to {state.patient}'s state")
        if reading.kind not in last_seen or reading.at > last_seen[reading.kind]:
            last_seen[reading.kind] = reading.at
        if reading.gateway is not None and (gateway_at is None or reading.at >= gateway_at):
            gateway, gateway_at = reading.gateway, reading.at
        if reading.at < horizon:
            continue  # too old to confirm or resolve anything now
        point = Point(reading.observation, reading.at, reading.value, reading.occasion)
        history = points.setdefault(reading.kind, [])
        index = next((i for i, p in enumerate(history) if p.observation == point.observation), -1)
        if index >= 0 and history[index] == point:
            continue
        if index >= 0:
            history[index] = point
        else:
            history.append(point)
        touched.add(reading.kind)
    gone = set(retracted)
    if gone:
        for kind, history in points.items():
            kept = [p for p in history if observation_of(p.observation) not in gone]
            if len(kept) != len(history):
                points[kind] = kept
                touched.add(kind)
    trimmed = {
        kind: tuple(sorted((p for p in history if p.at >= horizon), key=lambda p: p.at))[
            -HISTORY_POINTS:
        ]
        for kind, history in points.items()
    }
    merged = replace(
        state,
        points={k: v for k, v in trimmed.items() if v},
        last_seen=last_seen,
        gateway=gateway,
    )
    return merged, touched


def evaluate(
    state: PatientState,
    readings: Iterable[Reading],
    rules: Rules,
    now: datetime,
    *,
    retracted: Iterable[str] = (),
) -> Outcome[PatientState]:
    """Judge a patient's arriving readings; `retracted` names Observations withdrawn
    (entered-in-error) whose readings leave the history.

    Raises:
        ValueError: a reading of another patient, or `now` without a zone.
    """
    if now.tzinfo is None:
        raise ValueError("now must carry a zone")
    merged, touched = _merged(state, readings, retracted, now)
    if not touched:
        return Outcome(merged)
    return _judge_all(merged, rules, now, touched)
