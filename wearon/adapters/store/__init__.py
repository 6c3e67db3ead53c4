"""SessionStore adapters: Supabase (PostgREST RPC) in production, SQLite embedded by default."""
