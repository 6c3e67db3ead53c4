# shellcheck shell=bash
# Shared by first-deploy.sh, deploy.sh and renew-certs.sh (sourced, never run). The deploy
# directory on the VPS holds docker-compose.prod.yml, ops/, .env and data/.
#
# CONFIG_DIR holds the configuration these scripts came with (docker-compose.prod.yml and ops/
# beside them). It is the deploy directory itself, unless CD runs deploy.sh from its staging copy
# (data/deploy/incoming) with WEARON_DEPLOY_DIR naming the deploy directory.
CONFIG_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
DEPLOY_DIR=$(cd "${WEARON_DEPLOY_DIR:-$CONFIG_DIR}" && pwd)
ENV_FILE="$DEPLOY_DIR/.env"
# Every variable docker-compose.prod.yml requires (it fails on a missing one too, less readably).
REQUIRED_VARS=(IMAGE DOMAIN LETSENCRYPT_EMAIL REDIS_PASSWORD REDIS_APP_PASSWORD SUPABASE_URL
  SUPABASE_SERVICE_ROLE_KEY OPENAI_API_KEY GRAFANA_ADMIN_PASSWORD WHATSAPP_WEBHOOK_TOKEN WHATSAPP_ALERT_TO
  DEADMANSSWITCH_URL)
# Secrets only the stack itself uses, generated into .env when empty (openssl rand -hex 32).
GENERATED_VARS=(REDIS_EXPORTER_PASSWORD)
# The redis image's user (its Dockerfile: adduser -u 999 redis), who must read the TLS key.
REDIS_IMAGE_UID=999

log() { printf '%s %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*" >&2; }
die() {
  log "error: $*"
  exit 1
}

compose() {
  docker compose --project-directory "$DEPLOY_DIR" -f "$DEPLOY_DIR/docker-compose.prod.yml" \
    --env-file "$ENV_FILE" "$@"
}

# The value of VAR in .env (the last assignment wins, as in compose), read without sourcing it.
env_value() {
  local line value=""
  while IFS= read -r line || [ -n "$line" ]; do
    case "$line" in "$1="*) value=${line#*=} ;; esac
  done <"$ENV_FILE"
  value=${value#[\"\']}
  value=${value%[\"\']}
  printf '%s' "$value"
}

# Replaces (or adds) VAR=VALUE in .env atomically, keeping the file's owner-only mode.
set_env_value() {
  local tmp
  tmp=$(mktemp "$ENV_FILE.XXXXXX")
  chmod 600 "$tmp"
  grep -v "^$1=" "$ENV_FILE" >"$tmp" || true
  printf '%s=%s\n' "$1" "$2" >>"$tmp"
  mv "$tmp" "$ENV_FILE"
}

check_env() {
  [ -f "$ENV_FILE" ] || die "$ENV_FILE is missing: copy .env.example there and fill it in"
  local var missing=()
  for var in "${GENERATED_VARS[@]}"; do
    [ -n "$(env_value "$var")" ] || set_env_value "$var" "$(openssl rand -hex 32)"
  done
  for var in "${REQUIRED_VARS[@]}"; do
    [ -n "$(env_value "$var")" ] || missing+=("$var")
  done
  [ ${#missing[@]} -eq 0 ] || die ".env lacks: ${missing[*]}"
  for var in REDIS_PASSWORD REDIS_APP_PASSWORD REDIS_EXPORTER_PASSWORD; do
    [[ $(env_value "$var") =~ ^[A-Za-z0-9]+$ ]] ||
      die "$var goes into a URL: letters and digits only (openssl rand -hex 32)"
  done
  redis_tls_bind >/dev/null
  [[ $(env_value WHATSAPP_ALERT_TO) =~ ^(group|user)/[0-9]+$ ]] ||
    die "WHATSAPP_ALERT_TO must be group/<group id> or user/<phone number without +>"
  [[ $(env_value DEADMANSSWITCH_URL) =~ ^https?://[^[:space:]]+$ ]] ||
    die "DEADMANSSWITCH_URL must be the dead-man's switch's ping URL (https://...)"
}

# The address Redis's TLS port is published on: REDIS_TLS_BIND, loopback when empty; never every
# interface (ops/check_compose.py checks the compose file's default, this the .env's value).
redis_tls_bind() {
  local address
  address=$(env_value REDIS_TLS_BIND)
  address=${address:-127.0.0.1}
  case "$address" in
    0.0.0.0 | :: | "[::]" | *[!0-9a-fA-F.:]*)
      die "REDIS_TLS_BIND=$address: give one private address of this host (VPN or VPC interface)"
      ;;
  esac
  printf '%s' "$address"
}

# The Redis TLS certificate (redis-tls.sh), its key handed to the redis image's user once. Through
# a container: the deploy user may not be root, but it runs Docker.
ensure_redis_tls() {
  local dir="$DEPLOY_DIR/data/redis-tls"
  "$DEPLOY_DIR/ops/scripts/redis-tls.sh" "$dir" "$(redis_tls_bind)"
  if [ "$(stat -c %u "$dir/redis.key")" != "$REDIS_IMAGE_UID" ]; then
    compose run --rm --no-deps --user root --entrypoint chown -v "$dir:/redis-tls" \
      redis redis:redis /redis-tls/redis.key
  fi
}

reload_nginx() {
  compose exec -T nginx nginx -t -q
  compose exec -T nginx nginx -s reload
}

# Waits for https://DOMAIN/health to answer 200 with status ok, through this host's Nginx
# (--resolve: no dependence on DNS or hairpin NAT).
wait_healthy() {
  local domain=$1 timeout=${2:-120} body
  local deadline=$((SECONDS + timeout))
  while [ "$SECONDS" -lt "$deadline" ]; do
    if body=$(curl -fsS --max-time 5 --resolve "$domain:443:127.0.0.1" "https://$domain/health" 2>/dev/null) &&
      [[ $body =~ \"status\"[[:space:]]*:[[:space:]]*\"ok\" ]]; then
      log "healthy: https://$domain/health"
      return 0
    fi
    sleep 3
  done
  log "https://$domain/health did not answer ok within ${timeout}s"
  return 1
}
