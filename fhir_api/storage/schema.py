"""Database tables (SQLAlchemy 2 Core). Alembic migrations in fhir_api/migrations create them.

Times are stored as integer epoch milliseconds (UTC): the same arithmetic for
day buckets works on SQLite and PostgreSQL, and it is what the series store
and the search index compare.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    false,
)

from .compression import CompressedJSON

__all__ = [
    "alert_leases",
    "alert_notifications",
    "alert_preferences",
    "alert_recipients",
    "alert_silences",
    "alert_state",
    "alert_work",
    "alerts",
    "api_tokens",
    "audit_chain_head",
    "audit_event_patients",
    "audit_events",
    "compression_dictionaries",
    "gateway_patients",
    "gateways",
    "identifiers",
    "login_throttle",
    "metadata",
    "resource_owners",
    "resource_versions",
    "resources",
    "search_dates",
    "search_references",
    "search_strings",
    "search_terms",
    "search_tokens",
    "series_codes",
    "series_observations",
    "series_outbox",
    "series_rollups",
    "series_subjects",
    "series_zones",
    "staff_accounts",
    "vital_daily",
    "vital_series",
    "web_sessions",
]

metadata = MetaData()

# The current version of every resource, its JSON compressed (compression.py). The
# history keeps only the versions before it: one copy of each version (issue 15).
# `key`: the resource's integer key (SQLite: the rowid itself; PostgreSQL: an identity),
# which the search index rows name instead of repeating the type and a 36-character id.
resources = Table(
    "resources",
    metadata,
    Column(
        "key", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("resource_type", String(64), nullable=False),
    Column("id", String(64), nullable=False),
    Column("version_id", Integer, nullable=False),
    Column("last_updated", BigInteger, nullable=False),
    Column("deleted", Boolean, nullable=False),
    Column("content", CompressedJSON, nullable=False),  # "" once deleted
)
Index("ux_resources_id", resources.c.resource_type, resources.c.id, unique=True)

# The versions before the current one (which is in `resources` only), by resource key:
# a reading never updated costs no row here (issue 15). History reads are these rows
# and the current version together (resources.versions_query).
resource_versions = Table(
    "resource_versions",
    metadata,
    Column("resource_key", BigInteger, primary_key=True, autoincrement=False),
    Column("version_id", Integer, primary_key=True, autoincrement=False),
    Column("last_updated", BigInteger, nullable=False),
    Column("deleted", Boolean, nullable=False),
    Column("content", CompressedJSON, nullable=False),  # "" for a deleted version
    sqlite_with_rowid=False,
)

# The dictionaries resource JSON is compressed with, by the id each stored value names.
compression_dictionaries = Table(
    "compression_dictionaries",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=False),
    Column("created_ms", BigInteger, nullable=False),
    Column("content", LargeBinary, nullable=False),
)

# One row per business identifier: its value, the term of its type and system
# (`search_terms`: type, "identifier", system, "") and the resource's key. The primary
# key is the de-duplication guarantee: two concurrent conditional creates of the same
# reading cannot both commit. It leads with the value, so it also serves look-ups by
# value with or without a system (conditional creates, a transaction's gathered
# look-ups). WITHOUT ROWID on SQLite: the table is that key's B-tree (issue 15).
identifiers = Table(
    "identifiers",
    metadata,
    Column("value", String(512), primary_key=True),
    Column("term", BigInteger, primary_key=True, autoincrement=False),
    Column("resource_key", BigInteger, nullable=False),
    sqlite_with_rowid=False,
)
Index("ix_identifiers_resource", identifiers.c.resource_key)

# --- the search index (issue 15): integer keys, not repeated text --------------------------
# A term is what an index row says of a resource, numbered once: a token's (type, param,
# system, code), a reference's (type, param, "", target), and for a date or string
# parameter the parameter itself (type, param, "", ""). Index rows hold the resource's
# key and a term's id: a few bytes where each row repeated the type, a 36-character id,
# the parameter and the system URL. Terms are never deleted (there are few: codes,
# statuses, the patients and devices referred to).
search_terms = Table(
    "search_terms",
    metadata,
    Column(
        "id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("resource_type", String(64), nullable=False),
    Column("param", String(64), nullable=False),
    Column("system", String(512), nullable=False),
    Column("code", String(512), nullable=False),
)
# Leads with the code: a search by code with or without its system is one range.
Index(
    "ux_search_terms",
    search_terms.c.resource_type,
    search_terms.c.param,
    search_terms.c.code,
    search_terms.c.system,
    unique=True,
)

# The resources with a term (code=, status=): the primary key, a WITHOUT ROWID B-tree on
# SQLite (a row is its key: half the bytes of a table plus an index); a resource's
# terms (EXISTS, unindexing): the second index.
search_tokens = Table(
    "search_tokens",
    metadata,
    Column("term", BigInteger, primary_key=True, autoincrement=False),
    Column("resource_key", BigInteger, primary_key=True, autoincrement=False),
    sqlite_with_rowid=False,
)
Index("ix_search_tokens_resource", search_tokens.c.resource_key, search_tokens.c.term)

search_references = Table(
    "search_references",
    metadata,
    Column("term", BigInteger, nullable=False),  # (type, param, "", target)
    Column("resource_key", BigInteger, nullable=False),
)
Index("ix_search_references_lookup", search_references.c.term, search_references.c.resource_key)
Index("ix_search_references_resource", search_references.c.resource_key, search_references.c.term)

search_dates = Table(
    "search_dates",
    metadata,
    Column("term", BigInteger, nullable=False),  # the parameter: (type, param, "", "")
    Column("resource_key", BigInteger, nullable=False),
    Column("start_ms", BigInteger, nullable=False),
    Column("end_ms", BigInteger, nullable=False),
    # True: [start_ms, end_ms) is a wall-clock range (a date without offset), not instants.
    Column("floating", Boolean, nullable=False, server_default=false()),
)
Index("ix_search_dates_lookup", search_dates.c.term, search_dates.c.start_ms)
Index("ix_search_dates_resource", search_dates.c.resource_key, search_dates.c.term)

search_strings = Table(
    "search_strings",
    metadata,
    Column("term", BigInteger, nullable=False),  # the parameter: (type, param, "", "")
    Column("resource_key", BigInteger, nullable=False),
    Column("value", String(512), nullable=False),  # normalized: case and accents folded
    Column("value_exact", String(512), nullable=False, server_default=""),  # as written
)
Index("ix_search_strings_lookup", search_strings.c.term, search_strings.c.value)
Index("ix_search_strings_resource", search_strings.c.resource_key)

# Bearer tokens, stored as SHA-256 of the (high-entropy, random) token. `role` is the
# token's kind (roles.TokenKind); `scopes` its SMART v2 scopes, space-separated;
# a gateway token names its gateway, a staff token its account.
api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(128), nullable=False),
    Column("role", String(32), nullable=False),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("created_ms", BigInteger, nullable=False),
    Column("revoked_ms", BigInteger, nullable=True),
    Column("scopes", Text, nullable=False, server_default=""),
    Column("gateway", String(128), nullable=True),
    Column("account_id", Integer, nullable=True),
)

# Staff accounts (roles.StaffRole). Each is a FHIR Practitioner; its patients are
# those of the CareTeams that name that Practitioner. Passwords are Argon2id hashes;
# recovery codes are kept as hashes too (a JSON list). No row exists until an admin
# creates one: there is no default account.
staff_accounts = Table(
    "staff_accounts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("username", String(128), nullable=False, unique=True),
    Column("display_name", String(256), nullable=False, server_default=""),
    Column("roles", String(256), nullable=False),  # comma-separated StaffRole values
    Column("practitioner_id", String(64), nullable=True),
    Column("password_hash", Text, nullable=True),
    Column("password_set_ms", BigInteger, nullable=True),
    Column("totp_secret", String(128), nullable=True),
    Column("totp_confirmed_ms", BigInteger, nullable=True),
    Column("recovery_codes", Text, nullable=False, server_default="[]"),
    Column("failed_logins", Integer, nullable=False, server_default="0"),
    Column("locked_until_ms", BigInteger, nullable=True),
    Column("created_ms", BigInteger, nullable=False),
    Column("disabled_ms", BigInteger, nullable=True),
    # Set when an admin sets or resets the password: the next login must change it.
    Column("must_change_password", Boolean, nullable=False, server_default=false()),
    # The TOTP time step last accepted: a code is good once (no replay within its window).
    Column("totp_last_step", BigInteger, nullable=True),
)

# Web sessions of staff accounts: the cookie holds a random id, only its SHA-256 is kept.
# `stage` is how far the login has come (accounts.sessions.Stage); `created_ms` bounds
# the session's whole life, `seen_ms` its idle time.
web_sessions = Table(
    "web_sessions",
    metadata,
    Column("id_hash", String(64), primary_key=True),
    Column("account_id", Integer, nullable=False),
    Column("stage", String(16), nullable=False),
    Column("created_ms", BigInteger, nullable=False),
    Column("seen_ms", BigInteger, nullable=False),
)
Index("ix_web_sessions_account", web_sessions.c.account_id)

# Failed logins per client address and per username that names no account (an existing
# account counts on its own row, staff_accounts.failed_logins): shared by every worker.
login_throttle = Table(
    "login_throttle",
    metadata,
    Column("key", String(200), primary_key=True),  # "address:<ip>" or "user:<name>"
    Column("failures", Integer, nullable=False),
    Column("last_failure_ms", BigInteger, nullable=False),
    Column("locked_until_ms", BigInteger, nullable=True),
)

# Home gateways and the patients each serves: what a gateway token may write for.
gateways = Table(
    "gateways",
    metadata,
    Column("name", String(128), primary_key=True),
    Column("created_ms", BigInteger, nullable=False),
    Column("disabled_ms", BigInteger, nullable=True),
)

gateway_patients = Table(
    "gateway_patients",
    metadata,
    Column("gateway", String(128), primary_key=True),
    Column("patient_id", String(64), primary_key=True),
)
Index("ix_gateway_patients_patient", gateway_patients.c.patient_id)

# Which gateway created a resource: a gateway token sees and updates only its own
# (its Devices, its readings), so a stolen token reveals no other home.
resource_owners = Table(
    "resource_owners",
    metadata,
    Column("resource_type", String(64), primary_key=True),
    Column("resource_id", String(64), primary_key=True),
    Column("gateway", String(128), nullable=False),
)
Index("ix_resource_owners_gateway", resource_owners.c.gateway, resource_owners.c.resource_type)

# Vital-sign series (the SQL backends). A point is a few tens of bytes (issue 15): the
# subject, the series code and the rollups' zone are small integers into the lookup
# tables below, the unit is the code's (one per code, series/units.py), and a point
# names its Observation by its resource key (`resources.key`).
series_subjects = Table(
    "series_subjects",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("subject", String(128), nullable=False, unique=True),  # "Patient/<id>"
)

series_codes = Table(
    "series_codes",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("code", String(64), nullable=False, unique=True),  # a LOINC code, or `code@in-bed`
    Column("unit", String(32), nullable=False),  # the canonical unit of its values
)

series_zones = Table(
    "series_zones",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("zone", String(64), nullable=False, unique=True),  # an IANA name
)

# One row per Observation with points: its resource key (`resources.key`, which the
# points name it by), and where its points lie (subject and first..last instant), so
# they are found through the clustered key: no second index repeats every point. The
# Observation's id is its `resources` row's, found by the key (issue 15).
series_observations = Table(
    "series_observations",
    metadata,
    Column("key", BigInteger, primary_key=True, autoincrement=False),  # resources.key
    Column("subject_id", Integer, nullable=False),
    Column("first_ms", BigInteger, nullable=False),
    Column("last_ms", BigInteger, nullable=False),
)

# The points, clustered on (subject, code, time) for charts; WITHOUT ROWID on SQLite:
# the table is its primary key's B-tree.
vital_series = Table(
    "vital_series",
    metadata,
    Column("subject_id", Integer, primary_key=True),
    Column("code_id", Integer, primary_key=True),
    Column("ts_ms", BigInteger, primary_key=True),
    Column("observation", BigInteger, primary_key=True),  # the Observation's resources.key
    Column("value", Float, nullable=False),
    sqlite_with_rowid=False,
)

# Daily rollups of vital_series for charts, per calendar day in one time zone (the
# server's); kept by every write in the same transaction as the points themselves.
vital_daily = Table(
    "vital_daily",
    metadata,
    Column("subject_id", Integer, primary_key=True),
    Column("code_id", Integer, primary_key=True),
    Column("zone_id", Integer, primary_key=True),
    Column("day", Integer, primary_key=True),  # days since 1970-01-01 in that zone
    Column("minimum", Float, nullable=False),
    Column("maximum", Float, nullable=False),
    Column("total", Float, nullable=False),
    Column("readings", Integer, nullable=False),
    sqlite_with_rowid=False,
)

# The zone whose rollups are complete (built from every point and kept since).
series_rollups = Table(
    "series_rollups",
    metadata,
    Column("zone", String(64), primary_key=True),
    Column("built_ms", BigInteger, nullable=False),
)

# Observations whose points still have to reach an external series store (InfluxDB).
# Written in the same transaction as the resource, so a failure is retried, never lost.
series_outbox = Table(
    "series_outbox",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("observation_id", String(64), nullable=False),
    Column("created_ms", BigInteger, nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("last_error", Text, nullable=True),
)

# The audit trail (fhir_api/audit): one row per AuditEvent, append-only. `seq` is
# given by the writer under the chain head's lock (no gaps: a missing number is a
# deleted row); `hash` chains each row to the one before (fhir_api/audit/chain.py).
# The other columns repeat what `content` says, for search; verify checks they agree.
# Triggers (migration 0008) refuse UPDATE and DELETE on both tables.
audit_events = Table(
    "audit_events",
    metadata,
    # INTEGER on SQLite: the rowid itself, so rows are stored in chain order.
    Column(
        "seq", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=False
    ),
    Column("recorded_ms", BigInteger, nullable=False),
    Column("agent", String(256), nullable=False),
    Column("action", String(1), nullable=False),
    Column("subtype", String(64), nullable=False),
    Column("outcome", String(2), nullable=False),
    Column("content", Text, nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
)
Index("ix_audit_events_agent", audit_events.c.agent, audit_events.c.seq)
Index("ix_audit_events_recorded", audit_events.c.recorded_ms, audit_events.c.seq)
Index("ix_audit_events_action", audit_events.c.action, audit_events.c.seq)

# The patients each event touched (search by patient, newest first).
audit_event_patients = Table(
    "audit_event_patients",
    metadata,
    Column("patient_id", String(64), primary_key=True),
    Column("seq", BigInteger, primary_key=True),
)
Index("ix_audit_event_patients_seq", audit_event_patients.c.seq)

# The chain's last link, one row (id 1): appending locks it (FOR UPDATE on
# PostgreSQL; SQLite's write lock does the same), so the chain stays one line with
# several workers and servers. It also tells verify where the chain should end.
audit_chain_head = Table(
    "audit_chain_head",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("seq", BigInteger, nullable=False),
    Column("hash", String(64), nullable=False),
)

# --- alerts (issue 13): the database is the queue -------------------------------------------
# Readings still to be evaluated. Written in the same transaction as the Observation
# (FhirService._write), deleted in the transaction that evaluates them: a crash between
# storing and evaluating loses nothing, and a reading is evaluated once.
alert_work = Table(
    "alert_work",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("observation_id", String(64), nullable=False),
    Column("patient_id", String(64), nullable=False),
    Column("created_ms", BigInteger, nullable=False),
)
Index("ix_alert_work_patient", alert_work.c.patient_id, alert_work.c.seq)

# Each patient's evaluation state (JSON the rules keep between readings). Its row is the
# patient's lock: a worker evaluates a patient only while it holds the row (FOR UPDATE on
# PostgreSQL, SQLite's write lock), so two workers never evaluate one patient at once.
# `due_ms`: when the time-based rules must next look at the patient (no-reading,
# escalation), indexed so a scan never reads every patient.
alert_state = Table(
    "alert_state",
    metadata,
    Column("patient_id", String(64), primary_key=True),
    Column("state", Text, nullable=False, server_default="{}"),
    Column("due_ms", BigInteger, nullable=True),
    Column("updated_ms", BigInteger, nullable=False),
)
Index("ix_alert_state_due", alert_state.c.due_ms)

# Alerts as the rules last left them (one row per alert; the rules keep one open alert per
# patient and condition). `content` is the rules' own record of it (JSON).
alerts = Table(
    "alerts",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("patient_id", String(64), nullable=False),
    Column("rule", String(64), nullable=False),
    Column("status", String(16), nullable=False),
    Column("severity", String(16), nullable=False),
    Column("opened_ms", BigInteger, nullable=False),
    Column("updated_ms", BigInteger, nullable=False),
    Column("content", Text, nullable=False),
)
Index("ix_alerts_patient", alerts.c.patient_id, alerts.c.status)

# Named leases: the scheduled scans run on one worker at a time, whichever holds the lease
# (taken and renewed by a conditional UPDATE, so it works alike on SQLite and PostgreSQL).
alert_leases = Table(
    "alert_leases",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("holder", String(128), nullable=False),
    Column("expires_ms", BigInteger, nullable=False),
)

# How each recipient (e.g. "Practitioner/<id>") is reached: a channel's name from the
# configuration (HOMEVITALS_NOTIFY_CHANNELS holds its apprise URL and any secret in it,
# never this table) and, for mail, the address.
alert_recipients = Table(
    "alert_recipients",
    metadata,
    Column("recipient", String(128), primary_key=True),
    Column("channel", String(64), primary_key=True),
    Column("address", String(320), nullable=True),
)

# The notification outbox: one message per recipient, channel and grouping key. Claimed
# by a sender (claimed_by/claimed_until_ms; FOR UPDATE SKIP LOCKED on PostgreSQL), marked
# sent in the transaction that ends the claim; a failure is recorded and retried later.
alert_notifications = Table(
    "alert_notifications",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("recipient", String(128), nullable=False),
    Column("channel", String(64), nullable=False),
    Column("address", String(320), nullable=True),
    Column("grouping_key", String(256), nullable=False),
    Column("payload", Text, nullable=False),  # {"items": [...]}: what the message says
    Column("created_ms", BigInteger, nullable=False),
    Column("due_ms", BigInteger, nullable=False),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("last_error", Text, nullable=True),
    Column("sent_ms", BigInteger, nullable=True),
    Column("claimed_by", String(128), nullable=True),
    Column("claimed_until_ms", BigInteger, nullable=True),
)
Index("ix_alert_notifications_due", alert_notifications.c.sent_ms, alert_notifications.c.due_ms)

# Silences: a patient's (or a rule's, or a gateway's) messages paused from starts_ms to
# ends_ms, with the reason and its author (Alertmanager's: alerts still open and resolve,
# only their messages are not sent). Ending one early moves its ends_ms to now.
alert_silences = Table(
    "alert_silences",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("patient_id", String(64), nullable=True),
    Column("rule", String(64), nullable=True),
    Column("gateway", String(128), nullable=True),
    Column("starts_ms", BigInteger, nullable=False),
    Column("ends_ms", BigInteger, nullable=False),
    Column("reason", Text, nullable=False),
    Column("author", String(128), nullable=False),
    Column("created_ms", BigInteger, nullable=False),
)
Index("ix_alert_silences_patient", alert_silences.c.patient_id, alert_silences.c.ends_ms)

# How each recipient wants their messages (none: the clinic's defaults): the language,
# the zone their quiet hours and digest hour are in, quiet hours ("22:00"-"07:00"; urgent
# messages ignore them), and what happens to the non-urgent ones (now, digest, off).
alert_preferences = Table(
    "alert_preferences",
    metadata,
    Column("recipient", String(128), primary_key=True),
    Column("language", String(8), nullable=True),
    Column("zone", String(64), nullable=True),
    Column("quiet_start", String(5), nullable=True),
    Column("quiet_end", String(5), nullable=True),
    Column("non_urgent", String(8), nullable=True),
    Column("digest_at", String(5), nullable=True),
    Column("updated_ms", BigInteger, nullable=False),
)
Index("ix_alert_silences_ends", alert_silences.c.ends_ms)
Index(
    "ix_alert_notifications_group",
    alert_notifications.c.recipient,
    alert_notifications.c.channel,
    alert_notifications.c.grouping_key,
)
