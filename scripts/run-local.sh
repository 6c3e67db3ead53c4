#!/usr/bin/env bash
# `make run`: the whole pipeline on this machine with the embedded defaults: SQLite + local
# files for sessions and images, the local image provider, Redis on loopback. Ctrl-C stops all.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH"

# Local development only: inputs are served by our own API on loopback.
export DOWNLOAD_ALLOWED_HOSTS="${DOWNLOAD_ALLOWED_HOSTS:-127.0.0.1,localhost}"
export DOWNLOAD_ALLOW_PRIVATE_NETWORKS="${DOWNLOAD_ALLOW_PRIVATE_NETWORKS:-true}"
export WORKER_PROCESSES="${WORKER_PROCESSES:-1}"
export WORKER_CONCURRENCY="${WORKER_CONCURRENCY:-8}"
API_PORT="${API_PORT:-8000}"
export PUBLIC_BASE_URL="${PUBLIC_BASE_URL:-http://127.0.0.1:$API_PORT}"

pids=()
start() {
  local name=$1; shift
  "$@" > >(sed -u "s/^/[$name] /") 2>&1 &
  pids+=($!)
}
# shellcheck disable=SC2317  # run by the trap below
stop() {
  trap - INT TERM EXIT
  echo "[run] stopping..."
  kill -TERM "${pids[@]}" 2>/dev/null || true
  wait 2>/dev/null || true
}
trap stop INT TERM EXIT

start api uvicorn wearon.http:app --host 127.0.0.1 --port "$API_PORT" --no-access-log
start bridge python -m wearon.bridge
start worker scripts/worker
start scheduler python -m wearon.scheduler
echo "[run] bridge, worker, scheduler and API (http://127.0.0.1:$API_PORT) started; 'make demo' in another terminal; Ctrl-C to stop"
wait -n
echo "[run] a process exited; stopping the rest" >&2
exit 1
