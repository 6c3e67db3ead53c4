"""`wearon-admin` (`python -m wearon.admin`): the on-call engineer's tool, an edge like the other
entry points. Each sub-command is a thin Click command over what `wearon.bootstrap.build_admin`
wires; read commands take `--json`, write commands ask first (or take `--yes`)."""
