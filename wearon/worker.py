"""The Dramatiq entry point: `dramatiq wearon.worker:setup` (scripts/worker) runs the workers;
`python -m wearon.scheduler` schedules through it too.

Dramatiq calls `setup` in each worker process it starts; importing this module does nothing.
"""

from __future__ import annotations

from wearon import bootstrap
from wearon.settings import load_settings


def setup() -> None:
    """Read the settings and declare the broker with every actor (Dramatiq then gets it with
    `dramatiq.get_broker()`)."""
    bootstrap.setup_worker(load_settings())
