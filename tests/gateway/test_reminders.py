"""Issue 14: measurement reminders with an injected clock, a re-reminder and a limit."""

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from gateway.reminders import Reminder, ReminderPlan, ReminderState, due_reminders

TOKYO = ZoneInfo("Asia/Tokyo")
PLAN = ReminderPlan(
    "tanaka", "blood-pressure", (time(7), time(19)), timedelta(minutes=30), max_repeats=1
)


def at(day: int, hour: int, minute: int = 0, zone=TOKYO) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=zone)


def run(plans, times, readings=None, zone=TOKYO):
    """Tick through `times`; return (tick, number) for each reminder given."""
    state = ReminderState()
    given = []
    for now in times:
        for reminder in due_reminders(
            plans, now=now, zone=zone, last_reading=readings or {}, state=state
        ):
            given.append((now, reminder.number))
    return given


def every_minute(start: datetime, minutes: int) -> list[datetime]:
    return [start + timedelta(minutes=m) for m in range(minutes)]


def test_reminds_at_the_time_and_once_more_then_stops():
    given = run([PLAN], every_minute(at(30, 6, 50), 180))
    assert given == [(at(30, 7), 0), (at(30, 7, 30), 1)]


def test_a_reading_after_the_reminder_stops_the_re_reminder():
    readings = {("tanaka", "blood-pressure"): at(30, 7, 10)}
    state = ReminderState()
    first = due_reminders([PLAN], now=at(30, 7), zone=TOKYO, last_reading={}, state=state)
    assert first == [Reminder("tanaka", "blood-pressure", at(30, 7), 0)]
    later = due_reminders([PLAN], now=at(30, 7, 30), zone=TOKYO, last_reading=readings, state=state)
    assert later == []


def test_a_reading_shortly_before_the_time_counts():
    readings = {("tanaka", "blood-pressure"): at(30, 6, 45)}
    assert run([PLAN], every_minute(at(30, 6, 50), 120), readings) == []


def test_yesterdays_evening_reading_does_not_count_for_the_morning():
    readings = {("tanaka", "blood-pressure"): at(29, 19, 5)}
    assert run([PLAN], [at(30, 7)], readings) == [(at(30, 7), 0)]


def test_a_reading_of_another_kind_or_patient_does_not_count():
    readings = {
        ("tanaka", "weight-scale"): at(30, 7, 5),
        ("suzuki", "blood-pressure"): at(30, 7, 5),
    }
    assert len(run([PLAN], every_minute(at(30, 7), 60), readings)) == 2


def test_the_limit_is_configurable():
    nagging = ReminderPlan("tanaka", "blood-pressure", (time(7),), timedelta(minutes=10), 3)
    given = run([nagging], every_minute(at(30, 7), 120))
    assert [n for _, n in given] == [0, 1, 2, 3]
    assert [t.minute for t, _ in given] == [0, 10, 20, 30]
    silent = ReminderPlan("tanaka", "blood-pressure", (time(7),), timedelta(minutes=10), 0)
    assert run([silent], every_minute(at(30, 7), 120)) == [(at(30, 7), 0)]


def test_a_late_tick_re_reminds_after_the_interval_not_at_once():
    given = run([PLAN], [at(30, 7, 20), at(30, 7, 30), at(30, 7, 50)])
    assert given == [(at(30, 7, 20), 0), (at(30, 7, 50), 1)]


def test_a_time_missed_by_more_than_the_interval_is_skipped():
    assert run([PLAN], [at(30, 9)]) == []


def test_a_time_before_midnight_re_reminds_after_midnight():
    late = ReminderPlan("tanaka", "blood-pressure", (time(23, 45),), timedelta(minutes=30), 1)
    given = run([late], every_minute(at(30, 23, 40), 60))
    assert given == [(at(30, 23, 45), 0), (datetime(2026, 12, 1, 0, 15, tzinfo=TOKYO), 1)]


def test_times_are_local_to_the_home_zone_whatever_the_clock_zone():
    utc_now = datetime(2026, 11, 29, 22, 0, tzinfo=UTC)  # 07:00 in Tokyo
    state = ReminderState()
    reminders = due_reminders([PLAN], now=utc_now, zone=TOKYO, last_reading={}, state=state)
    assert [r.slot for r in reminders] == [at(30, 7)]


def test_a_zone_with_dst_uses_the_local_wall_clock():
    berlin = ZoneInfo("Europe/Berlin")
    plan = ReminderPlan("tanaka", "blood-pressure", (time(7),), timedelta(minutes=30), 0)
    # 29 March 2026, the spring change: 07:00 local is 05:00 UTC (06:00 UTC the day before).
    before = run([plan], [datetime(2026, 3, 28, 6, 0, tzinfo=UTC)], zone=berlin)
    after = run([plan], [datetime(2026, 3, 29, 5, 0, tzinfo=UTC)], zone=berlin)
    assert len(before) == 1
    assert len(after) == 1


def test_state_forgets_old_slots():
    state = ReminderState()
    due_reminders([PLAN], now=at(30, 7), zone=TOKYO, last_reading={}, state=state)
    state.forget_before(at(30, 8))
    assert state.given == {}
