"""Settings from the clinic (issue 14): fetched, checked, applied while running, kept on disk.

The clinic keeps each patient's language, speech, volume, quiet hours, read-aloud
choice and measurement times on the server; the gateway reads the merged settings of
its home as a FHIR `Parameters` from `GET Device/$gateway-settings` (with
If-None-Match, so an unchanged answer is a bodiless 304), checks them with its own
models (`FeedbackConfig`, `ReminderConfig`), and hands them to `PatientSide.apply`.
The last good copy is kept in an owner-only file and applied at start, so the
clinic's settings stay in force while the server cannot be reached.

The home's devices come with them: which device, and which user slot of a shared
cuff, reads for which patient. For the slots the clinic binds its bindings replace
the local ones (`Bindings.overlaid`); they are handed to the gateway (`Gateway.rebind`)
and map every reading prepared from then on (readings already in the outbox keep
their patient). They are kept with the last copy like the rest.

What stays local: the pins, the button's patient and hold time, the care team and the
outage time (they belong to the hardware and the install). When the clinic has set
nothing for the home (an empty `Parameters`), the local file's settings apply as they
are; once it has, its reminders and read-aloud list replace the local ones.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import httpx
from pydantic import ValidationError

from .bindings import Binding, Bindings, _normal
from .mapping import PatientLink
from .mapping.devices import DeviceKind
from .settings import FeedbackConfig, ReminderConfig

__all__ = ["SETTINGS_PATH", "ClinicSettings", "clinic_bindings", "merged"]

_LOGGER = logging.getLogger(__name__)
SETTINGS_PATH = "Device/$gateway-settings"
Apply = Callable[[FeedbackConfig, list[ReminderConfig]], None]
ApplyBindings = Callable[[Bindings], None]


def _value(parameter: dict[str, Any]) -> Any:
    return next((v for k, v in parameter.items() if k.startswith("value")), None)


def merged(
    parameters: dict[str, Any], local: FeedbackConfig, local_reminders: Sequence[ReminderConfig]
) -> tuple[FeedbackConfig, list[ReminderConfig]]:
    """The settings in force: the clinic's `Parameters` over the local configuration (pure).

    Raises:
        ValueError: not a Parameters, or a value the gateway's models refuse (a typo
            in a time must not silence a reminder: the last good settings stay).
    """
    if parameters.get("resourceType") != "Parameters":
        raise ValueError("the clinic's settings are not a FHIR Parameters")
    # Device bindings are not voice or reminder settings: binding a cuff alone keeps
    # the local reminders (clinic_bindings reads them).
    given = [
        p
        for p in parameters.get("parameter", ())
        if isinstance(p, dict) and p.get("name") != "device"
    ]
    if not given:
        return local, list(local_reminders)
    fields = {"language": "language", "speech": "speech", "volume": "volume"}
    fields["quietHours"] = "quiet_hours"
    update: dict[str, Any] = {"read_values_for": []}
    reminders: list[ReminderConfig] = []
    try:
        for parameter in given:
            name = parameter.get("name")
            if name in fields:
                update[fields[name]] = _value(parameter)
            elif name == "readValuesFor":
                update["read_values_for"].append(str(_value(parameter)))
            elif name == "reminder":
                parts = [p for p in parameter.get("part", ()) if isinstance(p, dict)]
                named = {p.get("name"): _value(p) for p in parts if p.get("name") != "time"}
                times = [str(_value(p))[:5] for p in parts if p.get("name") == "time"]
                reminders.append(ReminderConfig.model_validate({**named, "times": times}))
        config = FeedbackConfig.model_validate({**local.model_dump(), **update})
    except ValidationError as exc:
        raise ValueError(f"the clinic's settings are not valid here: {exc}") from exc
    return config, reminders


def clinic_bindings(parameters: dict[str, Any]) -> list[Binding]:
    """The devices the clinic binds, one `Binding` per address (pure).

    Raises:
        ValueError: a device parameter the gateway cannot use (an unknown kind, a slot
            that is not a number, one address given two kinds): the last good stay.
    """
    found: dict[str, Binding] = {}
    for parameter in parameters.get("parameter", ()):
        if not isinstance(parameter, dict) or parameter.get("name") != "device":
            continue
        named = {p.get("name"): _value(p) for p in parameter.get("part", ()) if isinstance(p, dict)}
        address, patient, slot = named.get("address"), named.get("patient"), named.get("slot")
        try:
            kind = DeviceKind(str(named.get("kind")))
        except ValueError as exc:
            raise ValueError(f"the clinic binds {address!r} as an unknown kind") from exc
        if not isinstance(address, str) or not isinstance(patient, str) or not patient:
            raise ValueError(f"the clinic's device binding {named!r} lacks an address or patient")
        if slot is not None and (isinstance(slot, bool) or not isinstance(slot, int)):
            raise ValueError(f"the clinic's user slot {slot!r} for {address} is not a number")
        key = _normal(address)
        binding = found.setdefault(key, Binding(address, kind, {}))
        if binding.kind is not kind:
            raise ValueError(f"the clinic binds {address} as two kinds of device")
        binding.patients[slot] = PatientLink(logical_id=patient)
    return list(found.values())


class ClinicSettings:
    """Polls the clinic's settings and applies each change.

    Args:
        base_url: the FHIR base (`…/fhir`).
        token: the gateway's token.
        cache: the file the last good copy is kept in (owner-only).
        local: the local feedback configuration (pins, button, care team stay from it).
        local_reminders: the local reminder times (used while the clinic sets none).
        apply: takes the settings in force (`PatientSide.apply`).
        interval: seconds between polls.
        local_bindings: the devices bound at home (`gateway pair`, the local file).
        apply_bindings: takes the bindings in force (`Gateway.rebind`).
        transport: httpx transport (tests).
    """

    def __init__(
        self,
        base_url: str,
        token: str,
        cache: Path,
        *,
        local: FeedbackConfig,
        local_reminders: Sequence[ReminderConfig],
        apply: Apply,
        interval: float = 300.0,
        local_bindings: Bindings | None = None,
        apply_bindings: ApplyBindings | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.cache = cache
        self.local_bindings = local_bindings or Bindings([])
        self.apply_bindings = apply_bindings
        self.local = local
        self.local_reminders = list(local_reminders)
        self.apply = apply
        self.interval = interval
        self.etag: str | None = None
        self.applied: dict[str, Any] | None = None
        self._client = httpx.AsyncClient(
            base_url=base_url.rstrip("/") + "/",
            headers={"Authorization": f"Bearer {token}", "Accept": "application/fhir+json"},
            timeout=30.0,
            transport=transport,
        )

    def _use(self, parameters: dict[str, Any]) -> bool:
        try:
            config, reminders = merged(parameters, self.local, self.local_reminders)
            bindings = self.local_bindings.overlaid(clinic_bindings(parameters))
        except ValueError as exc:
            _LOGGER.error("clinic settings refused, the last ones stay: %s", exc)
            return False
        self.apply(config, reminders)
        if self.apply_bindings is not None:
            self.apply_bindings(bindings)
        self.applied = parameters
        return True

    def load_cached(self) -> bool:
        """Apply the last copy kept on disk (at start, before the server answers)."""
        try:
            kept = json.loads(self.cache.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return False
        except (OSError, ValueError) as exc:
            _LOGGER.warning("the kept clinic settings cannot be read (%s)", exc)
            return False
        if not isinstance(kept, dict) or not self._use(kept.get("parameters", {})):
            return False
        self.etag = kept.get("etag")
        _LOGGER.info("clinic settings applied from the last copy kept")
        return True

    def _keep(self, parameters: dict[str, Any]) -> None:
        """Write the copy owner-only, whole or not at all (a power cut mid-write)."""
        self.cache.parent.mkdir(parents=True, exist_ok=True)
        partial = self.cache.with_suffix(".tmp")
        body = json.dumps({"etag": self.etag, "parameters": parameters}, ensure_ascii=False)
        descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as file:
            file.write(body)
            file.flush()
            os.fsync(file.fileno())
        os.chmod(partial, 0o600)
        os.replace(partial, self.cache)

    async def poll(self) -> bool:
        """Ask the server once; True when new settings were applied.

        An unreachable server, an error answer or settings the models refuse change
        nothing: the settings in force stay.
        """
        headers = {"If-None-Match": self.etag} if self.etag else {}
        try:
            response = await self._client.get(SETTINGS_PATH, headers=headers)
        except httpx.HTTPError as exc:
            _LOGGER.info("clinic settings not fetched (%s); the last ones stay", exc)
            return False
        if response.status_code == 304:
            return False
        if response.status_code != 200:
            _LOGGER.warning("clinic settings: HTTP %d; the last ones stay", response.status_code)
            return False
        try:
            parameters = response.json()
        except ValueError:
            _LOGGER.warning("clinic settings: the answer is not JSON; the last ones stay")
            return False
        if not isinstance(parameters, dict) or not self._use(parameters):
            return False
        self.etag = response.headers.get("ETag")
        try:
            self._keep(parameters)
        except OSError as exc:
            _LOGGER.warning("clinic settings applied but not kept on disk (%s)", exc)
        _LOGGER.info("clinic settings applied")
        return True

    async def run(self) -> None:
        """The last copy, then a poll every `interval` seconds, until cancelled."""
        self.load_cached()
        while True:
            await self.poll()
            await asyncio.sleep(self.interval)

    async def aclose(self) -> None:
        """Close the HTTP client."""
        await self._client.aclose()
