"""SIGKILL the gateway in every phase of its life: nothing lost, nothing twice (issue 9).

The gateway runs as its own process (the production command line, started through
`kill_gateway.py`, which turns on its phase log lines and emulates a slow SD card),
the server as another (`fhir_api.launch.start_server_process`, on loopback). The
emulated home keeps its memory in its JSON file across the gateway's deaths, as real
devices keep theirs, so a reading the gateway lost is gone:

- the oximeter and the sleep sensor erase what the gateway deleted (RACP: all
  records, or the epochs up to a sequence number) and never send it again;
- one cuff forgets each reading once its indication is confirmed (A&D-like);
- the other re-sends its whole memory at every connection (as many cuffs do), which
  tests that nothing arrives twice.

Readings are taken between crashes. Each kill aims at a phase (the one with fewest
kills so far): it waits for the gateway's log line that opens the phase, then kills
after a random delay. Where it really landed is read from the log afterwards; every
phase must get some. At the end every reading taken must be on the server exactly
once, by value and by the device time in its identifier.

One loss no gateway can prevent is accounted for, not excused wholesale: BlueZ (and
bumble, here) confirms an indication as soon as it arrives, before the application
has the value, so a forgetting cuff's reading that was confirmed and not yet
committed when the power went is gone. After each kill the test reads the killed
gateway's outbox: the forgetting cuff's readings confirmed in that run and not
committed must be the last ones it confirmed (the consumer commits in arrival
order); those, and only those, are not expected on the server, and their number is
printed. A reading dropped anywhere else still fails the test.

`test_kill_test_fails_when_a_loss_is_put_back` runs a short kill loop with a loss
put back (`kill_gateway.py --defect`: a RACP delete that does not wait for the commit,
issue 9's; a batch marked sent before it is posted) and sees the check fail. The whole
kill test fails the same way with `KILL_DEFECT=delete-before-commit` (or the other).

The seed is printed; pin it with KILL_SEED.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine

from fhir_api.launch import start_server_process
from gateway.outbox import Outbox

from ..fhir_api.helpers import ensure_subjects, gateway_token
from ..services import free_port

CUFF = "D0:00:00:00:30:01"  # re-sends its memory
FORGETFUL = "D0:00:00:00:30:02"  # forgets what it had confirmed
OXIMETER = "D0:00:00:00:30:0A"
SLEEP = "D0:00:00:00:30:0B"
PATIENTS = {
    CUFF: "kill-cuff",
    FORGETFUL: "kill-forgetful",
    OXIMETER: "kill-oximeter",
    SLEEP: "kill-sleep",
}
STAGES = {1: "awake", 2: "light", 3: "deep", 4: "rem"}  # as the server codes them
WRAPPER = Path(__file__).with_name("kill_gateway.py")
SLOW_DISK = 0.03  # seconds per outbox write or read: an old SD card

SCANNING = "scanning"
SESSION = "mid-session"
COMMITTED = "committed, not uploading"
UPLOADING = "mid-upload"
ANSWERED = "answered, not marked sent"
PHASES = (SCANNING, SESSION, COMMITTED, UPLOADING, ANSWERED)
DELETED = "records deleted"  # the oximeter told to delete: aimed at, landed as one of PHASES
# After the line that opens the phase, kill within this many seconds.
DELAYS = {
    SCANNING: (0.0, 0.1),
    SESSION: (0.0, 0.15),
    COMMITTED: (0.0, 0.02),
    UPLOADING: (0.0, 0.12),  # the whole round trip to the server
    ANSWERED: (0.0, 0.01),
    DELETED: (0.03, 0.08),  # the device erases its memory some 10 ms after the line
}

_SESSION_OPEN = re.compile(r"session with (\S+): connected")
_SESSION_CLOSED = re.compile(r"session with (\S+?):? (done|failed)")


@dataclass
class PhaseLog:
    """The gateway's phase, followed line by line through its log."""

    scanning: bool = False
    sessions: set[str] = field(default_factory=set)
    commits_waiting: int = 0  # committed since the last upload began
    upload: str | None = None  # "posting", "answered" or None
    deleted: bool = False  # a RACP device was told to delete its records, session still open

    def feed(self, line: str) -> None:
        """Update the phase with one line of the gateway's log."""
        if "gateway.service: scanning for" in line:
            self.scanning = True
        elif match := _SESSION_OPEN.search(line):
            self.sessions.add(match[1])
        elif match := _SESSION_CLOSED.search(line):
            self.sessions.discard(match[1])
            self.deleted = False
        elif "committed a value from" in line:
            self.commits_waiting += 1
        elif "gateway.uploader: uploading" in line:
            self.upload = "posting"
            self.commits_waiting = 0
        elif "gateway.uploader: server answered" in line:
            self.upload = "answered"
        elif "gateway.uploader: marked" in line or "gateway.uploader: upload of" in line:
            self.upload = None
        elif "deleting them on the device" in line:
            self.deleted = True

    def phase(self) -> str:
        """The narrowest phase the gateway is in."""
        if self.upload == "answered":
            return ANSWERED
        if self.upload == "posting":
            return UPLOADING
        if self.commits_waiting:
            return COMMITTED
        if self.sessions:
            return SESSION
        if self.scanning:
            return SCANNING
        return "starting"


class Zygote:
    """`kill_gateway.py --zygote`: imports the gateway once, forks a gateway per run."""

    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, str(WRAPPER), "--zygote"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def fork(
        self, arguments: list[str], env: dict[str, str], fifo: Path, defect: str | None
    ) -> int:
        """A gateway process running `homevitals <arguments>`, logging into `fifo`."""
        assert self.process.stdin is not None and self.process.stdout is not None
        request = {
            "arguments": arguments,
            "environment": env,
            "log": str(fifo),
            "slow_disk": SLOW_DISK,
            "defect": defect,
        }
        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()
        return int(self.process.stdout.readline())

    def close(self) -> None:
        """No more runs: the zygote exits."""
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.close()
        self.process.wait(timeout=20)
        self.process.stdout.close()


class GatewayRun:
    """One gateway process, its log copied to a file and followed as it is written."""

    def __init__(self, pid: Callable[[Path], int], fifo: Path, log: Path) -> None:
        self.phases = PhaseLog()
        self._changed = threading.Condition()
        self._log = log
        os.mkfifo(fifo)
        self._reader = threading.Thread(target=self._read, args=(fifo,), daemon=True)
        self._reader.start()
        self.pid = pid(fifo)

    def _read(self, fifo: Path) -> None:
        with fifo.open(encoding="utf-8") as lines, self._log.open("a", encoding="utf-8") as log:
            for line in lines:  # until the gateway's death closes its end
                log.write(line)
                with self._changed:
                    self.phases.feed(line)
                    self._changed.notify_all()

    def wait_for(self, phase: str, timeout: float) -> bool:
        """Block until the log shows `phase` (False after `timeout` seconds)."""
        with self._changed:
            if phase == DELETED:
                return self._changed.wait_for(lambda: self.phases.deleted, timeout)
            return self._changed.wait_for(lambda: self.phases.phase() == phase, timeout)

    def kill(self) -> str:
        """SIGKILL the gateway; returns the phase its log shows it died in."""
        return self._end(signal.SIGKILL)

    def stop(self) -> None:
        """SIGTERM, as systemd stops it."""
        self._end(signal.SIGTERM)

    def _end(self, how: signal.Signals) -> str:
        os.kill(self.pid, how)
        self._reader.join(timeout=20)
        assert not self._reader.is_alive(), f"gateway {self.pid} did not die"
        return self.phases.phase()


@dataclass(frozen=True)
class Taken:
    """A reading a device took: on whom, its values, its device-clock time."""

    device: str
    values: tuple[float | str, ...]
    when: str


@dataclass
class KillResult:
    """What a kill loop left behind: where the kills landed, what was taken, what arrived."""

    seed: int
    landed: Counter[str]
    expected: list[Taken]  # taken, less what a forgetting cuff lost in flight
    in_flight: list[Taken]
    found: list[tuple[Taken, str]]  # as the server holds them, with their identifiers
    outbox: dict[str, int]  # the outbox's counts at the end


class KillTest:
    """A home file, a gateway configuration and the kill loop over them."""

    def __init__(
        self,
        tmp_path: Path,
        zygote: Zygote,
        server: tuple[str, str, str],
        seed: int,
        defect: str | None = None,
    ) -> None:
        self.tmp_path = tmp_path
        self.zygote = zygote
        self.defect = defect
        self.runs = 0
        self.server, self.token, database = server
        run = hashlib.sha256(str(tmp_path).encode()).hexdigest()[:10]  # a FHIR id: no "_"
        self.patients = {a: f"{p}-{run}" for a, p in PATIENTS.items()}
        # The clinic registers its patients before the gateway uploads: the server
        # refuses an Observation whose subject it does not hold.
        headers = {"Authorization": f"Bearer {self.token}"}
        with httpx.Client(base_url=self.server, headers=headers, timeout=30) as client:
            ensure_subjects(client, *(f"Patient/{p}" for p in self.patients.values()))
        # The gateway uploads with its own token, bound to the home's patients.
        engine = create_engine(database)
        try:
            self.gateway_token = gateway_token(
                engine, f"kill-{run}", sorted(set(self.patients.values()))
            )
        finally:
            engine.dispose()
        self.seed = seed
        self.rng = random.Random(seed)
        self.home = tmp_path / "home.json"
        self.taken: list[Taken] = []
        self.in_flight: list[Taken] = []
        self.confirmed: list[list] = []  # the forgetting cuff's readings flagged sent
        self.after_delete = 0  # kills after the oximeter was told to delete its records
        self.start = datetime.now().replace(microsecond=0) - timedelta(days=2)  # noqa: DTZ005 - device clock
        devices = [
            {"kind": "blood-pressure", "address": CUFF, "resend": True, "readings": []},
            {"kind": "blood-pressure", "address": FORGETFUL, "readings": []},
            {"kind": "pulse-oximeter", "address": OXIMETER, "readings": []},
            {"kind": "sleep", "address": SLEEP, "readings": []},
        ]
        self.home.write_text(json.dumps({"devices": devices}))
        config = tmp_path / "gateway.toml"
        config.write_text(
            "cooldown = 1.0\nidle_timeout = 0.3\nbatch_size = 4\nheartbeat_interval = 600\n"
            + "".join(
                f'[[devices]]\naddress = "{d["address"]}"\nkind = "{d["kind"]}"\n'
                f'patients = {{ "*" = "{self.patients[d["address"]]}" }}\n'
                for d in devices
            )
        )
        self.outbox = tmp_path / "gateway-data" / "gateway.db"
        self.env = {
            **os.environ,
            "HOMEVITALS_GATEWAY_CONFIG": str(config),
            "HOMEVITALS_GATEWAY_SERVER_URL": self.server,
            "HOMEVITALS_GATEWAY_TOKEN": self.gateway_token,
            "HOMEVITALS_GATEWAY_DATA_DIR": str(self.outbox.parent),
        }
        self.log = tmp_path / "gateway.log"

    def measure(self, cuff: int = 0, forgetful: int = 0, oximeter: int = 0, sleep: int = 0) -> None:
        """Readings taken while no gateway runs, into the devices' memory (the home file).

        Device times are unique across devices (whole minutes, +20 s, +40 s, +50 s), so
        the time in an identifier tells which reading it is.
        """
        home = json.loads(self.home.read_text())
        memory = {d["address"]: d["readings"] for d in home["devices"]}
        for address, count, second in ((CUFF, cuff, 0), (FORGETFUL, forgetful, 20)):
            for _ in range(count):
                k = sum(t.device == address for t in self.taken)
                when = (self.start + timedelta(minutes=7 * k, seconds=second)).isoformat()
                systolic, diastolic = 100 + k, 60 + k % 30
                memory[address].append([systolic, diastolic, 55 + k % 40, 1, when])
                self.taken.append(Taken(address, (systolic, diastolic), when))
        for _ in range(oximeter):
            k = sum(t.device == OXIMETER for t in self.taken)
            when = (self.start + timedelta(minutes=11 * k, seconds=40)).isoformat()
            spo2 = 90 + k % 11
            memory[OXIMETER].append([spo2, 50 + k % 45, when])
            self.taken.append(Taken(OXIMETER, (spo2,), when))
        for _ in range(sleep):
            k = sum(t.device == SLEEP for t in self.taken)
            when = (self.start + timedelta(minutes=10 * k, seconds=50)).isoformat()
            stage = 1 + (k + 1) % 4
            memory[SLEEP].append([k + 1, stage, when, 600, 50 + k % 10])  # sequence k + 1
            self.taken.append(Taken(SLEEP, (STAGES[stage],), when))
        self.home.write_text(json.dumps(home))

    def gateway(self, defect: str | None) -> GatewayRun:
        """Start a gateway process."""
        self.runs += 1
        arguments = ["gateway", "run", "--simulate", "--home", str(self.home)]
        return GatewayRun(
            lambda fifo: self.zygote.fork(arguments, self.env, fifo, defect),
            self.tmp_path / f"run-{self.runs}.log",
            self.log,
        )

    def kill_once(self, target: str, delay: tuple[float, float] | None = None) -> str:
        """Start the gateway, wait for `target`'s opening line, kill; returns where it landed."""
        run = self.gateway(self.defect)
        run.wait_for(target, timeout=10)
        time.sleep(self.rng.uniform(*(delay or DELAYS[target])))
        landed = run.kill()
        self.after_delete += run.phases.deleted
        self._account_in_flight()
        return landed

    def _account_in_flight(self) -> None:
        """The forgetting cuff's readings confirmed in the killed run and never committed."""
        home = json.loads(self.home.read_text())
        readings = next(d for d in home["devices"] if d["address"] == FORGETFUL)["readings"]
        confirmed = [r[:5] for r in readings if r[5:] == [True]]
        new = [r for r in confirmed if r not in self.confirmed]
        self.confirmed = confirmed
        if not new:
            return
        outbox = Outbox(self.outbox)
        try:
            identifiers = [r["identifier"][0]["value"] for r in outbox.all_resources()]
        finally:
            outbox.close()
        lost = [r for r in new if not any(f"-{_phd_seconds(r[4])}" in i for i in identifiers)]
        assert lost == new[len(new) - len(lost) :], (
            f"KILL_SEED={self.seed}: of the readings the cuff had confirmed, {lost} were not "
            f"committed, and not only the last ones {new}: a value was dropped, not in flight"
        )
        self.in_flight += [Taken(FORGETFUL, (r[0], r[1]), r[4]) for r in lost]

    def _settled(self) -> bool:
        """The oximeter and the forgetting cuff hold nothing unsent; the outbox is empty."""
        home = json.loads(self.home.read_text())
        memory = {d["address"]: d["readings"] for d in home["devices"]}
        if memory[OXIMETER] or memory[SLEEP] or any(r[5:] != [True] for r in memory[FORGETFUL]):
            return False
        outbox = Outbox(self.outbox)
        try:
            return outbox.counts()["pending"] == 0
        finally:
            outbox.close()

    def finish(self, landed: Counter[str], timeout: float = 60) -> KillResult:
        """Run the gateway, with no defect and unkilled, until it has nothing left to do.

        That is: the server holds as many readings as expected, or the devices hold
        nothing unsent and the outbox nothing pending (what is missing then is gone).
        """
        expected = [t for t in self.taken if t not in self.in_flight]
        run = self.gateway(None)
        deadline = time.monotonic() + timeout
        headers = {"Authorization": f"Bearer {self.token}"}
        try:
            with httpx.Client(base_url=self.server, headers=headers, timeout=30) as client:
                while True:
                    time.sleep(0.5)
                    found = _found(client, self.patients, self.taken)
                    if len(found) >= len(expected) or time.monotonic() > deadline:
                        break
                    if self._settled() and len(_found(client, self.patients, self.taken)) == len(
                        found
                    ):
                        break
        finally:
            run.stop()
        outbox = Outbox(self.outbox)
        try:
            counts = outbox.counts()
        finally:
            outbox.close()
        return KillResult(self.seed, landed, expected, self.in_flight, found, counts)


def _found(
    client: httpx.Client, patients: dict[str, str], taken: list[Taken]
) -> list[tuple[Taken, str]]:
    """The server's readings of the home's patients, named by the time in their identifier."""
    times = {t.when for t in taken}
    found = []
    for device, code in (
        (CUFF, "85354-9"),
        (FORGETFUL, "85354-9"),
        (OXIMETER, "59408-5"),
        (SLEEP, "258158006"),  # sleep stage
    ):
        answer = client.get(
            f"/Observation?patient=Patient/{patients[device]}&code={code}&_count=1000"
        )
        answer.raise_for_status()
        for entry in answer.json().get("entry", []):
            resource = entry["resource"]
            identifier = resource["identifier"][0]["value"]
            if "valueSampledData" in resource:  # a session's epochs as one window (issue 15)
                found += _epochs_of_window(device, resource, identifier, times)
                continue
            if code == "85354-9":
                values = (_component(resource, "8480-6"), _component(resource, "8462-4"))
            elif device == SLEEP:
                values = (resource["valueCodeableConcept"]["coding"][0]["code"],)
            else:
                values = (resource["valueQuantity"]["value"],)
            when = next((w for w in times if f"-{_phd_seconds(w)}" in identifier), "?")
            found.append((Taken(device, values, when), identifier))
    return found


def _epochs_of_window(
    device: str, resource: dict, identifier: str, times: set[str]
) -> list[tuple[Taken, str]]:
    """Each epoch of a SampledData stage window, named by its device time: the window's
    first one (in its identifier) + i x period, and `<identifier>#<i>`."""
    match = re.search(r"-(\d+)\.\.\d+-", identifier)
    assert match, identifier
    first = datetime(2000, 1, 1) + timedelta(seconds=int(match.group(1)))
    sampled = resource["valueSampledData"]
    found = []
    for index, sample in enumerate(sampled["data"].split(" ")):
        if sample == "E":
            continue
        at = first + timedelta(milliseconds=index * sampled["period"])
        when = next((w for w in times if datetime.fromisoformat(w) == at), "?")
        found.append((Taken(device, (STAGES[int(sample)],), when), f"{identifier}#{index}"))
    return found


def _phd_seconds(device_time: str) -> str:
    """The PHD identifier's time part (seconds since 2000-01-01, device clock)."""
    return str(int((datetime.fromisoformat(device_time) - datetime(2000, 1, 1)).total_seconds()))


def _component(resource: dict, code: str) -> float:
    for component in resource.get("component", []):
        if any(c["code"] == code for c in component["code"]["coding"]):
            return component["valueQuantity"]["value"]
    raise AssertionError(f"no component {code} in {resource['identifier']}")


def check_every_reading_once(result: KillResult) -> None:
    """Every reading expected is on the server exactly once, under its own identifier."""
    seed = result.seed
    identifiers = Counter(identifier for _, identifier in result.found)
    twice = sorted(i for i, n in identifiers.items() if n > 1)
    assert not twice, f"KILL_SEED={seed}: stored twice under {twice}"
    held = Counter(taken for taken, _ in result.found)
    missing = [t for t in result.expected if held[t] == 0]
    assert not missing, f"KILL_SEED={seed}: missing on the server: {missing}"
    extra = [t for t, n in held.items() if t not in result.expected or n > 1]
    assert not extra, f"KILL_SEED={seed}: on the server, never taken or twice: {extra}"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str, str]]:
    """The server as its own process on loopback: its base URL, a system token and its
    database (where the test makes the gateway's token, as `homevitals admin` would)."""
    data = tmp_path_factory.mktemp("kill-server")
    port = free_port()
    process, token = start_server_process(data, port, client="kill-test", log=data / "log")
    try:
        yield f"http://127.0.0.1:{port}/fhir", token, f"sqlite:///{data / 'homevitals.db'}"
    finally:
        process.terminate()
        process.wait(timeout=20)


@pytest.fixture(scope="module")
def zygote() -> Iterator[Zygote]:
    """Gateway processes, forked from one that imported the gateway once."""
    forks = Zygote()
    try:
        yield forks
    finally:
        forks.close()


def _seed(capsys: pytest.CaptureFixture[str]) -> int:
    seed = int(os.environ.get("KILL_SEED", random.randrange(2**32)))
    with capsys.disabled():
        print(f"\nkill seed: KILL_SEED={seed}")  # noqa: T201 - to reproduce a failure
    return seed


KILLS = 24


def test_sigkill_in_every_phase_loses_and_duplicates_nothing(tmp_path, zygote, server, capsys):
    # KILL_DEFECT=<a kill_gateway.DEFECTS name> runs this with a loss put back: it must fail.
    defect = os.environ.get("KILL_DEFECT")
    test = KillTest(tmp_path, zygote, server, seed=_seed(capsys), defect=defect)
    landed: Counter[str] = Counter()
    targets = (*PHASES, DELETED)
    test.measure(cuff=6, forgetful=6, oximeter=4, sleep=6)
    for kill in range(KILLS):
        if kill % 4 == 3:  # measuring goes on between crashes
            test.measure(cuff=2, forgetful=2, oximeter=2, sleep=3)
        # Aim at the phase with fewest kills so far (in turn when they tie).
        kills = {**landed, DELETED: test.after_delete}
        target = min(
            targets, key=lambda p: (kills.get(p, 0), (targets.index(p) - kill) % len(targets))
        )
        landed[test.kill_once(target)] += 1
    result = test.finish(landed)
    with capsys.disabled():
        print(  # noqa: T201 - the test's evidence
            f"kills per phase: {dict(landed)}; after a RACP delete: {test.after_delete}; "
            f"readings a forgetting cuff had confirmed, lost in flight: {len(result.in_flight)} "
            f"of {len(result.expected) + len(result.in_flight)} taken"
        )
    check_every_reading_once(result)
    assert result.outbox["rejected"] == result.outbox["quarantined"] == 0, result.outbox
    assert all(landed[p] for p in PHASES), f"KILL_SEED={test.seed}: a phase got no kill: {landed}"
    assert test.after_delete, f"KILL_SEED={test.seed}: no kill after a RACP delete"


@pytest.mark.parametrize(
    ("defect", "target", "delay"),
    [
        ("delete-before-commit", DELETED, DELAYS[DELETED]),
        # Once the batch is marked (a 30 ms write) and before the server has it.
        ("mark-sent-before-upload", UPLOADING, (0.045, 0.07)),
    ],
    ids=["delete-before-commit", "mark-sent-before-upload"],
)
def test_kill_test_fails_when_a_loss_is_put_back(
    defect, target, delay, tmp_path, zygote, server, capsys
):
    test = KillTest(tmp_path, zygote, server, seed=_seed(capsys), defect=defect)
    landed: Counter[str] = Counter()
    for _ in range(3):
        test.measure(oximeter=4)
        landed[test.kill_once(target, delay)] += 1
    result = test.finish(landed, timeout=20)
    with capsys.disabled():
        print(f"{defect}: kills per phase: {dict(landed)}")  # noqa: T201 - the test's evidence
    lost = f"missing on the server: \\[Taken\\(device='{OXIMETER}'"
    with pytest.raises(AssertionError, match=lost):
        check_every_reading_once(result)
