"""The gateway's figures: indication-to-server latency, radio-to-commit latency, backlog
drain, resident memory.

Run: `.venv/bin/python bench/gateway.py` (about a minute). A real server runs as its
own process on a temporary embedded store; the gateway and its emulated devices run
over the emulated radio (bleak over bumble).

1. Latency: a connected cuff indicates a new measurement; the time until the
   gateway's outbox row is marked sent (the server's 2xx), median of many. In the
   same run, the time from each value's arrival off the radio (the notification
   callback) to its commit in the outbox (median and maximum): how long a value
   exists only in memory.
2. Backlog: 10,000 blood-pressure readings (20,000 Observations) waiting in the
   outbox, drained into the local server.
3. Memory: resident set size of a `homevitals gateway run --simulate` process
   serving 3 emulated devices (which live in the same process: an upper bound).
   Its yardstick is measured in the same run: a process that imports exactly the
   modules the gateway process had loaded (listed by that process as it exits) and
   runs nothing; the difference is what running the gateway costs.

Targets (issue 5): latency under 1 s, backlog under 30 s, memory under 80 MB.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from _server import create_patients, start_server, stop_server

from device_adapters import BloodPressureMeasurement, Quantity, Unit
from gateway.bindings import Binding, Bindings
from gateway.mapping import (
    GatewayIdentity,
    MappingContext,
    PatientLink,
    SensorIdentity,
    map_reading,
    upload_entries,
)
from gateway.mapping.devices import DeviceKind
from gateway.outbox import Outbox, Supporting
from gateway.service import BleEnvironment, Gateway
from gateway.simulation import VirtualBus
from gateway.simulation.peripherals import BloodPressureCuff
from gateway.uploader import Uploader

TOKYO = ZoneInfo("Asia/Tokyo")
GATEWAY = GatewayIdentity("B827EBFFFE00BE01", "bench")


async def latency(
    base: str, token: str, tmp: Path, samples: int
) -> tuple[list[float], list[float]]:
    bus = VirtualBus()
    cuff = BloodPressureCuff("D0:00:00:00:BE:01")
    cuff.stay_connected = True
    await cuff.start(bus)
    outbox = Outbox(tmp / "latency.db")
    uploader = Uploader(base, token, outbox)
    gateway = Gateway(
        identity=GATEWAY,
        bindings=Bindings(
            [
                Binding(
                    cuff.address, DeviceKind.BLOOD_PRESSURE, {None: PatientLink(logical_id="bench")}
                )
            ]
        ),
        outbox=outbox,
        uploader=uploader,
        ble=BleEnvironment.simulated(bus),
        zone=TOKYO,
        idle_timeout=3600,
        cooldown=0.2,
    )
    task = asyncio.create_task(gateway.run())
    while not cuff.connections or cuff._bearer is None:
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.5)
    results = []
    gateway.commit_latencies.clear()  # the memory sent at connection is not a sample
    for n in range(samples):
        before = (await outbox.run(outbox.counts))["sent"]
        began = time.perf_counter()
        await cuff.measure_live(100 + n % 100, 70, 60 + n % 30)
        while (await outbox.run(outbox.counts))["sent"] < before + 2:  # the panel and the pulse
            await asyncio.sleep(0.002)
        results.append(time.perf_counter() - began)
        await asyncio.sleep(0.05)
    commits = list(gateway.commit_latencies)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await uploader.aclose()
    await cuff.stop()
    outbox.close()
    return results, commits


def fill_backlog(outbox: Outbox, readings: int) -> int:
    sensor = SensorIdentity(
        "D0:00:00:00:BE:02", DeviceKind.BLOOD_PRESSURE, system_id="FEEDABEEDEADBE02"
    )
    patient = PatientLink(logical_id="backlog")
    start = datetime(2025, 1, 1, 7, 0)
    batch: list[tuple[str, dict, str]] = []
    supporting: dict[str, Supporting] = {}
    for n in range(readings):
        reading = BloodPressureMeasurement(
            Quantity(float(110 + n % 60), Unit.MM_HG),
            Quantity(float(70 + n % 20), Unit.MM_HG),
            Quantity(float(85 + n % 25), Unit.MM_HG),
            device_time=start + timedelta(minutes=10 * n),
            pulse_rate=Quantity(float(60 + n % 30), Unit.PER_MIN),
        )
        received = (start + timedelta(minutes=10 * n)).replace(tzinfo=UTC)
        ctx = MappingContext(sensor, GATEWAY, patient, received)
        for entry in upload_entries(map_reading(reading, ctx), sensor, GATEWAY, patient):
            if entry.resource["resourceType"] == "Observation":
                batch.append((entry.full_url, entry.resource, entry.if_none_exist))
            else:
                supporting[entry.full_url] = Supporting(
                    entry.full_url, entry.resource, entry.if_none_exist
                )
        if len(batch) >= 2000:
            outbox.add(batch, supporting.values())
            batch = []
    outbox.add(batch, supporting.values())
    return outbox.counts()["pending"]


async def drain(base: str, token: str, outbox: Outbox) -> float:
    uploader = Uploader(base, token, outbox, batch_size=100)
    began = time.perf_counter()
    while await uploader.upload_due():
        pass
    elapsed = time.perf_counter() - began
    await uploader.aclose()
    if outbox.counts()["pending"]:
        raise SystemExit(f"{outbox.counts()['pending']} readings were not uploaded")
    return elapsed


DEVICES_ONLY = """
import asyncio, sys
from pathlib import Path
from gateway.simulation import VirtualBus
from gateway.simulation.home_file import start_home

async def main():
    bus = VirtualBus()
    await bus.central()
    await start_home(Path(sys.argv[1]), bus)
    await asyncio.sleep(8)

asyncio.run(main())
"""


# The gateway as `homevitals gateway run`, listing the modules it had loaded when it
# stops (SIGINT ends `gateway run` normally, so atexit runs).
GATEWAY_LISTING_MODULES = """
import atexit, json, runpy, sys
listing = sys.argv.pop(1)
atexit.register(lambda: open(listing, "w").write(json.dumps(sorted(sys.modules))))
sys.argv[0] = "homevitals"
runpy.run_module("homevitals_cli", run_name="__main__")
"""

# The yardstick: the same modules imported, nothing run.
SAME_IMPORTS = """
import importlib, json, sys, time
for name in json.load(open(sys.argv[1])):
    if name != "__main__" and not name.startswith("_pytest"):
        try:
            importlib.import_module(name)
        except Exception:
            pass
time.sleep(30)
"""


def rss_of(
    command: list[str],
    seconds: float,
    env: dict[str, str] | None = None,
    stop: signal.Signals = signal.SIGTERM,
) -> float:
    """Peak resident set size (MB) of a process over `seconds`."""
    process = subprocess.Popen(
        command, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    peak = 0.0
    try:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.25)
            for line in Path(f"/proc/{process.pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    peak = max(peak, int(line.split()[1]) / 1024)
    finally:
        process.send_signal(stop)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return peak


def gateway_memory(base: str, token: str, tmp: Path) -> tuple[float, float, float, int]:
    home = tmp / "home.json"
    now = datetime.now(TOKYO).replace(tzinfo=None, microsecond=0)
    devices = [
        {
            "kind": "blood-pressure",
            "address": f"D0:00:00:00:BE:1{i}",
            "readings": [
                [120 + k, 80, 70, 1, (now - timedelta(hours=k)).isoformat()] for k in range(20)
            ],
        }
        for i in range(3)
    ]
    home.write_text(json.dumps({"devices": devices}))
    config = tmp / "gateway.toml"
    config.write_text(
        "cooldown = 1.0\nidle_timeout = 1.0\n"
        + "".join(
            f'[[devices]]\naddress = "{d["address"]}"\nkind = "blood-pressure"\npatients = {{ "*" = "memory-{i}" }}\n'
            for i, d in enumerate(devices)
        )
    )
    env = {
        **os.environ,
        "HOMEVITALS_GATEWAY_CONFIG": str(config),
        "HOMEVITALS_GATEWAY_SERVER_URL": base,
        "HOMEVITALS_GATEWAY_TOKEN": token,
        "HOMEVITALS_GATEWAY_DATA_DIR": str(tmp / "memory-gw"),
    }
    listing = tmp / "modules.json"
    total = rss_of(
        [
            sys.executable,
            "-c",
            GATEWAY_LISTING_MODULES,
            str(listing),
            "gateway",
            "run",
            "--simulate",
            "--home",
            str(home),
        ],
        15,
        env,
        stop=signal.SIGINT,
    )
    yardstick = rss_of([sys.executable, "-c", SAME_IMPORTS, str(listing)], 4)
    emulators = rss_of([sys.executable, "-c", DEVICES_ONLY, str(home)], 6)
    interpreter = rss_of([sys.executable, "-c", "import time; time.sleep(2)"], 1.5)
    modules = len(json.loads(listing.read_text()))
    return total, total - (emulators - interpreter), yardstick, modules


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=40)
    parser.add_argument("--backlog", type=int, default=10_000)
    parser.add_argument("--port", type=int, default=8933)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="hv-gw-bench-") as name:
        tmp = Path(name)
        server, token = start_server(tmp / "server", args.port)
        base = f"http://127.0.0.1:{args.port}/fhir"
        try:
            create_patients(base, token, ["bench", "backlog"])
            waits, commits = asyncio.run(latency(base, token, tmp, args.samples))
            outbox = Outbox(tmp / "backlog.db")
            queued = fill_backlog(outbox, args.backlog)
            drained = asyncio.run(drain(base, token, outbox))
            outbox.close()
            rss_total, rss, yardstick, modules = gateway_memory(base, token, tmp)
        finally:
            stop_server(server)
    median = statistics.median(waits)
    rate = queued / drained
    print(
        f"indication -> stored on the server: median {median * 1000:.0f} ms, p95 {sorted(waits)[int(len(waits) * 0.95) - 1] * 1000:.0f} ms over {len(waits)} readings (target < 1000 ms: {'met' if median < 1 else 'NOT met'})"
    )
    print(
        f"arrival off the radio -> committed in the outbox: median {statistics.median(commits) * 1000:.1f} ms, maximum {max(commits) * 1000:.1f} ms over {len(commits)} values (one transaction per burst, in the outbox's writer thread)"
    )
    print(
        f"backlog of {args.backlog:,} readings ({queued:,} Observations): drained in {drained:.1f} s, {rate:,.0f} Observations/s (target < 30 s: {'met' if drained < 30 else 'NOT met'})"
    )
    print(
        f"gateway serving 3 emulated devices: process peak RSS {rss_total:.0f} MB, of which the emulators (bumble and the 3 devices) take {rss_total - rss:.0f} MB;"
    )
    print(
        f"  the gateway's own share {rss:.0f} MB (target < 80 MB: {'met' if rss < 80 else 'NOT met'})"
    )
    print(
        f"  yardstick, same run: a process importing the same {modules} modules and running nothing: {yardstick:.0f} MB;"
        f" running the gateway and its emulators adds {rss_total - yardstick:.0f} MB"
    )
    return 0 if median < 1 and drained < 30 and rss < 80 else 1


if __name__ == "__main__":
    raise SystemExit(main())
