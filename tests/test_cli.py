"""The `homevitals` command line."""

import os
import socket
import subprocess
import sys

import homevitals_cli


def test_decode_prints_the_reading(capsys):
    rc = homevitals_cli.main(["decode", "2a35", "15bdf00b009ff03c001200"])
    out = capsys.readouterr().out
    assert rc == 0
    assert "BloodPressureMeasurement" in out
    assert "systolic: 18.9 kPa" in out
    assert "pulse rate range: BELOW_LOWER_LIMIT" in out


def test_decode_reports_malformed_payload_with_exit_code_1(capsys):
    rc = homevitals_cli.main(["decode", "2a19", "65"])
    err = capsys.readouterr().err
    assert rc == 1
    assert "battery level 101 %" in err


def test_decode_rejects_non_hex(capsys):
    assert homevitals_cli.main(["decode", "2a19", "zz"]) == 2
    assert "not hex" in capsys.readouterr().err


def test_demo_decodes_every_sample_and_quarantines_the_bad_one(capsys):
    assert homevitals_cli.main(["demo", "--decode-only"]) == 0
    out = capsys.readouterr().out
    for title, _, _ in homevitals_cli.DEMO_PAYLOADS:
        assert f"== {title}" in out
    assert "absent (not-a-number) mm[Hg]" in out
    assert out.count("quarantined:") == 1


def test_console_script_runs_as_a_module():
    result = subprocess.run(
        [sys.executable, "-m", "homevitals_cli", "decode", "2a37", "0048"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "heart rate: 72 /min" in result.stdout


def test_server_on_a_port_in_use_says_so_in_one_line_and_prints_no_address(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "homevitals_cli", "server", "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, "HOMEVITALS_DATA_DIR": str(tmp_path / "server")},
            check=False,
        )
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1, result.stderr  # one line, no traceback
    assert f"port {port} is already in use on 127.0.0.1" in result.stderr
    assert "choose another with --port" in result.stderr
    assert "http://" not in result.stdout + result.stderr  # no address it does not serve
    assert not (tmp_path / "server").exists()  # and nothing made on the way out


def test_building_the_command_line_imports_no_database_library():
    """Every `homevitals` start builds the whole parser; the server's commands imported
    SQLAlchemy and Alembic for it (~1.3 s before `gateway run` could begin, on a Pi more)."""
    probe = (
        "import sys, homevitals_cli; homevitals_cli.build_parser(); "
        "print(sorted(m for m in ('sqlalchemy', 'alembic') if m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.strip() == "[]", done.stderr
