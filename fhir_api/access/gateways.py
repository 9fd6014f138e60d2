"""Home gateways: which patients each serves and which Devices it owns.

A gateway token can only write for the patients its gateway is bound to and see
only what that gateway created. Binding is an admin's act
(`homevitals admin gateway-token create --gateway NAME --patient ID …`), recorded
here; the Devices a gateway creates become its own as it creates them.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Engine, delete, insert, select, update

from ..errors import BadRequest, NotFound
from ..storage.schema import gateway_patients, gateways, resource_owners, resources

__all__ = ["GatewayInfo", "GatewayRegistry"]


@dataclass(frozen=True, slots=True)
class GatewayInfo:
    """A gateway, its patients and whether it is disabled."""

    name: str
    patients: tuple[str, ...]
    devices: tuple[str, ...]
    disabled: bool


class GatewayRegistry:
    """Register gateways, bind them to patients, give them Devices made before them."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def bind(self, name: str, patient_ids: Sequence[str]) -> None:
        """Create the gateway if new and add `patient_ids` to the patients it serves.

        Raises:
            BadRequest: a patient the server does not hold.
        """
        with self._engine.begin() as connection:
            live = set(
                connection.execute(
                    select(resources.c.id).where(
                        resources.c.resource_type == "Patient",
                        resources.c.id.in_(sorted(set(patient_ids))),
                        resources.c.deleted.is_(False),
                    )
                ).scalars()
            )
            missing = sorted(set(patient_ids) - live)
            if missing:
                raise BadRequest(f"no Patient/{missing[0]} on this server")
            known = connection.execute(select(gateways.c.name).where(gateways.c.name == name))
            if known.first() is None:
                connection.execute(
                    insert(gateways).values(name=name, created_ms=int(time.time() * 1000))
                )
            bound = set(
                connection.execute(
                    select(gateway_patients.c.patient_id).where(gateway_patients.c.gateway == name)
                ).scalars()
            )
            new = sorted(set(patient_ids) - bound)
            if new:
                connection.execute(
                    insert(gateway_patients), [{"gateway": name, "patient_id": p} for p in new]
                )

    def unbind(self, name: str, patient_ids: Sequence[str]) -> int:
        """Stop serving those patients; returns how many bindings went."""
        with self._engine.begin() as connection:
            result = connection.execute(
                delete(gateway_patients).where(
                    gateway_patients.c.gateway == name,
                    gateway_patients.c.patient_id.in_(sorted(set(patient_ids))),
                )
            )
        return int(result.rowcount or 0)

    def set_disabled(self, name: str, disabled: bool) -> None:
        """Disable a gateway (all its tokens are refused) or enable it again.

        Raises:
            NotFound: no such gateway.
        """
        with self._engine.begin() as connection:
            result = connection.execute(
                update(gateways)
                .where(gateways.c.name == name)
                .values(disabled_ms=int(time.time() * 1000) if disabled else None)
            )
        if not result.rowcount:
            raise NotFound(f"no gateway named {name!r}")

    def claim_device(self, name: str, device_id: str) -> None:
        """Make an existing Device (created before its gateway had a token) the gateway's own.

        Raises:
            NotFound: no such gateway or Device.
            BadRequest: the Device belongs to another gateway.
        """
        with self._engine.begin() as connection:
            if (
                connection.execute(select(gateways.c.name).where(gateways.c.name == name)).first()
                is None
            ):
                raise NotFound(f"no gateway named {name!r}")
            device = connection.execute(
                select(resources.c.id).where(
                    resources.c.resource_type == "Device",
                    resources.c.id == device_id,
                    resources.c.deleted.is_(False),
                )
            ).first()
            if device is None:
                raise NotFound(f"no Device/{device_id} on this server")
            owner = connection.execute(
                select(resource_owners.c.gateway).where(
                    resource_owners.c.resource_type == "Device",
                    resource_owners.c.resource_id == device_id,
                )
            ).scalar()
            if owner == name:
                return
            if owner is not None:
                raise BadRequest(f"Device/{device_id} belongs to gateway {owner!r}")
            connection.execute(
                insert(resource_owners).values(
                    resource_type="Device", resource_id=device_id, gateway=name
                )
            )

    def describe(self, name: str) -> GatewayInfo:
        """A gateway's patients and Devices.

        Raises:
            NotFound: no such gateway.
        """
        with self._engine.connect() as connection:
            row = connection.execute(select(gateways).where(gateways.c.name == name)).first()
            if row is None:
                raise NotFound(f"no gateway named {name!r}")
            patients = connection.execute(
                select(gateway_patients.c.patient_id)
                .where(gateway_patients.c.gateway == name)
                .order_by(gateway_patients.c.patient_id)
            ).scalars()
            devices = connection.execute(
                select(resource_owners.c.resource_id)
                .where(
                    resource_owners.c.gateway == name, resource_owners.c.resource_type == "Device"
                )
                .order_by(resource_owners.c.resource_id)
            ).scalars()
            return GatewayInfo(name, tuple(patients), tuple(devices), row.disabled_ms is not None)

    def names(self) -> list[str]:
        """Every gateway's name."""
        with self._engine.connect() as connection:
            return list(
                connection.execute(select(gateways.c.name).order_by(gateways.c.name)).scalars()
            )
