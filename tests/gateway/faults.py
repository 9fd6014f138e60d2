"""Storage faults produced for real: a size-limited tmpfs that fills up, and a
loop-mounted ext4 image that the kernel turns read-only as it does an SD card
after an I/O error (`errors=remount-ro`, triggered through ext4's sysfs knob).

Both need `mount` (root, or a container allowed to mount). Where that is not
possible the tests skip locally and fail under CI=true (tests/services.py).
"""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from ..services import unavailable


def _run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, timeout=30, check=False)


def _unmount(mountpoint: Path) -> None:
    if _run("umount", str(mountpoint)).returncode != 0:
        _run("umount", "-l", str(mountpoint))  # something still had a file open


@contextmanager
def tmpfs(mountpoint: Path, size: str = "2m") -> Iterator[Path]:
    """A tmpfs of `size` at `mountpoint` (made), unmounted afterwards."""
    if shutil.which("mount") is None:
        unavailable("no mount command")
    mountpoint.mkdir(parents=True, exist_ok=True)
    done = _run("mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(mountpoint))
    if done.returncode != 0:
        unavailable(f"cannot mount a tmpfs (root needed): {done.stderr.strip()}")
    try:
        yield mountpoint
    finally:
        _unmount(mountpoint)


@dataclass(frozen=True)
class Ext4:
    """A mounted ext4 image."""

    mountpoint: Path
    device: str  # /dev/loopN

    def fail(self) -> None:
        """An I/O error as ext4 reports it: with errors=remount-ro the file system goes
        read-only at once, open files and all, as a Pi's SD card does."""
        knob = Path("/sys/fs/ext4") / Path(self.device).name / "trigger_fs_error"
        knob.write_text("homevitals test: simulated I/O error\n")


@contextmanager
def ext4_image(directory: Path, size_mb: int = 8) -> Iterator[Ext4]:
    """An ext4 file system in a file, loop-mounted with errors=remount-ro."""
    if shutil.which("mkfs.ext4") is None or shutil.which("mount") is None:
        unavailable("mkfs.ext4 or mount missing")
    image = directory / "disk.img"
    mountpoint = directory / "disk"
    mountpoint.mkdir(parents=True)
    with image.open("wb") as file:
        file.truncate(size_mb * 1024 * 1024)
    made = _run("mkfs.ext4", "-q", "-F", str(image))
    if made.returncode != 0:
        unavailable(f"mkfs.ext4 failed: {made.stderr.strip()}")
    mounted = _run("mount", "-o", "loop,errors=remount-ro", str(image), str(mountpoint))
    if mounted.returncode != 0:
        unavailable(f"cannot loop-mount an ext4 image (root needed): {mounted.stderr.strip()}")
    try:
        device = _run("findmnt", "-n", "-o", "SOURCE", str(mountpoint)).stdout.strip()
        if not (Path("/sys/fs/ext4") / Path(device).name / "trigger_fs_error").exists():
            unavailable("this kernel's ext4 has no trigger_fs_error")
        yield Ext4(mountpoint, device)
    finally:
        _unmount(mountpoint)
        image.unlink(missing_ok=True)


def fill(directory: Path) -> Path:
    """Fill the file system holding `directory` until a write fails with ENOSPC."""
    filler = directory / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        for chunk in (65536, 4096, 512, 1):
            try:
                while True:
                    os.write(fd, b"\0" * chunk)
            except OSError as exc:
                if exc.errno != errno.ENOSPC:
                    raise
        os.fsync(fd)
    finally:
        os.close(fd)
    return filler
