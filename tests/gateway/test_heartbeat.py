"""The heartbeat replaces the gateway's Device only when it is worth a version (issue 9)."""

from __future__ import annotations

import pytest

from gateway.heartbeat import HeartbeatPolicy

HOUR = 3600.0
CUFF = "D0:00:00:00:01:01"


def status(**changes) -> dict:
    base = {
        "software_version": "0.1.0",
        "uptime_s": 100,
        "bluetooth": "scanning",
        "storage": "ok",
        "damaged_outbox": None,
        "queue_depth": 0,
        "oldest_unsent_age_s": None,
        "rejected": 0,
        "quarantined": 0,
        "last_upload_contact": 1000.0,
        "devices": {CUFF: {"last_contact": 900.0, "battery": 57}},
    }
    return base | changes


def test_the_first_status_is_sent_and_an_unchanged_one_waits_for_the_keepalive():
    policy = HeartbeatPolicy(keepalive=6 * HOUR)
    assert policy.due(status(), 0.0)
    policy.sent(status(), 0.0)
    # Uptime, queue depth and contact times move all the time: not a reason on their own.
    moving = status(
        uptime_s=5000,
        queue_depth=3,
        oldest_unsent_age_s=120.0,
        last_upload_contact=4000.0,
        devices={CUFF: {"last_contact": 3900.0, "battery": 55}},
    )
    assert not policy.due(moving, 5 * HOUR)
    assert policy.due(moving, 6 * HOUR)  # the keep-alive


@pytest.mark.parametrize(
    "change",
    [
        {"bluetooth": "stopped"},
        {"storage": "fault: cannot commit: database or disk is full"},
        {"damaged_outbox": "/var/lib/homevitals/gateway.db.corrupt-20261130T000000Z"},
        {"oldest_unsent_age_s": 2 * HOUR},  # a backlog older than an hour
        {"rejected": 1},
        {"quarantined": 1},
        {"software_version": "0.2.0"},
        {"devices": {CUFF: {"last_contact": 900.0, "battery": 49}}},  # a 10 % step down
        {"devices": {CUFF: {"last_contact": 900.0, "battery": 57}, "D0:00:00:00:02:01": {}}},
    ],
)
def test_a_material_change_is_sent_at_once(change):
    policy = HeartbeatPolicy(keepalive=6 * HOUR)
    policy.sent(status(), 0.0)
    assert policy.due(status(**change), 60.0)


def test_a_year_of_five_minute_looks_makes_about_1500_versions_not_105000():
    policy = HeartbeatPolicy(keepalive=6 * HOUR)
    sent = 0
    for look in range(365 * 24 * 12):  # every five minutes
        now = look * 300.0
        battery = 100 - (look * 100) // (365 * 24 * 12)  # a battery that lasts the year
        current = status(uptime_s=now, devices={CUFF: {"last_contact": now, "battery": battery}})
        if policy.due(current, now):
            policy.sent(current, now)
            sent += 1
    assert 365 * 4 <= sent <= 365 * 4 + 12
