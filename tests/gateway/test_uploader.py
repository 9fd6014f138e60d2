"""Outbox to server: batched conditional creates, exactly once, retries, rejections."""

from __future__ import annotations

import asyncio
import json
import time

import httpx
import pytest

from fhir_api.access.gateways import GatewayRegistry
from fhir_api.auth import CACHE_SECONDS
from gateway.mapping.bundle import observation_entry
from gateway.outbox import Outbox, Supporting
from gateway.uploader import Uploader

from ..fhir_api.helpers import ensure_subjects
from . import fixture_cases as fc
from .test_status_command import run_status


def queue_case(outbox: Outbox, name: str) -> list[dict]:
    bundle = json.loads(fc.path_for(name).read_text(encoding="utf-8"))
    observations, supporting = [], []
    for entry in bundle["entry"]:
        resource = entry["resource"]
        item = (entry["fullUrl"], resource, entry["request"]["ifNoneExist"])
        if resource["resourceType"] == "Observation":
            observations.append(item)
        else:
            supporting.append(Supporting(*item))
    outbox.add(observations, supporting)
    return [o[1] for o in observations]


def stored(server, identifier: dict) -> int:
    with server.client() as client:
        query = httpx.QueryParams(
            {"identifier": f"{identifier['system']}|{identifier['value']}", "_summary": "count"}
        )
        return int(client.get(f"/Observation?{query}").json()["total"])


async def test_uploads_every_reading_exactly_once_in_batches(tmp_path, fhir_server):
    outbox = Outbox(tmp_path / "gw.db")
    queued = []
    for name in fc.CASES:
        queued += queue_case(outbox, name)
    uploader = Uploader(fhir_server.base, fhir_server.token, outbox, batch_size=7)
    settled = 0
    while (n := await uploader.upload_due()) > 0:
        settled += n
    await uploader.aclose()
    unique = {o["identifier"][0]["value"] for o in queued}  # two fixtures share facts on purpose
    assert settled == len(unique) == outbox.counts()["sent"]
    assert outbox.counts()["pending"] == 0 and outbox.counts()["rejected"] == 0
    for observation in queued:
        assert stored(fhir_server, observation["identifier"][0]) == 1
    # The same readings queued and sent again (a device re-sending its memory): still once.
    again = Outbox(tmp_path / "again.db")
    queue_case(again, "bp-clock-in-step")
    second = Uploader(fhir_server.base, fhir_server.token, again)
    assert await second.upload_due() > 0
    await second.aclose()
    for observation in queue_case(Outbox(tmp_path / "third.db"), "bp-clock-in-step"):
        assert stored(fhir_server, observation["identifier"][0]) == 1


async def test_server_down_postpones_without_losing_anything(tmp_path, fhir_server):
    from ..services import free_port

    outbox = Outbox(tmp_path / "gw.db")
    queued = queue_case(outbox, "body-temperature")
    down = Uploader(f"http://127.0.0.1:{free_port()}/fhir", fhir_server.token, outbox)
    assert await down.upload_due() == 0
    await down.aclose()
    assert down.last_error and "Connect" in down.last_error
    assert outbox.counts()["pending"] == len(queued)
    assert outbox.due(10) == []  # backing off
    up = Uploader(fhir_server.base, fhir_server.token, outbox)
    rows = outbox.due(10, now=10**12)
    assert rows and all(r.attempts == 1 for r in rows)
    assert await up._send(rows) == len(queued)  # retry time reached
    await up.aclose()
    assert outbox.counts()["sent"] == len(queued)


async def test_a_refused_reading_is_isolated_and_kept_with_the_outcome(tmp_path, fhir_server):
    outbox = Outbox(tmp_path / "gw.db")
    good = queue_case(outbox, "heart-rate")
    bad = json.loads(json.dumps(good[0]))
    bad["identifier"][0]["value"] += "-bad"
    bad["valueQuantity"]["code"] = "beats"  # not a UCUM unit the heart-rate profile allows
    entry = observation_entry(bad)
    outbox.add([(entry.full_url, bad, entry.if_none_exist)])
    queue_case(outbox, "glucose")
    uploader = Uploader(fhir_server.base, fhir_server.token, outbox, batch_size=50)
    await uploader.upload_due()
    await uploader.aclose()
    counts = outbox.counts()
    assert counts["rejected"] == 1 and counts["pending"] == 0
    ((_, resource, outcome),) = outbox.rejected()
    assert resource["identifier"][0]["value"].endswith("-bad")
    assert json.loads(outcome)["issue"][0]["expression"][0].endswith("valueQuantity.code")


@pytest.mark.parametrize(("status", "header"), [(429, "17"), (503, "5"), (408, None)])
async def test_retry_after_is_honoured(tmp_path, status, header):
    outbox = Outbox(tmp_path / "gw.db")
    queue_case(outbox, "battery-level")

    def handler(request: httpx.Request) -> httpx.Response:
        headers = {"Retry-After": header} if header else {}
        return httpx.Response(
            status, headers=headers, json={"resourceType": "OperationOutcome", "issue": []}
        )

    uploader = Uploader(
        "http://server.invalid/fhir", "t", outbox, transport=httpx.MockTransport(handler)
    )
    assert await uploader.upload_due() == 0
    await uploader.aclose()
    wait = outbox.next_due_in()
    assert wait is not None
    if header:
        assert int(header) - 1 < wait <= int(header)
    else:
        assert wait <= 1.0  # first backoff step: up to one second
    assert outbox.counts()["pending"] == 1


async def test_a_reading_for_a_patient_the_server_does_not_hold_yet_waits_for_it(
    tmp_path, fhir_server
):
    # The clinic has not registered the patient yet: a setup problem, not a bad reading.
    data = tmp_path / "gateway-data"
    outbox = Outbox(data / "gateway.db")
    known = queue_case(outbox, "heart-rate")
    early = json.loads(json.dumps(known[0]))
    early["identifier"][0]["value"] += "-early"
    patient = f"Patient/late-{tmp_path.name[-12:].strip('_').replace('_', '-')}"
    early["subject"] = {"reference": patient}
    entry = observation_entry(early)
    outbox.add([(entry.full_url, early, entry.if_none_exist)])
    uploader = Uploader(fhir_server.base, fhir_server.token, outbox, batch_size=50)
    await uploader.upload_due()
    await uploader.aclose()
    counts = outbox.counts()
    assert counts["rejected"] == 0, outbox.rejected()
    assert (counts["sent"], counts["pending"]) == (len(known), 1)  # the others went through
    assert outbox.due(10) == []  # a long wait, not hammering the server
    assert outbox.next_due_in() >= 30
    # `gateway status` says what it waits for.
    outbox.close()
    done = run_status(data)
    assert done.returncode == 0, done.stderr
    (waiting,) = json.loads(done.stdout)["waiting_for_server"]
    assert patient in waiting["outcome"], waiting
    # The clinic registers the patient and binds it to this home's gateway; the next
    # attempt delivers the reading.
    with fhir_server.admin_client() as client:
        ensure_subjects(client, patient)
    GatewayRegistry(fhir_server.store.engine).bind("gateway-tests", [patient.split("/")[1]])
    # The server reads a gateway's reach anew at most every half second (AccessLoader):
    # the binding counts from then on, as the README promises ("within a second").
    await asyncio.sleep(CACHE_SECONDS + 0.1)
    outbox = Outbox(data / "gateway.db")
    uploader = Uploader(fhir_server.base, fhir_server.token, outbox, batch_size=50)
    rows = outbox.due(10, now=time.time() + 3601)  # at most an hour later
    assert [r.resource["identifier"] for r in rows] == [early["identifier"]]
    assert await uploader._send(rows) == 1
    await uploader.aclose()
    assert outbox.counts()["sent"] == len(known) + 1
    assert stored(fhir_server, early["identifier"][0]) == 1
    outbox.close()


async def test_a_reading_queued_by_another_thread_wakes_the_waiting_uploader(tmp_path, fhir_server):
    """The gateway's writer thread queues sleep windows and night summaries and calls
    `wake()` from that thread; the uploader, idle on an empty outbox for up to 60 s,
    must send at once. An `asyncio.Event` set off its loop's thread wakes nothing until
    the loop wakes for some other reason: here a 2 s timer, the only other thing due."""
    import threading

    outbox = Outbox(tmp_path / "gw.db")
    uploader = Uploader(fhir_server.base, fhir_server.token, outbox)
    running = asyncio.create_task(uploader.run())
    await asyncio.sleep(0.5)  # idle: waiting for a wake or its 60 s timeout
    woken: list[float] = []

    def writer() -> None:
        queue_case(outbox, "body-temperature")
        woken.append(time.time())
        uploader.wake()

    threading.Thread(target=writer).start()
    await asyncio.sleep(2.0)  # nothing else wakes the loop before this timer
    while uploader.last_contact is None and time.time() - woken[0] < 10:
        await asyncio.sleep(0.05)
    running.cancel()
    await asyncio.gather(running, return_exceptions=True)
    await uploader.aclose()
    assert outbox.counts()["sent"] == 1
    assert uploader.last_contact is not None
    assert uploader.last_contact - woken[0] < 1.0
