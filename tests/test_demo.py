"""The README's main command: `homevitals demo` runs the whole path and uploads."""

import re
import subprocess
import sys

from .services import free_port


def test_demo_runs_server_gateway_and_emulated_home(tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "homevitals_cli",
            "demo",
            "--port",
            str(free_port()),
            "--days",
            "2",
            "--duration",
            "8",
            "--live-every",
            "100",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    out = result.stdout
    assert "FHIR server: http://127.0.0.1:" in out
    assert out.count("cuff 4 readings, oximeter 2 spot checks") == 3
    assert "sleep sensor 2 nights" in out
    uploaded = int(re.search(r"the gateway uploaded (\d+) resources", out).group(1))
    # At least every blood pressure panel and pulse (3 patients x 2 days x 2 readings x 2)
    # and every SpO2 and pulse (3 x 2 x 2); the sleep epochs come on top.
    assert uploaded >= 3 * 2 * 2 * 2 + 3 * 2 * 2
    assert "Traceback" not in result.stderr


def test_decode_only_demo_needs_nothing_but_the_parsers(capsys):
    import homevitals_cli

    assert homevitals_cli.main(["demo", "--decode-only"]) == 0
    assert "BloodPressureMeasurement" in capsys.readouterr().out
