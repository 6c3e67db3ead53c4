"""`make smoke-prod`: every service of docker-compose.prod.yml that runs our image, started the way
production starts it, without a container engine; see ops/README.md ("Production smoke").

Runs as root (Linux namespaces); re-enters itself in a private mount and network namespace.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

from ops.smoke.run import Smoke

#: Set in the environment of the re-entered process, inside its own namespaces.
INSIDE = "WEARON_SMOKE_NAMESPACE"


def main() -> int:
    if os.geteuid() != 0:
        sys.exit("smoke-prod: needs root for Linux namespaces (run it with sudo)")
    if os.environ.get(INSIDE) != "1":
        argv = ["unshare", "--mount", "--net", "--fork", "--kill-child", "--"]
        argv += ["env", f"{INSIDE}=1", sys.executable, "-m", "ops.smoke", *sys.argv[1:]]
        os.execvp(argv[0], argv)
    with tempfile.TemporaryDirectory(prefix="wearon-smoke-") as tmp:
        work = Path(tmp)
        work.chmod(0o755)
        return Smoke(work).run()


if __name__ == "__main__":
    raise SystemExit(main())
