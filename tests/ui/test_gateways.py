"""The gateways page's pure rows: which Devices are gateways, state, backlog, sensors, order."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from clinician_ui.gateways import gateway_rows, is_gateway
from clinician_ui.summary import GatewayState
from gateway.heartbeat import status_device
from gateway.mapping import GatewayIdentity
from gateway.mapping.devices import DeviceKind, SensorIdentity, sensor_device

NOW = datetime(2026, 11, 30, 1, 0, tzinfo=UTC).timestamp()
NOW_MS = int(NOW * 1000)
HOUR = 3600.0
CUFF = "D0:00:00:00:00:02"


def _gateway(
    device_id: str,
    name: str,
    updated: float,
    devices: dict[str, dict[str, Any]] | None = None,
    queue: int = 0,
    oldest: float | None = None,
) -> dict[str, Any]:
    status = {
        "uptime_s": 100,
        "bluetooth": "on",
        "storage": "ok",
        "last_upload_contact": updated,
        "queue_depth": queue,
        "rejected": 0,
        "quarantined": 0,
        "oldest_unsent_age_s": oldest,
        "devices": devices or {},
    }
    device = status_device(GatewayIdentity("B8-27-EB-FF-FE-4A-6C-01", "0.1.0", name), status)
    device["id"] = device_id
    device["meta"]["lastUpdated"] = datetime.fromtimestamp(updated, UTC).isoformat()
    return device


def _cuff() -> dict[str, Any]:
    """A sensor Device as the gateway writes it (its Bluetooth address dashed)."""
    return {**sensor_device(SensorIdentity(CUFF, DeviceKind.BLOOD_PRESSURE)), "id": "cuff"}


def test_a_gateway_is_the_phg_device_not_a_sensor():
    assert is_gateway(_gateway("g1", "home-1", NOW))
    assert not is_gateway({"resourceType": "Device", "type": {"text": "Blood pressure cuff"}})


def test_online_offline_by_the_six_and_a_half_hour_rule():
    rows = gateway_rows(
        [
            _gateway("g1", "home-1", NOW - 6 * HOUR),
            _gateway("g2", "home-2", NOW - 7 * HOUR),
        ],
        {},
        NOW_MS,
    )
    # Offline first: the one to act on.
    assert [(r.name, r.status.state) for r in rows] == [
        ("home-2", GatewayState.OFFLINE),
        ("home-1", GatewayState.ONLINE),
    ]
    assert rows[0].status.seen_ms == int((NOW - 7 * HOUR) * 1000)


def test_sensors_with_last_contact_and_battery_low_under_20_percent():
    devices = {
        CUFF: {"last_contact": NOW - HOUR, "battery": 19.0},
        "D0:00:00:00:00:03": {"last_contact": None, "battery": 20.0},
    }
    [row] = gateway_rows([_gateway("g1", "home-1", NOW, devices)], {}, NOW_MS)
    cuff, other = row.sensors
    assert (cuff.address, cuff.contact_ms, cuff.battery, cuff.battery_low) == (
        CUFF,
        int((NOW - HOUR) * 1000),
        19.0,
        True,
    )
    assert (other.contact_ms, other.battery_low) == (None, False)  # 20 % is not low


def test_backlog_queue_and_patients():
    gateway = _gateway("g1", "home-1", NOW, queue=7, oldest=2 * HOUR)
    patients = {
        "Device/g1": [("p2", "佐藤 花子"), ("p1", "山田 太郎")],
        "Device/other": [("x", "x")],
    }
    [row] = gateway_rows([gateway], patients, NOW_MS)
    assert (row.queue, row.status.backlog, row.oldest_unsent_s) == (7, 7, 2 * HOUR)
    assert row.patients == (("p2", "佐藤 花子"), ("p1", "山田 太郎"))


def test_a_small_recent_queue_is_no_backlog():
    [row] = gateway_rows([_gateway("g1", "home-1", NOW, queue=3, oldest=60.0)], {}, NOW_MS)
    assert (row.queue, row.status.backlog) == (3, 0)


def test_a_gateway_without_heartbeat_time_is_unknown():
    device = _gateway("g1", "home-1", NOW)
    del device["meta"]["lastUpdated"]
    [row] = gateway_rows([device], {}, NOW_MS)
    assert row.status.state is GatewayState.UNKNOWN


def test_a_sensor_takes_its_type_from_its_own_device_by_address():
    devices = {CUFF: {"last_contact": NOW, "battery": 80.0}}
    cuff = _cuff()
    [row] = gateway_rows([cuff, _gateway("g1", "home-1", NOW, devices)], {}, NOW_MS)
    assert [(s.address, s.kind) for s in row.sensors] == [(CUFF, cuff["type"]["text"])]
    assert cuff["type"]["text"]


def test_a_sensor_out_of_reach_takes_its_kind_from_the_heartbeat():
    """Issue 12 review: "Device D0:00:…" told a nurse nothing; the gateway says "cuff"."""
    devices = {
        CUFF: {"last_contact": NOW, "battery": 80.0, "kind": "blood-pressure"},
        "D0:00:00:00:00:03": {"last_contact": None, "kind": "sleep"},
        "D0:00:00:00:00:04": {"last_contact": None},  # an older gateway: no kind
    }
    [row] = gateway_rows([_gateway("g1", "home-1", NOW, devices)], {}, NOW_MS)
    assert [(s.address, s.kind, s.reported_kind) for s in row.sensors] == [
        (CUFF, None, "blood-pressure"),
        ("D0:00:00:00:00:03", None, "sleep"),
        ("D0:00:00:00:00:04", None, None),
    ]
    assert row.sensors[0].battery == 80.0 and row.sensors[0].contact_ms == NOW_MS
