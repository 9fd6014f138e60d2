"""The gateway as the kill test runs it: `python kill_gateway.py [options] -- gateway run ...`.

It runs the production command line (`homevitals_cli.main`) in this process, after:

- logging the gateway's phase markers (its DEBUG lines), from which the test tells
  where each SIGKILL landed;
- `--slow-disk S`: an SD card that takes S seconds for each outbox write and read
  (a sleep before `Outbox.commit`, `due` and `mark_sent`, which run in the outbox's
  writer thread). It widens the windows between
  receiving a value, committing it, uploading it and marking it sent, so that kills
  land in each of them;
- `--defect delete-before-commit`: issue 9's loss defect put back. A RACP session
  deletes the device's records without waiting until they are committed (its
  `committed()` answers True at once, without draining the commit queue or asking
  `deletion_allowed`), so a kill in between loses them; the kill test must then fail.
- `--defect mark-sent-before-upload`: the uploader marks a batch sent before it
  posts it, so a kill mid-upload loses the batch; the kill test must then fail.

With `--zygote` it imports the gateway once, then forks a gateway process for each
request it reads on stdin (see `_zygote`), prepared as above, and answers with the
child's pid. A cold start costs some 3-4 s of imports on a loaded 2-core machine,
and the kill test starts the gateway dozens of times; each forked child is still a
process of its own, with its own event loop, emulated radio and SQLite connections,
killed by SIGKILL like any other.

Only the tests run this; production code reads none of it.
"""

from __future__ import annotations

import argparse
import functools
import json
import logging
import os
import signal
import sys
import time
import traceback
from collections.abc import Callable
from typing import Any

DEFECTS = ("delete-before-commit", "mark-sent-before-upload")


def _slow(method: Callable[..., Any], seconds: float) -> Callable[..., Any]:
    @functools.wraps(method)
    def slow(*args: Any, **kwargs: Any) -> Any:
        time.sleep(seconds)
        return method(*args, **kwargs)

    return slow


def _slow_disk(seconds: float) -> None:
    from gateway.outbox import Outbox

    for name in ("commit", "due", "mark_sent"):
        setattr(Outbox, name, _slow(getattr(Outbox, name), seconds))


def _delete_before_commit() -> None:
    from gateway import service

    original = service.racp_session

    async def no_wait() -> bool:
        return True  # "all committed", without waiting for the writer thread

    @functools.wraps(original)
    async def racp_session(*args: Any, **kwargs: Any) -> Any:
        return await original(*args, **{**kwargs, "committed": no_wait})

    service.racp_session = racp_session  # type: ignore[assignment]


def _mark_sent_before_upload() -> None:
    from gateway.uploader import Uploader

    original = Uploader._post

    async def post(self: Uploader, rows: Any) -> Any:
        await self._outbox.run(self._outbox.mark_sent, [r.seq for r in rows])
        return await original(self, rows)

    Uploader._post = post  # type: ignore[method-assign]


def _log_phases() -> None:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("gateway").setLevel(logging.DEBUG)
    logging.getLogger("gateway.simulation").setLevel(logging.INFO)


def _prepare(slow_disk: float, defect: str | None) -> None:
    if slow_disk:
        _slow_disk(slow_disk)
    if defect == "delete-before-commit":
        _delete_before_commit()
    if defect == "mark-sent-before-upload":
        _mark_sent_before_upload()
    _log_phases()


def _zygote() -> int:
    """Fork a gateway per request on stdin; answer each with the child's pid.

    A request is a JSON object on one line: `arguments` (of `homevitals`),
    `environment`, `log` (a FIFO for the child's output), `slow_disk`, `defect`.
    """
    # What a gateway run imports, imported once (the rest it imports itself).
    import bleak  # noqa: F401
    import bumble.device  # noqa: F401

    import gateway.service
    import gateway.simulation.home_file
    import gateway.uploader  # noqa: F401
    from homevitals_cli import build_parser
    from homevitals_cli import main as homevitals

    build_parser()  # imports every command's module
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # the kernel reaps the killed children
    for line in sys.stdin:
        request = json.loads(line)
        pid = os.fork()
        if pid == 0:  # the gateway
            code = 1
            try:
                signal.signal(signal.SIGCHLD, signal.SIG_DFL)
                log = os.open(request["log"], os.O_WRONLY)
                os.dup2(log, 1)
                os.dup2(log, 2)
                os.close(log)
                os.environ.clear()
                os.environ.update(request["environment"])
                _prepare(request["slow_disk"], request["defect"])
                code = homevitals(request["arguments"])
            except BaseException:
                traceback.print_exc()
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)
        sys.stdout.write(f"{pid}\n")
        sys.stdout.flush()
    return 0


def main() -> int:
    """Prepare the gateway as asked, then run the command after `--` (or be a zygote)."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--slow-disk", type=float, default=0.0)
    parser.add_argument("--defect", choices=DEFECTS)
    parser.add_argument("--zygote", action="store_true")
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    if args.zygote:
        return _zygote()
    _prepare(args.slow_disk, args.defect)
    from homevitals_cli import main as homevitals

    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    return homevitals(command)


if __name__ == "__main__":
    sys.exit(main())
