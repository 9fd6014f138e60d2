"""The README's main command: `homevitals demo`, as a newcomer runs and stops it.

Each test runs the real command in its own process group and stops it the way a
terminal's Ctrl-C does (SIGINT to the whole group, the demo's server included).
TMPDIR points into the test's tmp_path, so a temporary folder left behind is seen.
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest

from fhir_api.launch import port_problem

from .services import free_port

# Ctrl-C must stop the demo within this many seconds (issue 9).
STOPS_WITHIN = 2.0


class Demo:
    """`homevitals demo ...` running, with its output collected as it comes."""

    def __init__(self, tmp_path: Path, *args: str) -> None:
        self.port = free_port()
        self.tmp = tmp_path / "tmpdir"
        self.tmp.mkdir()
        env = {**os.environ, "TMPDIR": str(self.tmp)}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "homevitals_cli", "demo", "--port", str(self.port), *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            start_new_session=True,  # a process group of its own, as a shell's job
        )
        self._out = bytearray()
        self._err = bytearray()
        self._readers = [
            threading.Thread(target=self._read, args=(self.process.stdout, self._out), daemon=True),
            threading.Thread(target=self._read, args=(self.process.stderr, self._err), daemon=True),
        ]
        for reader in self._readers:
            reader.start()
        self.stopped_after: float | None = None

    @staticmethod
    def _read(stream, into: bytearray) -> None:
        while chunk := os.read(stream.fileno(), 65536):
            into.extend(chunk)

    @property
    def out(self) -> str:
        return self._out.decode(errors="replace")

    @property
    def err(self) -> str:
        return self._err.decode(errors="replace")

    def wait_for(self, pattern: str, timeout: float = 90.0) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while True:
            found = re.search(pattern, self.out)
            if found:
                return found
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.kill()
                raise AssertionError(
                    f"no {pattern!r} in the demo's output:\n{self.out}\n{self.err}"
                )
            time.sleep(0.05)

    def ctrl_c(self) -> int:
        """SIGINT to the demo's process group, as a terminal sends it; returns the exit code."""
        started = time.monotonic()
        os.killpg(self.process.pid, signal.SIGINT)
        try:
            code = self.process.wait(timeout=30)
        finally:
            self.stopped_after = time.monotonic() - started
        for reader in self._readers:
            reader.join(timeout=5)
        return code

    def kill(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def close(self) -> None:
        self.kill()
        for reader in self._readers:
            reader.join(timeout=5)
        self.process.stdout.close()
        self.process.stderr.close()

    def token(self) -> str:
        return self.wait_for(r"token \(demo only\): (\S+)").group(1)

    def uploaded(self) -> int:
        return int(re.search(r"the gateway uploaded (\d+) resources", self.out).group(1))

    def assert_left_nothing_behind(self) -> None:
        assert "Traceback" not in self.err, self.err
        assert list(self.tmp.iterdir()) == [], "the temporary folder was left behind"
        assert port_problem("127.0.0.1", self.port) is None, "the demo's server still runs"


@pytest.fixture
def demo_factory(tmp_path) -> Iterator:
    started: list[Demo] = []

    def start(*args: str) -> Demo:
        demo = Demo(tmp_path, *args)
        started.append(demo)
        return demo

    yield start
    for demo in started:
        demo.close()


def observations(client: httpx.Client, patient: str, code: str) -> int:
    answer = client.get(
        "/Observation", params={"patient": f"Patient/{patient}", "code": code, "_summary": "count"}
    )
    assert answer.status_code == 200, answer.text
    return int(answer.json()["total"])


# What 1 day of history puts on the server, per patient and code: 2 cuff readings a
# day (a panel and a pulse each), 1 oximeter spot check a day (SpO2 and pulse) and, for
# the patient with the sleep sensor, a night of 48 ten-minute epochs: since issue 15 one
# SampledData Observation per signal (stage, heart rate, breathing rate), which the
# server expands into the 48 epochs `$stats` counts in bed (`IN_BED_EPOCHS`). The
# night's summary is left out: whether the gateway counts the last night as over
# depends on the time of day the test runs.
BASE = {"85354-9": 2, "59408-5": 1, "8867-4": 3}
SLEEP_STAGE = "http://snomed.info/sct|258158006"
SLEEP_HEART_RATE = "urn:iso:std:iso:11073:10101|147842"
IN_BED_EPOCHS = {"8867-4": 48, "9279-1": 48}
ONE_DAY = {
    "田中 花子": {**BASE, SLEEP_STAGE: 1, SLEEP_HEART_RATE: 1},
    "鈴木 一郎": BASE,
    "佐藤 和子": dict.fromkeys(BASE, 0),  # she stopped measuring 4 days ago
}


def in_bed_epochs(client: httpx.Client, patient: str) -> dict[str, int]:
    """Epochs per code that `$stats` counts in bed over the last days, as the page asks."""
    today = datetime.now(ZoneInfo("Asia/Tokyo")).date()
    answer = client.get(
        "/Observation/$stats",
        params={
            "patient": f"Patient/{patient}",
            "code": "8867-4,9279-1",
            "start": (today - timedelta(days=3)).isoformat(),
            "end": (today + timedelta(days=1)).isoformat(),
            "setting": "in-bed",
        },
    )
    assert answer.status_code == 200, answer.text
    counted: dict[str, int] = {}
    for series in answer.json()["parameter"][2:]:
        code = series["part"][0]["valueCoding"]["code"]
        days = [p for p in series["part"] if p["name"] == "day"]
        counted[code] = sum(day["part"][4]["valueInteger"] for day in days)
    return counted


def test_demo_uploads_the_home_and_the_server_holds_it(demo_factory, tmp_path):
    data = tmp_path / "kept"
    demo = demo_factory("--days", "1", "--live-every", "1000", "--data-dir", str(data))
    token = demo.token()
    lines = demo.wait_for(r"(?s)(佐藤 和子: Patient/(\S+),.*)").group(1)
    patients = dict(re.findall(r"(\S+ \S+): Patient/([\w-]+),", demo.out))
    assert set(patients) == {"田中 花子", "鈴木 一郎", "佐藤 和子"}, lines
    base = demo.wait_for(r"FHIR server: (\S+)").group(1)
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=base, headers=headers) as client:
        deadline = time.monotonic() + 90
        while True:
            held = {
                name: {code: observations(client, patient, code) for code in ONE_DAY[name]}
                for name, patient in patients.items()
            }
            if held == ONE_DAY:
                break
            assert time.monotonic() < deadline, held
            time.sleep(0.5)
        assert in_bed_epochs(client, patients["田中 花子"]) == IN_BED_EPOCHS
        # Issue 14: 田中 花子 presses the call button once; the gateway says it was sent and
        # the server holds exactly one request from her.
        demo.wait_for(r"田中 花子: presses the call button")
        demo.wait_for(r"home gateway says: クリニックに「電話してください」が届きました。")
        asked = client.get(f"/Communication?patient={patients['田中 花子']}").json()
        assert asked["total"] == 1, asked
        # Every command the demo prints works pasted into a shell as it is.
        commands = re.findall(r"^\s*(?:try:\s*)?(curl .*)$", demo.out, re.MULTILINE)
        assert len(commands) == 2, demo.out
        for command in commands:
            ran = subprocess.run(
                ["/bin/sh", "-c", command], capture_output=True, text=True, timeout=30, check=False
            )
            assert ran.returncode == 0, ran.stderr
            bundle = httpx.Response(200, text=ran.stdout).json()
            assert bundle["resourceType"] == "Bundle", ran.stdout[:500]
            assert bundle["total"] >= 1, command
        name_search = next(c for c in commands if "/Patient?" in c)
        assert "田中" not in name_search  # percent-encoded
        assert shlex.split(name_search)[-1].endswith("name=%E7%94%B0%E4%B8%AD")
        # 鈴木's high morning yesterday (184/114) is an urgent alert, as FHIR and as a
        # message in the mailbox file the demo names (owner-only).
        mailbox = Path(demo.wait_for(r"Alert notifications to the care team.*: (\S+)").group(1))
        assert mailbox == data / "notifications.log"
        while not (mailbox.exists() and "鈴木 一郎" in mailbox.read_text(encoding="utf-8")):
            assert time.monotonic() < deadline + 30, "no alert message in the mailbox file"
            time.sleep(0.5)
        assert "【緊急】血圧が著しく高値 — 鈴木 一郎" in mailbox.read_text(encoding="utf-8")
        assert mailbox.stat().st_mode & 0o777 == 0o600
        issues = client.get("/DetectedIssue", params={"patient": patients["鈴木 一郎"]})
        assert issues.json()["total"] >= 1, issues.text
    assert demo.ctrl_c() == 0, demo.err
    assert demo.stopped_after < STOPS_WITHIN, demo.stopped_after
    # The count printed is what the gateway's outbox really marked as sent.
    from gateway.outbox import Outbox

    outbox = Outbox(data / "gateway.db")
    try:
        sent = outbox.counts()["sent"]
    finally:
        outbox.close()
    assert demo.uploaded() == sent
    assert sent >= sum(sum(counts.values()) for counts in held.values())
    assert (data / "server.log").exists()  # --data-dir keeps the demo's data
    demo.assert_left_nothing_behind()


def test_ctrl_c_while_the_history_uploads_stops_the_demo(demo_factory):
    demo = demo_factory("--days", "90")  # since issue 15 a night is 4 resources, not 145
    # The status line shows uploads under way with more waiting: mid-upload.
    demo.wait_for(r"gateway: [1-9]\d* sent, [1-9]\d* waiting", timeout=120)
    assert demo.ctrl_c() == 0, demo.err
    assert demo.stopped_after < STOPS_WITHIN, demo.stopped_after
    assert demo.uploaded() > 0
    assert "(demo data removed" in demo.out
    demo.assert_left_nothing_behind()


@pytest.mark.parametrize(
    "moment",
    [
        pytest.param(r"HomeVitals demo \(data in", id="while-the-server-starts"),
        pytest.param(r"鈴木 一郎: Patient/", id="while-the-home-is-set-up"),
    ],
)
def test_ctrl_c_early_stops_the_demo(demo_factory, moment):
    demo = demo_factory("--days", "14")
    demo.wait_for(moment)
    assert demo.ctrl_c() == 0, demo.err
    assert demo.stopped_after < STOPS_WITHIN, demo.stopped_after
    assert re.search(r"the gateway uploaded \d+ resources", demo.out), demo.out
    demo.assert_left_nothing_behind()


def test_demo_on_a_port_in_use_says_so_in_one_line(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "homevitals_cli", "demo", "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, "TMPDIR": str(tmp_path)},
            check=False,
        )
    assert result.returncode == 1
    assert result.stderr.strip().count("\n") == 0, result.stderr
    assert f"port {port} is already in use" in result.stderr
    assert "--port" in result.stderr
    assert "FHIR server" not in result.stdout and "http://" not in result.stdout
    assert list(tmp_path.iterdir()) == []  # its temporary folder is removed


def test_demo_whose_server_cannot_start_says_why_in_one_line(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "homevitals_cli", "demo", "--port", str(free_port())],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "TMPDIR": str(tmp_path), "HOMEVITALS_SERIES_BACKEND": "bogus"},
        check=False,
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr, result.stderr
    assert result.stderr.strip().count("\n") == 0, result.stderr
    assert "series_backend: Input should be" in result.stderr
    assert "http://" not in result.stdout
    assert list(tmp_path.iterdir()) == []


def test_decode_only_demo_needs_nothing_but_the_parsers(capsys):
    import homevitals_cli

    assert homevitals_cli.main(["demo", "--decode-only"]) == 0
    assert "BloodPressureMeasurement" in capsys.readouterr().out
