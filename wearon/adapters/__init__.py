"""I/O at the edges: one adapter per port."""
