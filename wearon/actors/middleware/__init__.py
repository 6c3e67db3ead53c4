"""wearon's Dramatiq middleware, one per file."""
