"""The storage backends the contract suite runs on (one definition, in tests/contract/conftest.py):
`backend` runs a test once on the embedded backend and once on Supabase (the stand-in, on the real
PostgreSQL)."""

from tests.contract.conftest import backend, postgres_schema, shared_supabase, supabase

__all__ = ["backend", "postgres_schema", "shared_supabase", "supabase"]
