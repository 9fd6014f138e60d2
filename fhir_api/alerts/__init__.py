"""Alerts for care teams (issue 13): the pure core that decides.

Readings in (`readings_of` maps our FHIR Observations), alerts and changes out:
`evaluate` judges arriving readings, `scan` the time-based rules (no reading, gateway
offline, escalation), `acknowledge`/`resolve` are people's changes, and
`notifications` says who hears about which change, when, grouped how. Every function
here is pure, with the clock passed in; the queue (outbox, leases, delivery) stores the
state (`state_to_json`) and does the I/O around it.

Modules: `model` (value types), `defaults` (the clinic defaults and their sources),
`rules` (a patient's rules: defaults + overrides), `observations` (FHIR -> readings),
`evaluate`, `schedule`, `lifecycle`, `silences`, `notify`, `resources` (alert -> DetectedIssue).
"""

from .defaults import RULES
from .evaluate import evaluate
from .lifecycle import (
    AlertNotFound,
    LifecycleError,
    TransitionError,
    acknowledge,
    resolve,
)
from .model import (
    UNITS,
    Acknowledgement,
    Alert,
    Change,
    ChangeKind,
    Direction,
    GatewayState,
    Kind,
    Outcome,
    PatientState,
    Reading,
    Resolution,
    Rule,
    Sampling,
    Severity,
    Status,
    alert_from_json,
    alert_to_json,
    change_from_json,
    change_to_json,
    gateways_from_json,
    gateways_to_json,
    state_from_json,
    state_to_json,
)
from .notify import (
    Content,
    Delivery,
    Item,
    Notification,
    Recipient,
    notification_from_json,
    notification_to_json,
    notifications,
)
from .observations import readings_of
from .resources import detected_issue
from .rules import GATEWAY_OFFLINE, Overrides, Rules, no_reading_condition, rules_for
from .schedule import ScanOutcome, next_due, scan
from .silences import Silence

__all__ = [
    "GATEWAY_OFFLINE",
    "RULES",
    "UNITS",
    "Acknowledgement",
    "Alert",
    "AlertNotFound",
    "Change",
    "ChangeKind",
    "Content",
    "Delivery",
    "Direction",
    "GatewayState",
    "Item",
    "Kind",
    "LifecycleError",
    "Notification",
    "Outcome",
    "Overrides",
    "PatientState",
    "Reading",
    "Recipient",
    "Resolution",
    "Rule",
    "Rules",
    "Sampling",
    "ScanOutcome",
    "Severity",
    "Silence",
    "Status",
    "TransitionError",
    "acknowledge",
    "alert_from_json",
    "alert_to_json",
    "change_from_json",
    "change_to_json",
    "detected_issue",
    "evaluate",
    "gateways_from_json",
    "gateways_to_json",
    "next_due",
    "no_reading_condition",
    "notification_from_json",
    "notification_to_json",
    "notifications",
    "readings_of",
    "resolve",
    "rules_for",
    "scan",
    "state_from_json",
    "state_to_json",
]
