"""Start the real server (`homevitals server`, one worker) for a benchmark."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from fhir_api.launch import start_server_process


def start_server(data_dir: Path, port: int) -> tuple[subprocess.Popen[bytes], str]:
    """The server on the embedded store in `data_dir`, and a new system token for it."""
    try:
        return start_server_process(data_dir, port, client="bench")
    except RuntimeError as exc:
        raise SystemExit(str(exc)) from None


def create_patients(base: str, token: str, ids: list[str]) -> None:
    """PUT a Patient for each id: the server refuses readings of patients it does not hold."""
    import httpx

    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/fhir+json"}
    with httpx.Client(base_url=base, headers=headers, timeout=30) as client:
        for patient_id in ids:
            body = {"resourceType": "Patient", "id": patient_id}
            client.put(f"/Patient/{patient_id}", json=body).raise_for_status()


def stop_server(server: subprocess.Popen[bytes]) -> None:
    server.terminate()
    server.wait(timeout=10)
