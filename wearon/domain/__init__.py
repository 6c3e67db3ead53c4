"""Pure domain code: models, rules and math. No I/O and no imports of redis, httpx or supabase."""
