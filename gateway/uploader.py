"""The uploader: outbox rows to the FHIR server as transaction Bundles of conditional creates.

Batched while there is a backlog (up to `batch_size` readings a Bundle),
immediate when there is not: `wake()` is called whenever a reading is queued.
A 2xx marks the Bundle's rows sent. A 4xx other than 408/429 means something in
the Bundle can never be stored; since a transaction is all or nothing, the batch
is split in halves until the refused reading is alone, and only that one is
marked rejected. Except a refusal whose issues are all `not-found`: the reading
refers to a Patient or Device the server does not hold yet (the clinic has not
registered it), so it is split out the same way and sent again after a long
backoff (a minute, doubling to an hour; `gateway status` lists it under
`waiting_for_server`) until it arrives. Everything else is retried with backoff (honouring
`Retry-After`), forever: the outbox survives restarts.

Every outbox call runs in the outbox's writer thread (`await outbox.run(...)`), so
marking a Bundle sent (a commit with its fsync) never blocks the event loop. A
storage fault while reading or marking rows is kept in `storage_error` (for the
status) and retried after `STORAGE_RETRY_S`; a Bundle the server took but that
could not be marked sent is sent again later, which `If-None-Exist` makes harmless.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

import httpx

from .errors import StorageError, UploadError
from .mapping.bundle import BundleEntry, supporting_references, transaction_bundle
from .outbox import WAITING_FOR_SERVER, Outbox, OutboxRow
from .retry import Verdict, next_retry_delay, parse_retry_after, verdict, waiting_delay

__all__ = ["UploadError", "Uploader"]

_LOGGER = logging.getLogger(__name__)
STORAGE_RETRY_S = 5.0


class Uploader:
    """Drains the outbox to `base_url` (the server's FHIR base, e.g. `https://…/fhir`).

    Args:
        base_url: the FHIR base URL.
        token: the gateway's bearer token (never logged).
        outbox: where readings wait.
        transport: an httpx transport (tests pass one; production uses the default).
        on_sent: called with the rows of each Bundle the server took (2xx), after they
            are marked sent: the patient's confirmation (gateway.feedback). It must not
            block; an exception in it is logged, never lets a row be sent twice.
    """

    def __init__(
        self,
        base_url: str,
        token: str,
        outbox: Outbox,
        *,
        batch_size: int = 100,
        timeout: float = 30.0,
        transport: httpx.AsyncBaseTransport | None = None,
        on_sent: Callable[[Sequence[OutboxRow]], None] | None = None,
    ) -> None:
        self._outbox = outbox
        self.on_sent = on_sent
        self._batch_size = batch_size
        self._wake = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None  # run()'s, for wake() off it
        self._client = httpx.AsyncClient(
            base_url=base_url.rstrip("/") + "/",
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/fhir+json"},
            timeout=timeout,
            transport=transport,
        )
        self.last_contact: float | None = None  # the last HTTP answer of any status
        self.last_failure: float | None = None  # the last attempt that got no answer at all
        self.last_error: str | None = None
        self.storage_error: str | None = None

    async def aclose(self) -> None:
        """Close the HTTP client."""
        await self._client.aclose()

    def wake(self) -> None:
        """A reading was queued: upload now rather than at the next retry time.

        Safe from any thread: the writer thread queues sleep windows and night summaries
        and calls this from there, and an `asyncio.Event` set off its loop's thread does
        not wake the loop (the upload would wait for the next timer, up to 60 s).
        """
        loop = self._loop
        try:
            here = asyncio.get_running_loop()
        except RuntimeError:
            here = None
        if loop is None or loop is here:
            self._wake.set()
            return
        try:
            loop.call_soon_threadsafe(self._wake.set)
        except RuntimeError:
            pass  # the loop is closed (shutting down): nobody is waiting to be woken

    async def run(self) -> None:
        """Upload forever (cancel to stop)."""
        self._loop = asyncio.get_running_loop()
        while True:
            try:
                uploaded = await self.upload_due()
                self.storage_error = None
                if uploaded:
                    continue  # a backlog: keep going
                wait = await self._outbox.run(self._outbox.next_due_in)
            except StorageError as exc:
                if self.storage_error is None:
                    _LOGGER.error("uploads paused, the outbox cannot be used: %s", exc)
                self.storage_error = str(exc)
                await asyncio.sleep(STORAGE_RETRY_S)
                continue
            self._wake.clear()
            try:
                await asyncio.wait_for(
                    self._wake.wait(), timeout=60.0 if wait is None else max(wait, 0.05)
                )
            except TimeoutError:
                pass

    async def send_status(self, device: dict[str, Any], system: str, value: str) -> bool:
        """Replace the gateway's Device on the server (found by its identifier); True on success."""
        from .heartbeat import put_status

        try:
            await put_status(self._client, device, system, value)
        except UploadError as exc:
            self.last_error = str(exc)
            if isinstance(exc.__cause__, httpx.TransportError):
                self.last_failure = time.time()
            return False
        self.last_contact = time.time()
        return True

    async def upload_due(self) -> int:
        """Send one batch of due rows; returns how many were settled (sent or rejected)."""
        rows = await self._outbox.run(self._outbox.due, self._batch_size)
        if not rows:
            return 0
        return await self._send(rows)

    async def _send(self, rows: Sequence[OutboxRow]) -> int:
        _LOGGER.debug("uploading %d readings", len(rows))
        status, body, retry_after = await self._post(rows)
        _LOGGER.debug("server answered %s for %d readings", status, len(rows))
        outcome = verdict(status, body)
        if outcome is Verdict.SENT:
            await self._outbox.run(self._outbox.mark_sent, [r.seq for r in rows])
            _LOGGER.debug("marked %d readings sent", len(rows))
            if self.on_sent is not None:
                try:
                    self.on_sent(rows)
                except Exception:
                    _LOGGER.exception("the confirmation of %d sent rows failed", len(rows))
            return len(rows)
        if outcome is Verdict.REJECTED:
            if len(rows) > 1:  # find the one reading the server refuses
                middle = len(rows) // 2
                return await self._send(rows[:middle]) + await self._send(rows[middle:])
            _LOGGER.error("server refused a reading for good (HTTP %s); kept as rejected", status)
            await self._outbox.run(
                self._outbox.mark_rejected,
                rows[0].seq,
                body if body is not None else f"HTTP {status}",
            )
            return 1
        if outcome is Verdict.WAITING:
            if len(rows) > 1:  # the others go now; only the unresolvable ones wait
                middle = len(rows) // 2
                return await self._send(rows[:middle]) + await self._send(rows[middle:])
            delay = waiting_delay(rows[0].attempts + 1)
            reason = f"{WAITING_FOR_SERVER} {_diagnostics(body)}"
            _LOGGER.warning("%s; retry in %.0f s", reason, delay)
            await self._outbox.run(self._outbox.postpone, [rows[0].seq], delay, reason)
            return 0
        attempt = max(r.attempts for r in rows) + 1
        delay = next_retry_delay(attempt, retry_after)
        _LOGGER.warning(
            "upload of %d readings failed (%s); retry in %.1f s", len(rows), self.last_error, delay
        )
        await self._outbox.run(
            self._outbox.postpone, [r.seq for r in rows], delay, self.last_error or ""
        )
        return 0

    async def _post(self, rows: Sequence[OutboxRow]) -> tuple[int | None, Any, float | None]:
        entries = [BundleEntry(r.full_url, r.resource, r.if_none_exist) for r in rows]
        wanted = set().union(*(supporting_references(r.resource) for r in rows)) - {
            r.full_url for r in rows
        }
        lookup = self._outbox.lookup
        found = {s.full_url: s for s in await self._outbox.run(lookup, sorted(wanted))}
        # A supporting Observation (a coincident time stamp) may refer to Devices in turn.
        more = set().union(*(supporting_references(s.resource) for s in found.values())) - wanted
        found.update({s.full_url: s for s in await self._outbox.run(lookup, sorted(more))})
        entries += [BundleEntry(s.full_url, s.resource, s.if_none_exist) for s in found.values()]
        try:
            bundle = transaction_bundle(entries)
        except ValueError as exc:  # a reference nothing can resolve: no retry will help
            self.last_error = str(exc)
            return (
                422,
                {
                    "resourceType": "OperationOutcome",
                    "issue": [{"severity": "error", "code": "invalid", "diagnostics": str(exc)}],
                },
                None,
            )
        try:
            response = await self._client.post("", json=bundle)
        except httpx.HTTPError as exc:
            self.last_error = f"{type(exc).__name__}: {exc}"
            self.last_failure = time.time()
            return None, None, None
        self.last_contact = time.time()
        try:
            body = response.json()
        except ValueError:
            body = response.text[:1000]
        if response.status_code >= 300:
            self.last_error = f"HTTP {response.status_code}"
        else:
            self.last_error = None
        return (
            response.status_code,
            body,
            parse_retry_after(response.headers.get("retry-after"), time.time()),
        )


def _diagnostics(outcome: Any) -> str:
    """The issues' diagnostics of an OperationOutcome, in one line."""
    issues = outcome.get("issue", []) if isinstance(outcome, dict) else []
    return "; ".join(str(i.get("diagnostics", i.get("code"))) for i in issues)
