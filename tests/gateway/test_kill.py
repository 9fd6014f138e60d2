"""SIGKILL the gateway in every phase of its life: nothing lost, nothing twice (issue 9).

The gateway runs as its own process (the production command line, started through
`kill_gateway.py`, which turns on its phase log lines and emulates a slow SD card),
the server as another (`fhir_api.launch.start_server_process`, on loopback). The
emulated home keeps its memory in its JSON file across the gateway's deaths, as real
devices keep theirs: the oximeter erases what the gateway deleted (RACP) and never
sends it again, so a reading the gateway lost is gone. The cuff re-sends its whole
memory at every connection (as many real cuffs do), which tests that nothing arrives
twice. Readings are taken between crashes.

Each kill aims at a phase (the one with fewest kills so far): it waits for the
gateway's log line that opens the phase, then kills after a random delay. Where it
really landed is read from the log afterwards; every phase must get some. At the end
every reading taken must be on the server exactly once, by value and by identifier.

`test_kill_test_fails_when_records_are_deleted_before_their_commit` puts issue 9's
loss back (a RACP delete that does not wait for the commit) and sees the check fail.

The seed is printed; pin it with KILL_SEED.
"""

from __future__ import annotations

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
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest

from fhir_api.launch import start_server_process

from ..services import free_port

CUFF = "D0:00:00:00:30:01"
OXIMETER = "D0:00:00:00:30:0A"
WRAPPER = Path(__file__).with_name("kill_gateway.py")
SLOW_DISK = 0.03  # seconds per outbox write or read: an old SD card

SCANNING = "scanning"
SESSION = "mid-session"
COMMITTED = "committed, not uploading"
UPLOADING = "mid-upload"
ANSWERED = "answered, not marked sent"
PHASES = (SCANNING, SESSION, COMMITTED, UPLOADING, ANSWERED)
DELETED = "records deleted"  # aimed at by the defect test only
# After the line that opens the phase, kill within this many seconds.
DELAYS = {
    SCANNING: (0.0, 0.1),
    SESSION: (0.0, 0.15),
    COMMITTED: (0.0, 0.02),
    UPLOADING: (0.0, 0.02),
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
    deleted: bool = False  # a device is being told to delete its records (the defect test)

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

    def __init__(self, env: dict[str, str], options: list[str]) -> None:
        self.process = subprocess.Popen(
            [sys.executable, str(WRAPPER), *options, "--zygote"],
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def fork(self, arguments: list[str], fifo: Path) -> int:
        """A gateway process running `homevitals <arguments>`, logging into `fifo`."""
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(f"{json.dumps(arguments)}\t{fifo}\n")
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

    def __init__(self, zygote: Zygote, arguments: list[str], fifo: Path, log: Path) -> None:
        self.phases = PhaseLog()
        self._changed = threading.Condition()
        self._log = log
        os.mkfifo(fifo)
        self._reader = threading.Thread(target=self._read, args=(fifo,), daemon=True)
        self._reader.start()
        self.pid = zygote.fork(arguments, fifo)

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


@dataclass
class KillResult:
    """What a kill loop left behind: its seed, where the kills landed, what the home took."""

    seed: int
    landed: Counter[str]
    cuff: list[list]  # [systolic, diastolic, pulse, user, device time]
    oximeter: list[list]  # [spo2, pulse, device time]
    panels: list[dict]
    spo2: list[dict]


class KillTest:
    """A home file, a gateway configuration and the kill loop over them."""

    def __init__(
        self, tmp_path: Path, server: str, token: str, seed: int, defect: str | None = None
    ) -> None:
        self.tmp_path = tmp_path
        self.runs = 0
        self.server = server
        self.token = token
        self.seed = seed
        self.rng = random.Random(seed)
        self.home = tmp_path / "home.json"
        self.cuff: list[list] = []
        self.oximeter: list[list] = []
        self.start = datetime.now().replace(microsecond=0) - timedelta(days=2)  # noqa: DTZ005 - device clock
        self.home.write_text(
            json.dumps(
                {
                    "devices": [
                        {"kind": "blood-pressure", "address": CUFF, "resend": True, "readings": []},
                        {"kind": "pulse-oximeter", "address": OXIMETER, "readings": []},
                    ]
                }
            )
        )
        config = tmp_path / "gateway.toml"
        config.write_text(
            "cooldown = 1.0\nidle_timeout = 0.3\nbatch_size = 4\nheartbeat_interval = 600\n"
            f'[[devices]]\naddress = "{CUFF}"\nkind = "blood-pressure"\n'
            'patients = { "*" = "kill-cuff" }\n'
            f'[[devices]]\naddress = "{OXIMETER}"\nkind = "pulse-oximeter"\n'
            'patients = { "*" = "kill-oximeter" }\n'
        )
        self.env = {
            **os.environ,
            "HOMEVITALS_GATEWAY_CONFIG": str(config),
            "HOMEVITALS_GATEWAY_SERVER_URL": server,
            "HOMEVITALS_GATEWAY_TOKEN": token,
            "HOMEVITALS_GATEWAY_DATA_DIR": str(tmp_path / "gateway-data"),
        }
        self.log = tmp_path / "gateway.log"
        options = ["--slow-disk", str(SLOW_DISK)]
        self.zygote = Zygote(self.env, options + (["--defect", defect] if defect else []))
        # The last run, unkilled, has no defect: what it finds missing is gone for good.
        self.sound = Zygote(self.env, options) if defect else self.zygote

    def close(self) -> None:
        """Stop the zygotes."""
        self.zygote.close()
        if self.sound is not self.zygote:
            self.sound.close()

    def measure(self, cuff: int, oximeter: int) -> None:
        """Readings taken while no gateway runs, into the devices' memory (the home file)."""
        home = json.loads(self.home.read_text())
        for _ in range(cuff):
            k = len(self.cuff)
            when = (self.start + timedelta(minutes=7 * k)).isoformat()
            reading = [100 + k, 60 + k % 30, 55 + k % 40, 1, when]
            self.cuff.append(reading)
            home["devices"][0]["readings"].append(reading)
        for _ in range(oximeter):
            k = len(self.oximeter)
            when = (self.start + timedelta(minutes=11 * k, seconds=30)).isoformat()
            reading = [90 + k % 11, 50 + k % 45, when]
            self.oximeter.append(reading)
            home["devices"][1]["readings"].append(reading)
        self.home.write_text(json.dumps(home))

    def gateway(self, zygote: Zygote | None = None) -> GatewayRun:
        """Start a gateway process."""
        self.runs += 1
        arguments = ["gateway", "run", "--simulate", "--home", str(self.home)]
        fifo = self.tmp_path / f"run-{self.runs}.log"
        return GatewayRun(zygote or self.zygote, arguments, fifo, self.log)

    def kill_once(self, target: str) -> str:
        """Start the gateway, wait for `target`'s opening line, kill; returns where it landed."""
        run = self.gateway()
        run.wait_for(target, timeout=10)
        time.sleep(self.rng.uniform(*DELAYS[target]))
        return run.kill()

    def finish(self, landed: Counter[str], timeout: float = 60) -> KillResult:
        """Run the gateway unkilled until the server holds every reading taken (or timeout)."""
        run = self.gateway(self.sound)
        deadline = time.monotonic() + timeout
        headers = {"Authorization": f"Bearer {self.token}"}
        try:
            with httpx.Client(base_url=self.server, headers=headers, timeout=30) as client:
                while True:
                    panels = _observations(client, "kill-cuff", "85354-9")
                    spo2 = _observations(client, "kill-oximeter", "59408-5")
                    done = len(panels) >= len(self.cuff) and len(spo2) >= len(self.oximeter)
                    if done or time.monotonic() > deadline:
                        break
                    time.sleep(0.3)
        finally:
            run.stop()
        return KillResult(self.seed, landed, self.cuff, self.oximeter, panels, spo2)


def _observations(client: httpx.Client, patient: str, code: str) -> list[dict]:
    found = client.get(f"/Observation?patient=Patient/{patient}&code={code}&_count=1000")
    found.raise_for_status()
    return [entry["resource"] for entry in found.json().get("entry", [])]


def _phd_seconds(device_time: str) -> str:
    """The PHD identifier's time part (seconds since 2000-01-01, device clock)."""
    return str(int((datetime.fromisoformat(device_time) - datetime(2000, 1, 1)).total_seconds()))


def _component(resource: dict, code: str) -> float:
    for component in resource.get("component", []):
        if any(c["code"] == code for c in component["code"]["coding"]):
            return component["valueQuantity"]["value"]
    raise AssertionError(f"no component {code} in {resource['identifier']}")


def _taken_once(
    what: str, seed: int, expected: dict[tuple, str], found: list[tuple[tuple, str]]
) -> None:
    """Each taken reading (values -> device time) found once, under its own identifier."""
    identifiers = Counter(identifier for _, identifier in found)
    twice = sorted(i for i, n in identifiers.items() if n > 1)
    assert not twice, f"KILL_SEED={seed}: {what} stored twice under {twice}"
    values = Counter(key for key, _ in found)
    missing = sorted(k for k in expected if values[k] == 0)
    assert not missing, f"KILL_SEED={seed}: {what} missing on the server: {missing}"
    extra = sorted(k for k in values if k not in expected or values[k] > 1)
    assert not extra, f"KILL_SEED={seed}: {what} on the server never taken or twice: {extra}"
    for key, identifier in found:
        assert f"-{_phd_seconds(expected[key])}" in identifier, (
            f"KILL_SEED={seed}: {what} {key} has the identifier {identifier!r}, "
            f"not one for its time {expected[key]}"
        )


def check_every_reading_once(result: KillResult) -> None:
    """Every reading the devices held or took is on the server exactly once."""
    _taken_once(
        "blood pressure",
        result.seed,
        {(r[0], r[1]): r[4] for r in result.cuff},
        [
            (
                (_component(p, "8480-6"), _component(p, "8462-4")),
                p["identifier"][0]["value"],
            )
            for p in result.panels
        ],
    )
    _taken_once(
        "SpO2",
        result.seed,
        {(r[0], r[2]): r[2] for r in result.oximeter},
        [
            (
                (s["valueQuantity"]["value"], _spot_time(result.oximeter, s)),
                s["identifier"][0]["value"],
            )
            for s in result.spo2
        ],
    )


def _spot_time(taken: list[list], resource: dict) -> str:
    """The device time of the taken record whose PHD time part the identifier carries."""
    identifier = resource["identifier"][0]["value"]
    for _, _, when in taken:
        if f"-{_phd_seconds(when)}" in identifier:
            return when
    return f"(none: {identifier})"


@pytest.fixture
def server(tmp_path) -> Iterator[tuple[str, str]]:
    """The server as its own process on loopback: its base URL and a system token."""
    port = free_port()
    process, token = start_server_process(
        tmp_path / "server", port, client="kill-test", log=tmp_path / "server.log"
    )
    try:
        yield f"http://127.0.0.1:{port}/fhir", token
    finally:
        process.terminate()
        process.wait(timeout=20)


def _seed(capsys: pytest.CaptureFixture[str]) -> int:
    seed = int(os.environ.get("KILL_SEED", random.randrange(2**32)))
    with capsys.disabled():
        print(f"\nkill seed: KILL_SEED={seed}")  # noqa: T201 - to reproduce a failure
    return seed


KILLS = 25


def test_sigkill_in_every_phase_loses_and_duplicates_nothing(tmp_path, server, capsys):
    test = KillTest(tmp_path, *server, seed=_seed(capsys))
    landed: Counter[str] = Counter()
    try:
        test.measure(cuff=6, oximeter=4)
        for kill in range(KILLS):
            if kill % 4 == 3:
                test.measure(cuff=2, oximeter=2)  # measuring goes on between crashes
            # Aim at the phase with fewest kills so far (in turn when they tie).
            target = min(PHASES, key=lambda p: (landed[p], (PHASES.index(p) - kill) % len(PHASES)))
            landed[test.kill_once(target)] += 1
        result = test.finish(landed)
    finally:
        test.close()
    with capsys.disabled():
        print(f"kills per phase: {dict(landed)}")  # noqa: T201 - the test's evidence
    check_every_reading_once(result)
    assert all(landed[p] for p in PHASES), f"KILL_SEED={test.seed}: a phase got no kill: {landed}"


def test_kill_test_fails_when_records_are_deleted_before_their_commit(tmp_path, server, capsys):
    test = KillTest(tmp_path, *server, seed=_seed(capsys), defect="delete-before-commit")
    landed: Counter[str] = Counter()
    try:
        for _ in range(3):
            test.measure(cuff=0, oximeter=4)
            landed[test.kill_once(DELETED)] += 1
        result = test.finish(landed, timeout=10)
    finally:
        test.close()
    with capsys.disabled():
        print(f"kills per phase: {dict(landed)}")  # noqa: T201 - the test's evidence
    with pytest.raises(AssertionError, match="SpO2 missing on the server"):
        check_every_reading_once(result)
