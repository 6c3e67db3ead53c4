#!/usr/bin/env bash
# Makes sure Redis, PostgreSQL and RabbitMQ answer on loopback: starts them, or installs them
# with apt first; that the prometheus binary is installed (the tests start their own); and that
# Node and npm are there for the app's producer the tests push tasks with (tests/producer).
# RabbitMQ gets a virtual host per test slot. Idempotent; never restarts a service that already answers.
set -euo pipefail

need_root() { [ "$(id -u)" = 0 ] || { echo "ensure-services: run as root or start $1 yourself" >&2; exit 1; }; }
apt_install() {
  need_root "$*"
  if [ -z "${APT_UPDATED:-}" ]; then apt-get update -qq; APT_UPDATED=1; fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
wait_port() {
  for _ in $(seq 1 60); do port_open "$1" && return 0; sleep 1; done
  echo "ensure-services: $2 did not come up on port $1" >&2; exit 1
}

ensure_redis() {
  port_open 6379 && return 0
  command -v redis-server >/dev/null || apt_install redis-server
  mkdir -p /var/lib/redis /var/log/redis
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log
  wait_port 6379 redis
}

ensure_postgres() {
  port_open 5432 && return 0
  command -v pg_ctlcluster >/dev/null || apt_install postgresql
  local version
  version=$(find /etc/postgresql -mindepth 1 -maxdepth 1 -printf '%f\n' | sort -V | tail -n 1)
  # Loopback trust auth, as on the developers' machines: tests connect as postgres without a password.
  local hba="/etc/postgresql/$version/main/pg_hba.conf"
  grep -q "^host all all 127.0.0.1/32 trust" "$hba" || sed -i '1i host all all 127.0.0.1/32 trust' "$hba"
  # And the unix socket for postgres: `make smoke-prod` reaches it from a network namespace of its own.
  grep -q "^local all postgres trust" "$hba" || sed -i '1i local all postgres trust' "$hba"
  pg_ctlcluster --skip-systemctl-redirect "$version" main start
  wait_port 5432 postgresql
}

ensure_rabbitmq() {
  if ! port_open 5672; then
    command -v rabbitmq-server >/dev/null || apt_install rabbitmq-server
    rabbitmq-server -detached
    wait_port 5672 rabbitmq
  fi
  ensure_test_vhosts
}

# One virtual host per test slot (tests/conftest.py: Redis databases 8-15), for the suite's
# RabbitMQ run (`make test-rabbitmq`): parallel sessions never see each other's queues.
# Only root can (rabbitmqctl); a session whose virtual host is missing says to run this as root.
ensure_test_vhosts() {
  [ "$(id -u)" = 0 ] || return 0
  local existing slot
  existing=$(rabbitmqctl -q list_vhosts)
  for slot in $(seq 8 15); do
    grep -qx "wearon_test_$slot" <<<"$existing" && continue
    rabbitmqctl -q add_vhost "wearon_test_$slot" >/dev/null
    rabbitmqctl -q set_permissions -p "wearon_test_$slot" guest '.*' '.*' '.*' >/dev/null
  done
}

# The binary only: the scrape test (tests/observability) runs its own on a free loopback port.
# Where the package's post-install started the Debian service on :9090, stop it.
ensure_prometheus() {
  command -v prometheus >/dev/null && return 0
  apt_install --no-install-recommends prometheus
  if command -v systemctl >/dev/null && systemctl is-active --quiet prometheus 2>/dev/null; then
    systemctl disable --now prometheus >/dev/null 2>&1 || true
  elif command -v service >/dev/null && service prometheus status >/dev/null 2>&1; then
    service prometheus stop >/dev/null 2>&1 || true
  fi
}

# Node 18 or later (Debian 12's own package is 18): tests/producer pins an ioredis that supports it.
ensure_node() {
  command -v node >/dev/null && command -v npm >/dev/null && return 0
  apt_install nodejs npm
}

ensure_redis
if [ "${1:-}" != "--redis-only" ]; then
  ensure_postgres
  ensure_rabbitmq
  ensure_prometheus
  ensure_node
fi
