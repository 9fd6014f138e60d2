"""Access control: token kinds and scopes, staff accounts, gateways and what they own.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30

Existing tokens keep their kind (`system`) and get the full scope `system/*.cruds`.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("api_tokens") as batch:
        batch.add_column(sa.Column("scopes", sa.Text(), nullable=False, server_default=""))
        batch.add_column(sa.Column("gateway", sa.String(128), nullable=True))
        batch.add_column(sa.Column("account_id", sa.Integer(), nullable=True))
    op.execute("UPDATE api_tokens SET scopes = 'system/*.cruds' WHERE role = 'system'")
    op.create_table(
        "staff_accounts",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("username", sa.String(128), nullable=False, unique=True),
        sa.Column("display_name", sa.String(256), nullable=False, server_default=""),
        sa.Column("roles", sa.String(256), nullable=False),
        sa.Column("practitioner_id", sa.String(64), nullable=True),
        sa.Column("password_hash", sa.Text(), nullable=True),
        sa.Column("password_set_ms", sa.BigInteger(), nullable=True),
        sa.Column("totp_secret", sa.String(128), nullable=True),
        sa.Column("totp_confirmed_ms", sa.BigInteger(), nullable=True),
        sa.Column("recovery_codes", sa.Text(), nullable=False, server_default="[]"),
        sa.Column("failed_logins", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("locked_until_ms", sa.BigInteger(), nullable=True),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.Column("disabled_ms", sa.BigInteger(), nullable=True),
    )
    op.create_table(
        "gateways",
        sa.Column("name", sa.String(128), primary_key=True),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.Column("disabled_ms", sa.BigInteger(), nullable=True),
    )
    op.create_table(
        "gateway_patients",
        sa.Column("gateway", sa.String(128), primary_key=True),
        sa.Column("patient_id", sa.String(64), primary_key=True),
    )
    op.create_index("ix_gateway_patients_patient", "gateway_patients", ["patient_id"])
    op.create_table(
        "resource_owners",
        sa.Column("resource_type", sa.String(64), primary_key=True),
        sa.Column("resource_id", sa.String(64), primary_key=True),
        sa.Column("gateway", sa.String(128), nullable=False),
    )
    op.create_index("ix_resource_owners_gateway", "resource_owners", ["gateway", "resource_type"])


def downgrade() -> None:
    op.drop_table("resource_owners")
    op.drop_table("gateway_patients")
    op.drop_table("gateways")
    op.drop_table("staff_accounts")
    with op.batch_alter_table("api_tokens") as batch:
        batch.drop_column("account_id")
        batch.drop_column("gateway")
        batch.drop_column("scopes")
