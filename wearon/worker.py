"""The Dramatiq entry point: `python -m wearon.worker [Dramatiq's options]` (scripts/worker) runs
the workers, as `dramatiq wearon.worker:setup` would, with Dramatiq's own lines (its main process,
its metrics fork) in our JSON log too; `python -m wearon.scheduler` schedules through `setup`.

Dramatiq calls `setup` in each worker process it starts; importing this module does nothing.
"""

from __future__ import annotations

import sys

from wearon import bootstrap
from wearon.settings import load_settings


def setup() -> None:
    """Read the settings and declare the broker with every actor (Dramatiq then gets it with
    `dramatiq.get_broker()`)."""
    bootstrap.setup_worker(load_settings())


def main(argv: list[str]) -> int:
    """Dramatiq's command line for `setup`, its text log format off: its processes log through
    ours (forked from this one, they inherit it). The workers' lines reach this process's stderr
    through Dramatiq's pipes, already JSON, and the stderr capture passes them on as they are."""
    import dramatiq.cli  # the command line only, not in every worker's import of this module

    settings = load_settings()
    bootstrap.configure_process_logging("worker", settings)
    bootstrap.exit_if_misconfigured("worker", settings)
    parser = dramatiq.cli.make_argument_parser()
    args = parser.parse_args(["wearon.worker:setup", *argv, "--skip-logging"])
    return int(dramatiq.cli.main(args))


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
