"""The outbox keeps every reading across restarts, once."""

import sqlite3
import time

import pytest

from gateway.errors import StorageError
from gateway.outbox import Batch, Outbox, Supporting

OBS = {"resourceType": "Observation", "status": "final", "code": {"text": "x"}}


def entry(n: int) -> tuple[str, dict, str]:
    return (
        f"urn:uuid:00000000-0000-4000-8000-{n:012d}",
        {**OBS, "id": str(n)},
        f"identifier=urn:x|{n}",
    )


def test_readings_survive_a_restart_and_are_queued_once(tmp_path):
    outbox = Outbox(tmp_path / "gateway.db")
    assert (
        outbox.add(
            [entry(1), entry(2)],
            [Supporting("urn:uuid:dev", {"resourceType": "Device"}, "identifier=a|b")],
        )
        == 2
    )
    assert outbox.add([entry(2), entry(3)]) == 1  # the same reading delivered twice
    outbox.close()
    reopened = Outbox(tmp_path / "gateway.db")
    due = reopened.due(10)
    assert [r.resource["id"] for r in due] == ["1", "2", "3"]
    assert reopened.counts() == {"pending": 3, "sent": 0, "rejected": 0, "quarantined": 0}
    assert [s.full_url for s in reopened.lookup(["urn:uuid:dev", "urn:uuid:nothing"])] == [
        "urn:uuid:dev"
    ]


def test_states_postpone_and_quarantine(tmp_path):
    outbox = Outbox(tmp_path / "gateway.db")
    outbox.add([entry(1), entry(2), entry(3)])
    first, second, third = outbox.due(10)
    outbox.mark_sent([first.seq])
    outbox.mark_rejected(second.seq, {"resourceType": "OperationOutcome", "issue": []})
    outbox.postpone([third.seq], 60, "ConnectError")
    assert outbox.due(10) == []
    assert 59 < (outbox.next_due_in() or 0) <= 60
    assert [r.resource["id"] for r in outbox.due(10, now=10**12)] == ["3"]
    assert outbox.counts() == {"pending": 1, "sent": 1, "rejected": 1, "quarantined": 0}
    assert outbox.rejected()[0][2].startswith('{"resourceType": "OperationOutcome"')
    outbox.quarantine("D0:00:00:00:00:02", "2a35", b"\x1e\x7a", "too short")
    assert outbox.counts()["quarantined"] == 1
    outbox.set_mark("D0:00:00:00:00:03", "racp-last", "41")
    assert outbox.mark("D0:00:00:00:00:03", "racp-last") == "41"
    assert outbox.mark("D0:00:00:00:00:03", "other") is None


def test_a_batch_is_marked_all_or_none(tmp_path):
    # One transaction per batch: a failure part-way leaves every row as it was (and a
    # batch of 100 costs one fsync, not 100).
    outbox = Outbox(tmp_path / "gateway.db")
    outbox.add([entry(1), entry(2), entry(3)])
    seqs = [row.seq for row in outbox.due(10)]
    side = sqlite3.connect(tmp_path / "gateway.db")
    side.execute(
        f"CREATE TRIGGER refuse BEFORE UPDATE ON outbox WHEN old.seq = {seqs[2]} "
        "BEGIN SELECT RAISE(ABORT, 'disk trouble'); END"
    )
    side.commit()
    for mark in (lambda: outbox.mark_sent(seqs), lambda: outbox.postpone(seqs, 60, "x")):
        with pytest.raises(StorageError, match="disk trouble"):
            mark()
        assert outbox.counts()["pending"] == 3
        assert [r.seq for r in outbox.due(10)] == seqs
    side.execute("DROP TRIGGER refuse")
    side.commit()
    side.close()
    outbox.mark_sent(seqs)
    assert outbox.counts()["sent"] == 3


DAY = 86400.0


def test_sent_rows_are_pruned_after_their_age_and_the_rest_kept(tmp_path):
    outbox = Outbox(tmp_path / "gateway.db")
    outbox.add([entry(1), entry(2), entry(3), entry(4)])
    # A pending reading that refers to an Observation already sent (a time stamp).
    url, resource, query = entry(5)
    outbox.add([(url, {**resource, "derivedFrom": [{"reference": entry(2)[0]}]}, query)])
    first, second, third, _, _ = outbox.due(10)
    outbox.mark_sent([first.seq, second.seq])
    outbox.mark_rejected(third.seq, {"resourceType": "OperationOutcome", "issue": []})
    outbox.quarantine("D0:00:00:00:00:02", "2a35", b"\x1e\x7a", "too short")
    assert outbox.prune(7 * DAY) == 0  # sent a moment ago
    assert outbox.prune(7 * DAY, now=time.time() + 6 * DAY) == 0
    assert outbox.prune(7 * DAY, now=time.time() + 8 * DAY) == 1  # the referenced one stays
    assert outbox.counts() == {"pending": 2, "sent": 1, "rejected": 1, "quarantined": 1}
    assert [s.full_url for s in outbox.lookup([entry(2)[0]])] == [entry(2)[0]]
    assert outbox.size()["rows"] == 5  # 4 outbox rows and the quarantined payload


def test_an_outbox_pruned_daily_stays_the_same_size(tmp_path):
    # A year on an SD card in small: 20 readings a day, sent at once, pruned daily.
    outbox = Outbox(tmp_path / "gateway.db")
    start = time.time()
    sizes = []
    for day in range(30):
        outbox.add([entry(day * 100 + n) for n in range(20)])
        seqs = [row.seq for row in outbox.due(100)]
        outbox.mark_sent(seqs)
        with outbox._lock:  # as if they had been sent on their day
            outbox._db.executemany(
                "UPDATE outbox SET sent_at = ? WHERE seq = ?",
                [(start + day * DAY, seq) for seq in seqs],
            )
        outbox.prune(7 * DAY, now=start + day * DAY)
        sizes.append(outbox.size())
    assert sizes[-1]["rows"] == 8 * 20  # today's and the seven days before
    assert sizes[-1]["bytes"] <= sizes[10]["bytes"] * 1.25  # freed pages are used again


def test_sleep_epochs_go_once_their_night_is_summarised_and_old(tmp_path):
    from datetime import datetime, timedelta

    from device_adapters import Quantity, SleepEpoch, SleepStage, Unit

    outbox = Outbox(tmp_path / "gateway.db")
    night = datetime(2026, 1, 10, 23, 0)
    for n in range(4):
        epoch = SleepEpoch(
            n, night + timedelta(minutes=5 * n), Quantity(300.0, Unit.SECOND), SleepStage.LIGHT
        )
        outbox.add_sleep_epoch("D0:00:00:00:00:05", epoch)
    later = SleepEpoch(
        9, datetime(2026, 1, 20, 23, 0), Quantity(300.0, Unit.SECOND), SleepStage.REM
    )
    outbox.add_sleep_epoch("D0:00:00:00:00:05", later)
    outbox.set_mark(
        "D0:00:00:00:00:05", "sleep-nights-until", (night + timedelta(hours=1)).isoformat()
    )
    # Summarised and old, but no window has carried them yet: they stay (issue 15).
    outbox.prune(7 * DAY, now=datetime(2026, 1, 30).timestamp())
    assert len(outbox.sleep_epochs("D0:00:00:00:00:05")) == 5
    outbox.commit(
        Batch(
            sampled=[
                ("D0:00:00:00:00:05", (night + timedelta(minutes=5 * n)).isoformat(), n, "w1")
                for n in range(4)
            ]
        )
    )
    outbox.prune(7 * DAY, now=datetime(2026, 1, 30).timestamp())
    assert [e.sequence_number for e in outbox.sleep_epochs("D0:00:00:00:00:05")] == [9]


def test_kept_epochs_keep_their_rates_until_a_window_sends_them_once(tmp_path):
    from datetime import datetime

    from device_adapters import Quantity, SleepEpoch, SleepStage, Unit

    outbox = Outbox(tmp_path / "gateway.db")
    start = datetime(2026, 1, 10, 23, 0)
    epoch = SleepEpoch(
        7,
        start,
        Quantity(300.0, Unit.SECOND),
        SleepStage.DEEP,
        heart_rate=Quantity(52.5, Unit.PER_MIN, -1),
        respiration_rate=Quantity(None, Unit.PER_MIN, 0),
    )
    outbox.add_sleep_epoch("S", epoch)
    outbox.add_sleep_epoch("S", epoch)  # delivered again: kept once
    [kept] = outbox.unsampled_epochs("S")
    assert kept.heart_rate == Quantity(52.5, Unit.PER_MIN, -1)
    assert kept.respiration_rate is not None and kept.respiration_rate.value is None
    outbox.commit(Batch(sampled=[("S", start.isoformat(), 7, "w1")]))
    outbox.add_sleep_epoch("S", epoch)  # and again after its window was sent
    assert outbox.unsampled_epochs("S") == []
    assert len(outbox.sleep_epochs("S")) == 1


def test_an_outbox_from_before_issue_15_does_not_send_its_epochs_again(tmp_path):
    path = tmp_path / "gateway.db"
    old = sqlite3.connect(path)
    old.executescript(
        "CREATE TABLE sleep_epochs (device TEXT NOT NULL, start TEXT NOT NULL, "
        "sequence INTEGER NOT NULL, record TEXT NOT NULL, PRIMARY KEY (device, start, sequence));"
        "INSERT INTO sleep_epochs VALUES ('S', '2026-01-10T23:00:00', 1, '{\"sequence\": 1, "
        '"start": "2026-01-10T23:00:00", "duration": 300.0, "stage": 2, '
        '"unreliable": false}\');'
    )
    old.commit()
    old.close()
    outbox = Outbox(path)  # an upgraded gateway opens it
    assert outbox.unsampled_epochs("S") == []  # it went one Observation per epoch
    [kept] = outbox.sleep_epochs("S")  # still there for the night's summary
    assert kept.heart_rate is None
    outbox.close()
    assert Outbox(path).unsampled_epochs("S") == []  # opened again: nothing changes


def test_a_kept_epoch_keeps_the_clock_and_patient_of_its_session(tmp_path):
    from datetime import UTC, datetime

    from device_adapters import Quantity, SleepEpoch, SleepStage, Unit
    from gateway.epoch_origin import EpochOrigin
    from gateway.mapping import ClockSample, PatientLink

    outbox = Outbox(tmp_path / "gateway.db")
    epoch = SleepEpoch(
        1, datetime(2026, 1, 10, 23, 0), Quantity(300.0, Unit.SECOND), SleepStage.DEEP
    )
    received = datetime(2026, 1, 10, 15, 5, tzinfo=UTC)
    origins = [
        EpochOrigin(
            received, ClockSample(datetime(2026, 1, 10, 23, 5), received), PatientLink("p1")
        ),
        EpochOrigin(received, ClockSample(None, received), PatientLink(None, "urn:x", "42")),
        EpochOrigin(received, None, None),
    ]
    for device, origin in zip("ABC", origins, strict=True):
        outbox.add_sleep_epoch(device, epoch, origin)
    outbox.close()
    outbox = Outbox(tmp_path / "gateway.db")
    for device, origin in zip("ABC", origins, strict=True):
        assert outbox.unsampled_epochs_with_origin(device) == [(epoch, origin)]


def test_epochs_kept_before_their_origin_was_stored_have_none_and_are_still_sent(tmp_path):
    """An outbox the first issue-15 gateway wrote: `sampled_in`, no `origin`. Its epochs
    not sent yet stay unsent, with no origin (the sending session's clock stands in)."""
    path = tmp_path / "gateway.db"
    old = sqlite3.connect(path)
    old.executescript(
        "CREATE TABLE sleep_epochs (device TEXT NOT NULL, start TEXT NOT NULL, "
        "sequence INTEGER NOT NULL, record TEXT NOT NULL, sampled_in TEXT, "
        "PRIMARY KEY (device, start, sequence));"
        "INSERT INTO sleep_epochs VALUES ('S', '2026-01-10T23:00:00', 1, '{\"sequence\": 1, "
        '"start": "2026-01-10T23:00:00", "duration": 300.0, "stage": 2, '
        '"unreliable": false}\', NULL);'
    )
    old.commit()
    old.close()
    outbox = Outbox(path)
    [(kept, origin)] = outbox.unsampled_epochs_with_origin("S")
    assert kept.sequence_number == 1 and origin is None
    outbox.close()
    assert len(Outbox(path).unsampled_epochs("S")) == 1  # opened again: nothing changes


def test_the_outbox_files_are_the_owners_only(tmp_path):
    outbox = Outbox(tmp_path / "data" / "gateway.db")
    outbox.add([entry(1)])
    modes = {p.name: p.stat().st_mode & 0o777 for p in (tmp_path / "data").iterdir()}
    outbox.close()
    assert modes["gateway.db"] == 0o600 and modes["gateway.db-wal"] == 0o600
    assert (tmp_path / "data").stat().st_mode & 0o777 == 0o700
