#!/usr/bin/env bash
# Deploys one image without losing a task or a request: deploy.sh IMAGE
# (CD copies docker-compose.prod.yml and ops/ into data/deploy/incoming and runs the deploy.sh
# there, with WEARON_DEPLOY_DIR=/opt/wearon and IMAGE=ghcr.io/<owner>/wearon-worker:sha-<commit>.)
#
#   0. the configuration in force (docker-compose.prod.yml, ops/) is kept in data/deploy/previous
#      and the one this script came with is installed (files updated in place: bind-mounted
#      files and directories of running containers see the new content);
#   1. infrastructure services are updated where their definition or config changed;
#   2. api-1, then api-2, are replaced and Nginx reloaded after each, so one replica always serves
#      (Nginx skips the replica that refuses connections while it restarts);
#   3. bridge, scheduler and worker are replaced; the old worker drains for up to 300 s (its
#      stop_grace_period is 330 s) while new tasks wait in Redis;
#   4. https://DOMAIN/health must answer ok, else the previous configuration and the previous
#      image are rolled out again and the script fails either way.
set -euo pipefail
# shellcheck source=ops/scripts/lib.sh
. "$(dirname "$0")/lib.sh"

[ $# -eq 1 ] || die "usage: $0 IMAGE"
new=$1
STATE_DIR="$DEPLOY_DIR/data/deploy"
PREVIOUS_CONFIG="$STATE_DIR/previous"
# Built from our image: replaced on every deploy. The rest only when their definition changes.
APP_SERVICES=(api-1 api-2 bridge scheduler worker)
INFRA_SERVICES=(redis redis-exporter blackbox-exporter prometheus loki alloy node-exporter whatsapp-webhook
  grafana)
check_env
# data/node-exporter is made here, by the deploy user who writes into it (renew-certs.sh): Docker
# would make a missing bind-mount source owned by root.
mkdir -p "$STATE_DIR" "$DEPLOY_DIR/data/node-exporter"
exec 9>"$STATE_DIR/deploy.lock"
flock -n 9 || die "another deploy is running"
domain=$(env_value DOMAIN)
previous=$(env_value IMAGE)

# copy_config FROM TO: docker-compose.prod.yml and ops/, files rewritten in place (--inplace), so a
# file bind-mounted into a running container (nginx.conf, loki.yml...) shows the new content.
# Compared by content (--checksum): two releases' files of one size written in the same second
# look alike to rsync's size-and-time check, and the older one would stay.
copy_config() {
  mkdir -p "$2/ops"
  rsync -a --checksum --delete --inplace "$1/ops/" "$2/ops/"
  rsync -a --checksum --inplace "$1/docker-compose.prod.yml" "$2/docker-compose.prod.yml"
}

# Installs the configuration this script came with, keeping the one in force for a rollback.
staged=0
if [ "$CONFIG_DIR" != "$DEPLOY_DIR" ]; then
  staged=1
  copy_config "$DEPLOY_DIR" "$PREVIOUS_CONFIG"
  copy_config "$CONFIG_DIR" "$DEPLOY_DIR"
  log "installed the configuration from $CONFIG_DIR (previous one kept in $PREVIOUS_CONFIG)"
fi

# Restarts SERVICE when the files under PATH changed since the last deploy.
restart_if_changed() {
  local service=$1 path=$2 sum stamp="$STATE_DIR/$1.sha256"
  sum=$(find "$DEPLOY_DIR/$path" -type f -print0 | sort -z | xargs -0 sha256sum | sha256sum)
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$sum" ]; then
    log "config of $service changed: restarting it"
    compose restart "$service"
    printf '%s' "$sum" >"$stamp"
  fi
}

roll_out() {
  local image=$1
  log "rolling out $image"
  set_env_value IMAGE "$image"
  compose config -q
  ensure_redis_tls
  compose pull --quiet "${APP_SERVICES[@]}" "${INFRA_SERVICES[@]}" nginx
  compose up -d --wait --wait-timeout 300 --no-deps "${INFRA_SERVICES[@]}"
  compose kill -s HUP prometheus
  restart_if_changed grafana ops/grafana
  restart_if_changed loki ops/loki
  restart_if_changed alloy ops/alloy
  restart_if_changed blackbox-exporter ops/blackbox
  compose up -d --wait --wait-timeout 300 --no-deps api-1
  compose up -d --wait --wait-timeout 120 --no-deps nginx
  reload_nginx
  compose up -d --wait --wait-timeout 300 --no-deps api-2
  reload_nginx
  compose up -d --wait --wait-timeout 600 --no-deps bridge scheduler worker
  wait_healthy "$domain" 120
}

# A subshell with errexit of its own: a function called from `if` or `||` would run on past
# a failing command.
set +e
(
  set -e
  roll_out "$new"
)
status=$?
set -e
if [ "$status" -eq 0 ]; then
  log "deployed $new (previous: $previous)"
  exit 0
fi

if [ "$staged" = 1 ]; then
  copy_config "$PREVIOUS_CONFIG" "$DEPLOY_DIR"
  log "deploy of $new failed: the previous configuration is back in place"
elif [ -z "$previous" ] || [ "$previous" = "$new" ]; then
  die "deploy of $new failed and there is no other image or configuration to roll back to"
fi
previous=${previous:-$new}
log "deploy of $new failed: rolling back to $previous"
set +e
(
  set -e
  roll_out "$previous"
)
status=$?
set -e
[ "$status" -eq 0 ] || die "rollback to $previous failed too: the stack needs a human"
die "deploy of $new failed; $previous is serving again"
