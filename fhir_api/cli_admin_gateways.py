"""`homevitals admin patient|practitioner|careteam|gateway|gateway-token|staff-token …`.

What an administrator does from the server's command line: register patients,
practitioners and care teams (stored as FHIR resources, through the same service
and validation as the API), bind home gateways to their patients and give each
gateway its token, and give staff accounts API tokens. Handlers import what they
use, so building the parser stays cheap for the gateway's commands.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from .service import FhirService

__all__ = ["register"]

_JP_ZONE = "Asia/Tokyo"
_TZ_EXTENSION = "http://hl7.org/fhir/StructureDefinition/tz-code"


def _engine(args: argparse.Namespace) -> Engine:
    from .cli import _settings
    from .storage.database import make_engine, migrate

    engine = make_engine(_settings(args).sqlalchemy_url)
    migrate(engine)
    return engine


def _service(args: argparse.Namespace) -> FhirService:
    from .cli import _settings
    from .service import FhirService
    from .storage.resources import ResourceStore
    from .storage.series.sql import SqlSeriesStore

    settings = _settings(args)
    engine = _engine(args)
    return FhirService(ResourceStore(engine, SqlSeriesStore(engine, settings.zone), settings.zone))


def _audit(
    engine: Engine,
    action: str,
    subtype: str,
    *,
    patients: tuple[str, ...] = (),
    entities: tuple[str, ...] = (),
    detail: str | None = None,
) -> None:
    """Put an administrator's act on the audit trail (agent `cli:<operating-system user>`)."""
    import getpass
    import time

    from .audit.log import AuditLog
    from .audit.record import AuditRecord

    record = AuditRecord(
        action=action,
        subtype=subtype,
        outcome="0",
        agent=f"cli:{getpass.getuser()}",
        recorded_ms=int(time.time() * 1000),
        patients=patients,
        entities=entities,
        detail=detail,
    )
    with engine.begin() as connection:
        AuditLog(engine).record_in(connection, [record])


def _fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 2


def _create(
    args: argparse.Namespace,
    resource: dict[str, Any],
    *,
    patient_of: Callable[[str], str] | None = None,
) -> int:
    """Create `resource` as an administrator, put it on the audit trail and print its id.

    `patient_of` names the patient the new resource belongs to (from its new id), for
    the AuditEvent's patient entity.
    """
    from .errors import FhirError

    kind = str(resource["resourceType"])
    service = _service(args)
    try:
        stored = service.create(kind, resource).stored
    except FhirError as exc:
        return _fail(str(exc))
    patients = (patient_of(stored.id),) if patient_of else ()
    _audit(
        service.store.engine, "C", "create", patients=patients, entities=(f"{kind}/{stored.id}",)
    )
    print(stored.id)
    return 0


def _name(family: str, given: list[str]) -> dict[str, Any]:
    name: dict[str, Any] = {"family": family, "text": " ".join([family, *given])}
    if given:
        name["given"] = given
    return name


def _patient_create(args: argparse.Namespace) -> int:
    patient: dict[str, Any] = {
        "resourceType": "Patient",
        "name": [_name(args.family, args.given or [])],
        "extension": [{"url": _TZ_EXTENSION, "valueCode": args.tz}],
    }
    if args.kana:
        patient["name"].append(
            {
                "extension": [
                    {
                        "url": "http://hl7.org/fhir/StructureDefinition/iso21090-EN-representation",
                        "valueCode": "SYL",
                    }
                ],
                "text": args.kana,
            }
        )
    if args.identifier:
        system, _, value = args.identifier.rpartition("|")
        patient["identifier"] = [{**({"system": system} if system else {}), "value": value}]
    if args.birth_date:
        patient["birthDate"] = args.birth_date
    if args.gender:
        patient["gender"] = args.gender
    return _create(args, patient, patient_of=lambda new_id: new_id)


def _practitioner_create(args: argparse.Namespace) -> int:
    practitioner = {"resourceType": "Practitioner", "name": [_name(args.family, args.given or [])]}
    return _create(args, practitioner)


def _careteam_create(args: argparse.Namespace) -> int:
    team = {
        "resourceType": "CareTeam",
        "status": "active",
        "name": args.name or f"Care team of Patient/{args.patient}",
        "subject": {"reference": f"Patient/{args.patient}"},
        "participant": [{"member": {"reference": f"Practitioner/{m}"}} for m in args.member],
    }
    return _create(args, team, patient_of=lambda _new_id: args.patient)


def _careteam_change(args: argparse.Namespace) -> int:
    from .errors import FhirError

    service = _service(args)
    try:
        team = dict(service.read("CareTeam", args.careteam).content)
        members = [p for p in team.get("participant", []) if isinstance(p, dict)]
        reference = f"Practitioner/{args.member}"
        present = any((p.get("member") or {}).get("reference") == reference for p in members)
        if args.careteam_command == "add-member" and not present:
            members.append({"member": {"reference": reference}})
        elif args.careteam_command == "remove-member":
            members = [p for p in members if (p.get("member") or {}).get("reference") != reference]
        team["participant"] = members
        if not members:
            team.pop("participant")
        service.update("CareTeam", args.careteam, team)
    except FhirError as exc:
        return _fail(str(exc))
    subject = str((team.get("subject") or {}).get("reference", "")).removeprefix("Patient/")
    _audit(
        service.store.engine,
        "U",
        "update",
        patients=(subject,) if subject else (),
        entities=(f"CareTeam/{args.careteam}", reference),
    )
    print(json.dumps([p["member"]["reference"] for p in members]))
    return 0


def _gateway_token_create(args: argparse.Namespace) -> int:
    from .access.gateways import GatewayRegistry
    from .auth import TokenStore
    from .errors import FhirError
    from .roles import TokenKind

    engine = _engine(args)
    try:
        GatewayRegistry(engine).bind(args.gateway, args.patient)
        token = TokenStore(engine).create(
            args.gateway, TokenKind.GATEWAY, gateway=args.gateway, scopes=args.scopes
        )
    except FhirError as exc:
        return _fail(str(exc))
    _audit(
        engine,
        "E",
        "gateway-token-create",
        patients=tuple(args.patient),
        detail=f"gateway {args.gateway}",
    )
    print(token)
    print(
        f"(gateway {args.gateway}, patients {', '.join(args.patient)}: shown once, "
        "stored only as a hash)",
        file=sys.stderr,
    )
    return 0


def _gateway_token_revoke(args: argparse.Namespace) -> int:
    from .auth import TokenStore

    engine = _engine(args)
    count = TokenStore(engine).revoke(args.gateway)
    _audit(engine, "E", "gateway-token-revoke", detail=f"gateway {args.gateway}: {count}")
    print(f"revoked {count} token(s) of gateway {args.gateway}")
    return 0 if count else 1


def _gateway_change(args: argparse.Namespace) -> int:
    from .access.gateways import GatewayRegistry
    from .errors import FhirError

    engine = _engine(args)
    registry = GatewayRegistry(engine)
    command = args.gateway_command
    try:
        if command == "bind":
            registry.bind(args.gateway, args.patient)
        elif command == "unbind":
            registry.unbind(args.gateway, args.patient)
        elif command in ("disable", "enable"):
            registry.set_disabled(args.gateway, command == "disable")
        elif command == "claim-device":
            registry.claim_device(args.gateway, args.device)
        info = registry.describe(args.gateway)
    except FhirError as exc:
        return _fail(str(exc))
    if command != "show":
        _audit(
            engine,
            "E",
            f"gateway-{command}",
            patients=tuple(getattr(args, "patient", None) or ()),
            detail=f"gateway {args.gateway}",
        )
    print(
        json.dumps(
            {
                "gateway": info.name,
                "patients": list(info.patients),
                "devices": list(info.devices),
                "disabled": info.disabled,
            }
        )
    )
    return 0


def _staff_token_create(args: argparse.Namespace) -> int:
    from sqlalchemy import select

    from .auth import TokenStore
    from .errors import FhirError
    from .roles import TokenKind
    from .storage.schema import staff_accounts

    engine = _engine(args)
    with engine.connect() as connection:
        account = connection.execute(
            select(staff_accounts.c.id).where(staff_accounts.c.username == args.username)
        ).scalar()
    if account is None:
        return _fail(f"no staff account {args.username!r}")
    try:
        token = TokenStore(engine).create(
            args.name or args.username, TokenKind.STAFF, account_id=account, scopes=args.scopes
        )
    except FhirError as exc:
        return _fail(str(exc))
    _audit(engine, "E", "staff-token-create", detail=f"account {args.username}")
    print(token)
    print(f"(staff token of {args.username}: shown once, stored only as a hash)", file=sys.stderr)
    return 0


def register(admin: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add this module's groups to `homevitals admin`."""
    patient = admin.add_parser("patient", help="register patients")
    patient_commands = patient.add_subparsers(dest="patient_command", required=True)
    create = patient_commands.add_parser("create", help="create a Patient and print its id")
    create.add_argument("--family", required=True)
    create.add_argument("--given", action="append")
    create.add_argument("--kana", help="the name's reading in kana (JP Core: SYL)")
    create.add_argument("--identifier", help="[system|]value, e.g. the clinic's patient number")
    create.add_argument("--birth-date")
    create.add_argument("--gender", choices=["male", "female", "other", "unknown"])
    create.add_argument("--tz", default=_JP_ZONE, help=f"IANA time zone (default {_JP_ZONE})")
    create.add_argument("--data-dir")
    create.set_defaults(handler=_patient_create)

    practitioner = admin.add_parser("practitioner", help="register practitioners (staff)")
    practitioner_commands = practitioner.add_subparsers(dest="practitioner_command", required=True)
    create = practitioner_commands.add_parser("create", help="create one and print its id")
    create.add_argument("--family", required=True)
    create.add_argument("--given", action="append")
    create.add_argument("--data-dir")
    create.set_defaults(handler=_practitioner_create)

    careteam = admin.add_parser("careteam", help="who looks after which patient")
    careteam_commands = careteam.add_subparsers(dest="careteam_command", required=True)
    create = careteam_commands.add_parser("create", help="create a CareTeam and print its id")
    create.add_argument("--patient", required=True)
    create.add_argument("--member", action="append", required=True, help="a Practitioner id")
    create.add_argument("--name")
    create.add_argument("--data-dir")
    create.set_defaults(handler=_careteam_create)
    for verb in ("add-member", "remove-member"):
        change = careteam_commands.add_parser(verb, help=f"{verb.replace('-', ' ')} (Practitioner)")
        change.add_argument("--careteam", required=True)
        change.add_argument("--member", required=True, help="a Practitioner id")
        change.add_argument("--data-dir")
        change.set_defaults(handler=_careteam_change)

    gateway_token = admin.add_parser("gateway-token", help="a home gateway's token")
    token_commands = gateway_token.add_subparsers(dest="gateway_token_command", required=True)
    create = token_commands.add_parser(
        "create", help="bind the gateway to its patients and print a new token once"
    )
    create.add_argument("--gateway", required=True, help="the gateway's name, e.g. home-12")
    create.add_argument("--patient", action="append", required=True, help="a Patient id")
    create.add_argument("--scopes", help="narrower SMART scopes (patient/...)")
    create.add_argument("--data-dir")
    create.set_defaults(handler=_gateway_token_create)
    revoke = token_commands.add_parser("revoke", help="revoke every token of the gateway")
    revoke.add_argument("--gateway", required=True)
    revoke.add_argument("--data-dir")
    revoke.set_defaults(handler=_gateway_token_revoke)

    gateway = admin.add_parser("gateway", help="a gateway's patients, Devices and state")
    gateway_commands = gateway.add_subparsers(dest="gateway_command", required=True)
    for verb, text in (("bind", "serve these patients too"), ("unbind", "stop serving them")):
        change = gateway_commands.add_parser(verb, help=text)
        change.add_argument("--gateway", required=True)
        change.add_argument("--patient", action="append", required=True)
        change.add_argument("--data-dir")
        change.set_defaults(handler=_gateway_change)
    for verb, text in (
        ("show", "print the gateway's patients and Devices"),
        ("disable", "refuse all its tokens"),
        ("enable", "accept its tokens again"),
    ):
        change = gateway_commands.add_parser(verb, help=text)
        change.add_argument("--gateway", required=True)
        change.add_argument("--data-dir")
        change.set_defaults(handler=_gateway_change)
    claim = gateway_commands.add_parser(
        "claim-device", help="make a Device created before the gateway had a token its own"
    )
    claim.add_argument("--gateway", required=True)
    claim.add_argument("--device", required=True, help="a Device id")
    claim.add_argument("--data-dir")
    claim.set_defaults(handler=_gateway_change)

    staff_token = admin.add_parser("staff-token", help="an API token for a staff account")
    staff_commands = staff_token.add_subparsers(dest="staff_token_command", required=True)
    create = staff_commands.add_parser("create", help="print a new token once")
    create.add_argument("--username", required=True)
    create.add_argument("--name", help="a label (default: the username)")
    create.add_argument("--scopes", help="narrower SMART scopes (user/...)")
    create.add_argument("--data-dir")
    create.set_defaults(handler=_staff_token_create)
