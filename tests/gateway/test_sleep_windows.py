"""The gateway's sleep windows and night summaries (issue 15), on a real outbox.

No radio here: the values a session delivers go through the consumer's own commit
(`_prepare_and_commit`), then the session's window (`_send_windows`) and summary
(`_summarize_nights`), as `Gateway._session` runs them.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

import device_adapters as da
from device_adapters import uuids
from gateway.bindings import Binding, Bindings
from gateway.errors import StorageError
from gateway.mapping import ClockSample, PatientLink
from gateway.mapping.devices import DeviceKind
from gateway.outbox import Outbox
from gateway.service import BleEnvironment, Gateway
from gateway.sessions import Received, SessionContext
from gateway.uploader import Uploader

from . import fixture_cases as fc

TOKYO = ZoneInfo("Asia/Tokyo")
SENSOR = fc.SLEEP_SENSOR.bluetooth_address
STAGE = "258158006"


class Clock:
    """The gateway's clock, moved by the test."""

    def __init__(self, local: datetime) -> None:
        self.local = local

    def __call__(self) -> datetime:
        return self.local.replace(tzinfo=TOKYO).astimezone(UTC)


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[Gateway]:
    outbox = Outbox(tmp_path / "gateway.db")
    bindings = Bindings(
        [Binding(SENSOR, DeviceKind.SLEEP, {None: PatientLink(logical_id="tanaka-hanako")})]
    )
    yield Gateway(
        identity=fc.GATEWAY,
        bindings=bindings,
        outbox=outbox,
        uploader=Uploader("http://127.0.0.1:9/fhir", "unused", outbox),
        ble=BleEnvironment(),
        zone=TOKYO,
        now=Clock(datetime(2024, 11, 27, 10, 0)),
    )
    outbox.close()


def deliver(gateway: Gateway, payloads: list[bytes], context: SessionContext) -> None:
    """One session: its values committed by the consumer, then its window."""
    received = [
        Received(gateway.now(), context, uuids.SLEEP_EPOCH_RECORD, payload) for payload in payloads
    ]
    gateway._prepare_and_commit(received)
    gateway._send_windows(SENSOR, context)


def stage_windows(gateway: Gateway) -> list[list[str]]:
    return [
        r["valueSampledData"]["data"].split(" ")
        for r in gateway.outbox.all_resources()
        if r["code"]["coding"][0]["code"] == STAGE
    ]


def summaries(gateway: Gateway) -> list[dict]:
    return [
        r for r in gateway.outbox.all_resources() if r["code"]["coding"][0]["code"] == "93832-4"
    ]


def test_a_session_delivered_again_sends_nothing_twice(gateway: Gateway) -> None:
    context = SessionContext(fc.SLEEP_SENSOR, None)
    deliver(gateway, fc.NIGHT[:10], context)
    rows = len(gateway.outbox.all_resources())
    assert rows == 3  # heart rate, breathing rate, stage: no Observation per epoch
    deliver(gateway, fc.NIGHT[:10], context)  # the device was cut before its delete
    assert len(gateway.outbox.all_resources()) == rows
    deliver(gateway, fc.NIGHT[5:], context)  # resent in part, with the rest of the night
    windows = stage_windows(gateway)
    assert [s for w in windows for s in w] == [str(int(s)) for s in fc.NIGHT_STAGES]
    assert [len(w) for w in windows] == [10, 14]


def test_an_epoch_without_a_device_time_still_goes_on_its_own(gateway: Gateway) -> None:
    unset = bytes([0x0B, 0x05, 0x00]) + bytes(7) + bytes.fromhex("2c010238003800")  # SYNTHETIC
    assert da.parse(uuids.SLEEP_EPOCH_RECORD, unset).device_time is None
    deliver(gateway, [unset], SessionContext(fc.SLEEP_SENSOR, None))
    codes = sorted(r["code"]["coding"][0]["code"] for r in gateway.outbox.all_resources())
    assert codes == [STAGE, "8867-4", "9279-1"]  # the one-epoch form: nothing lost


def test_a_night_stamped_by_a_slow_device_clock_is_summarised_once(gateway: Gateway) -> None:
    """The sensor's clock runs an hour behind and refuses to be set. The first part of its
    night ended at 01:00 on its clock (02:00 on ours); at 03:30 ours it is not over (02:30
    on the sensor's, 1 h 30 min later), and the patient is back in bed at 02:30 on its
    clock: one night, one summary. Judged on the gateway's clock, the first part was
    summarised at 03:30 and the rest made a second summary."""
    assert isinstance(gateway.now, Clock)
    night = datetime(2024, 11, 26, 22, 0)  # the sensor's clock
    first = [
        fc.sleep_epoch_payload(1 + i, night + timedelta(minutes=5 * i), da.SleepStage.LIGHT, 55, 14)
        for i in range(36)
    ]
    back = night + timedelta(hours=4, minutes=30)
    rest = [
        fc.sleep_epoch_payload(37 + i, back + timedelta(minutes=5 * i), da.SleepStage.DEEP, 52, 13)
        for i in range(24)
    ]

    def session(local: datetime, payloads: list[bytes]) -> None:
        gateway.now.local = local
        sample = ClockSample(local - timedelta(hours=1), gateway.now())
        context = SessionContext(fc.SLEEP_SENSOR, sample)
        deliver(gateway, payloads, context)
        gateway._summarize_nights(SENSOR, context)

    session(datetime(2024, 11, 27, 3, 30), first)
    assert summaries(gateway) == []
    session(datetime(2024, 11, 27, 9, 0), rest)
    [summary] = summaries(gateway)
    assert summary["valueQuantity"]["value"] == 60 * 5.0  # every epoch once: 60 x 5 minutes


def test_a_sensor_read_every_epoch_sends_a_few_windows_a_night(gateway: Gateway) -> None:
    """In the field the sensor is in reach all night and the gateway reads it every
    few minutes: each session brings one epoch. Windows of one session each would be
    three Observations an epoch again; they wait until they span 2 h, and the night's
    last part goes once the night is over."""
    assert isinstance(gateway.now, Clock)
    night = datetime(2024, 11, 26, 23, 0)
    stages = [da.SleepStage.LIGHT, da.SleepStage.DEEP, da.SleepStage.REM] * 15  # 7.5 h
    context = SessionContext(fc.SLEEP_SENSOR, None)
    for n, stage in enumerate(stages):
        start = night + timedelta(minutes=10 * n)
        gateway.now.local = start + timedelta(minutes=11)  # the epoch closed a minute ago
        deliver(gateway, [fc.sleep_epoch_payload(1 + n, start, stage, 55, 14, 600)], context)
        gateway._summarize_nights(SENSOR, context)
    assert [len(w) for w in stage_windows(gateway)] == [12, 12, 12]  # 9 epochs wait
    gateway.now.local = night + timedelta(hours=7, minutes=30) + timedelta(hours=2)
    deliver(gateway, [], context)  # a session with nothing new, once the night is over
    gateway._summarize_nights(SENSOR, context)
    windows = stage_windows(gateway)
    assert [s for w in windows for s in w] == [str(int(s)) for s in stages]
    assert len(windows) == 4 and len(summaries(gateway)) == 1
    assert len(gateway.outbox.all_resources()) == 4 * 3 + 1  # not 3 x 45 + 1


def window_starts(gateway: Gateway) -> list[str]:
    return [
        r["effectivePeriod"]["start"]
        for r in gateway.outbox.all_resources()
        if r["code"]["coding"][0]["code"] == STAGE
    ]


def test_a_kept_window_is_timed_by_the_clock_of_the_session_it_came_in(gateway: Gateway) -> None:
    """Review of issue 15: at true 01:05 the sensor's clock reads 00:05 (an hour slow) and
    delivers 12 epochs (23:00-00:00 on its clock), kept: an hour, the night not over. The
    gateway sets the clock; the next session, at 10:00, finds no drift and sends them.
    Mapped with that session's clock, the window started at 23:00, an hour early."""
    assert isinstance(gateway.now, Clock)
    gateway.now.local = datetime(2024, 11, 27, 1, 5)
    slow = SessionContext(fc.SLEEP_SENSOR, ClockSample(datetime(2024, 11, 27, 0, 5), gateway.now()))
    deliver(gateway, fc.NIGHT[:12], slow)
    assert gateway.outbox.all_resources() == []  # kept
    gateway.now.local = datetime(2024, 11, 27, 10, 0)
    deliver(
        gateway,
        [],
        SessionContext(fc.SLEEP_SENSOR, ClockSample(datetime(2024, 11, 27, 10, 0), gateway.now())),
    )
    assert window_starts(gateway) == ["2024-11-27T00:00:00+09:00"]
    [stamp] = [
        r for r in gateway.outbox.all_resources() if "valueString" in r
    ]  # the coincident time stamp the window refers to: the slow session's
    assert stamp["valueString"] == "2024-11-27T00:05:00"


def test_a_re_bound_sensor_files_each_epoch_under_the_patient_it_arrived_for(
    gateway: Gateway,
) -> None:
    """Epochs kept while the sensor was Tanaka's stay Tanaka's when the sensor, re-bound to
    Sato, sends them with Sato's first epochs: two windows, one subject each."""
    assert isinstance(gateway.now, Clock)
    context = SessionContext(fc.SLEEP_SENSOR, None)
    gateway.now.local = datetime(2024, 11, 27, 0, 30)
    deliver(gateway, fc.NIGHT[:12], context)  # Tanaka's, kept
    assert gateway.outbox.all_resources() == []
    gateway.bindings = Bindings(
        [Binding(SENSOR, DeviceKind.SLEEP, {None: PatientLink(logical_id="sato-jiro")})]
    )
    gateway.now.local = datetime(2024, 11, 27, 10, 0)
    deliver(gateway, fc.NIGHT[12:], context)
    subjects = [
        (r["effectivePeriod"]["start"], r["subject"]["reference"])
        for r in gateway.outbox.all_resources()
        if r["code"]["coding"][0]["code"] == STAGE
    ]
    assert sorted(subjects) == [
        ("2024-11-26T23:00:00+09:00", "Patient/tanaka-hanako"),
        ("2024-11-27T00:00:00+09:00", "Patient/sato-jiro"),
    ]
    assert sum(len(w) for w in stage_windows(gateway)) == len(fc.NIGHT)  # each epoch once


def test_a_clock_set_at_every_session_still_sends_a_few_windows_a_night(
    gateway: Gateway,
) -> None:
    """The gateway reads the clock to the second, then sets it, at every session: the
    drift it measures is 0 s or 1 s from one session to the next. That is one clock, not
    a window per session (`DRIFT_TOLERANCE`)."""
    assert isinstance(gateway.now, Clock)
    night = datetime(2024, 11, 26, 23, 0)
    stages = [da.SleepStage.LIGHT, da.SleepStage.DEEP, da.SleepStage.REM] * 15  # 7.5 h
    for n, stage in enumerate(stages):
        start = night + timedelta(minutes=10 * n)
        gateway.now.local = start + timedelta(minutes=11)
        sample = ClockSample(gateway.now.local - timedelta(seconds=n % 2), gateway.now())
        context = SessionContext(fc.SLEEP_SENSOR, sample)
        deliver(gateway, [fc.sleep_epoch_payload(1 + n, start, stage, 55, 14, 600)], context)
    assert [len(w) for w in stage_windows(gateway)] == [12, 12, 12]


def test_epochs_kept_without_their_session_are_timed_by_the_sending_one(
    gateway: Gateway,
) -> None:
    """Epochs an issue-15 gateway kept before origins were stored (NULL): the sending
    session's clock and binding stand in, as they did for every epoch then."""
    assert isinstance(gateway.now, Clock)
    for payload in fc.NIGHT[:12]:
        epoch = da.parse(uuids.SLEEP_EPOCH_RECORD, payload)
        assert isinstance(epoch, da.SleepEpoch)
        gateway.outbox.add_sleep_epoch(SENSOR, epoch)
    gateway.now.local = datetime(2024, 11, 27, 10, 0)
    slow = ClockSample(datetime(2024, 11, 27, 9, 0), gateway.now())
    deliver(gateway, [], SessionContext(fc.SLEEP_SENSOR, slow))
    assert window_starts(gateway) == ["2024-11-27T00:00:00+09:00"]
    assert gateway.outbox.unsampled_epochs(SENSOR) == []


@pytest.mark.parametrize(
    "refused",
    [
        "BEFORE UPDATE ON sleep_epochs",  # the marks fail after the Observations went in
        "BEFORE INSERT ON outbox",  # the Observations fail after (or before) the marks
    ],
)
def test_a_window_and_the_marks_of_its_epochs_are_stored_together_or_not_at_all(
    gateway: Gateway, tmp_path: Path, refused: str
) -> None:
    """A crash or a disk error between storing a window and marking its epochs: with the
    window stored and the epochs unmarked, the next window would carry them again (twice
    on the server); with the epochs marked and no window, they would never be sent."""
    context = SessionContext(fc.SLEEP_SENSOR, None)
    side = sqlite3.connect(tmp_path / "gateway.db")
    side.execute(f"CREATE TRIGGER refuse {refused} BEGIN SELECT RAISE(ABORT, 'disk trouble'); END")
    side.commit()
    with pytest.raises(StorageError, match="disk trouble"):
        deliver(gateway, fc.NIGHT, context)
    assert gateway.outbox.all_resources() == []
    assert len(gateway.outbox.unsampled_epochs(SENSOR)) == len(fc.NIGHT)
    side.execute("DROP TRIGGER refuse")
    side.commit()
    side.close()
    gateway._send_windows(SENSOR, context)  # the next session
    assert [s for w in stage_windows(gateway) for s in w] == [str(int(s)) for s in fc.NIGHT_STAGES]
    assert gateway.outbox.unsampled_epochs(SENSOR) == []


def test_a_rate_beyond_the_sensors_range_is_u_or_l_not_an_error(gateway: Gateway) -> None:
    """IEEE 11073 +INFINITY and -INFINITY (SFLOAT 0x07FE, 0x0802) say the rate was above or
    below what the sensor can measure; one Observation an epoch said so in its
    dataAbsentReason. In SampledData that is `U` and `L` (FHIR R4), not `E` (an error), and
    it must survive the epoch's wait in the outbox."""
    night = datetime(2024, 11, 26, 23, 0)
    payloads = [
        fc.sleep_epoch_payload(1, night, da.SleepStage.LIGHT, 55, 14),
        fc.sleep_epoch_payload(
            2, night + timedelta(minutes=5), da.SleepStage.LIGHT, 0x07FE, 0x0802
        ),
        fc.sleep_epoch_payload(3, night + timedelta(minutes=10), da.SleepStage.LIGHT, 0x07FF, 14),
    ]
    deliver(gateway, payloads, SessionContext(fc.SLEEP_SENSOR, None))
    heart, breathing = (
        [r["valueSampledData"]["data"] for r in gateway.outbox.all_resources() if code in str(r)]
        for code in ("147842", "151562")
    )
    assert (heart, breathing) == (["55 U E"], ["14 L 14"])  # NaN stays an E


def test_a_window_waits_for_its_night_to_be_over_on_the_sensors_clock(gateway: Gateway) -> None:
    """The sensor's clock runs an hour behind. Its last epoch ended at 00:00 on its clock
    (01:00 ours); at 02:30 ours the night has been quiet for 1 h 30 min, not the 2 h that
    end it: the window waits (on our clock it would go, and the patient's return to bed
    would start another window of the same night)."""
    assert isinstance(gateway.now, Clock)

    def session(local: datetime, payloads: list[bytes]) -> None:
        gateway.now.local = local
        sample = ClockSample(local - timedelta(hours=1), gateway.now())
        deliver(gateway, payloads, SessionContext(fc.SLEEP_SENSOR, sample))

    session(datetime(2024, 11, 27, 1, 5), fc.NIGHT[:12])  # 23:00-00:00 on the sensor's clock
    session(datetime(2024, 11, 27, 2, 30), [])
    assert gateway.outbox.all_resources() == []
    session(datetime(2024, 11, 27, 3, 5), [])
    assert [len(w) for w in stage_windows(gateway)] == [12]
