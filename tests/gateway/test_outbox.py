"""The outbox keeps every reading across restarts, once."""

import sqlite3

import pytest

from gateway.errors import StorageError
from gateway.outbox import Outbox, Supporting

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
