"""Alembic migrations of the resource and series store."""
