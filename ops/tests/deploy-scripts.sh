#!/usr/bin/env bash
# Runs ops/scripts/*.sh against stand-ins for docker, curl and crontab (no Docker engine here)
# and checks what they do: the rolling order, the rollback, idempotence, the .env checks.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/../.." && pwd)
SIM=$(mktemp -d)
trap 'rm -rf "$SIM"' EXIT
export SIM PATH="$SIM/bin:$PATH"
fail() {
  echo "deploy-scripts: $*" >&2
  exit 1
}

mkdir -p "$SIM/root" "$SIM/bin"
cp -r "$REPO/ops" "$REPO/docker-compose.prod.yml" "$SIM/root/"
cat >"$SIM/root/.env" <<'EOF'
IMAGE=ghcr.io/example/wearon-worker:sha-old
DOMAIN=wearon.example.com
LETSENCRYPT_EMAIL=ops@example.com
REDIS_PASSWORD=0123456789abcdef
REDIS_APP_PASSWORD=fedcba9876543210
SUPABASE_URL=https://project.supabase.co
SUPABASE_SERVICE_ROLE_KEY=dummy
OPENAI_API_KEY=sk-dummy
GRAFANA_ADMIN_PASSWORD=dummy
WHATSAPP_WEBHOOK_TOKEN=dummy
WHATSAPP_ALERT_TO=group/120363000000000000
DEADMANSSWITCH_URL=https://hc-ping.example.com/0000
EOF
# docker: records each call; `up` of api-1 fails while .env names an image tagged "bad";
# certbot certonly writes the certificate it would obtain.
cat >"$SIM/bin/docker" <<'EOF'
#!/usr/bin/env bash
echo "$*" | sed 's/.*--env-file [^ ]* //' >>"$SIM/calls"
image=$(grep '^IMAGE=' "$SIM/root/.env" | tail -n 1)
case "$*" in
  *"up -d --wait"*"--no-deps api-1"*)
    echo "loki.yml in force: $(tail -n 1 "$SIM/root/ops/loki/loki.yml")" >>"$SIM/calls"
    [[ $image != *bad* ]] ;;
  *"certbot renew"*)
    [ ! -f "$SIM/certbot-fails" ] ;;
  *"certbot certonly"*)
    mkdir -p "$SIM/root/data/letsencrypt/live/wearon"
    echo cert >"$SIM/root/data/letsencrypt/live/wearon/fullchain.pem" ;;
esac
EOF
cat >"$SIM/bin/curl" <<'EOF'
#!/usr/bin/env bash
echo "curl $*" >>"$SIM/calls"
echo '{"status":"ok"}'
EOF
cat >"$SIM/bin/crontab" <<'EOF'
#!/usr/bin/env bash
if [ "$1" = -l ]; then cat "$SIM/crontab" 2>/dev/null; else cat >"$SIM/crontab"; fi
EOF
chmod +x "$SIM/bin/"*
scripts="$SIM/root/ops/scripts"
image() { grep '^IMAGE=' "$SIM/root/.env" | cut -d= -f2; }
line_of() { grep -n -m 1 -- "$1" "$SIM/calls" | cut -d: -f1; }

# Given a running stack, when a good image is deployed, then the app rolls one API replica at a time.
: >"$SIM/calls"
"$scripts/deploy.sh" ghcr.io/example/wearon-worker:sha-new 2>/dev/null || fail "good deploy failed"
[ "$(image)" = ghcr.io/example/wearon-worker:sha-new ] || fail ".env does not name the new image"
[ "$(line_of 'no-deps api-1')" -lt "$(line_of 'nginx -s reload')" ] || fail "nginx not reloaded after api-1"
[ "$(line_of 'nginx -s reload')" -lt "$(line_of 'no-deps api-2')" ] || fail "api-2 replaced before api-1 served"
[ "$(line_of 'no-deps api-2')" -lt "$(line_of 'no-deps bridge scheduler worker')" ] || fail "workers before the API"
grep -q 'curl .*https://wearon.example.com/health' "$SIM/calls" || fail "health not verified"
[ "$(stat -c %a "$SIM/root/.env")" = 600 ] || fail ".env lost its 0600 mode"
[[ $(grep '^REDIS_EXPORTER_PASSWORD=' "$SIM/root/.env") =~ ^REDIS_EXPORTER_PASSWORD=[0-9a-f]{64}$ ]] ||
  fail "the exporter's Redis password was not generated into .env"
exporter_password=$(grep '^REDIS_EXPORTER_PASSWORD=' "$SIM/root/.env")
[ -d "$SIM/root/data/node-exporter" ] || fail "data/node-exporter not made by the deploy user"
openssl verify -CAfile "$SIM/root/data/redis-tls/ca.crt" "$SIM/root/data/redis-tls/redis.crt" >/dev/null ||
  fail "no Redis TLS certificate signed by the CA the Next.js API trusts"
grep -q -- '--entrypoint chown -v .*/data/redis-tls:/redis-tls redis redis:redis /redis-tls/redis.key' "$SIM/calls" ||
  fail "the Redis TLS key was not handed to the redis user"
[ "$(line_of 'redis:redis')" -lt "$(line_of 'up -d --wait')" ] || fail "Redis started before its certificate"

# When a broken image is deployed, then the previous one is rolled out again and the deploy fails.
: >"$SIM/calls"
if "$scripts/deploy.sh" ghcr.io/example/wearon-worker:sha-bad 2>/dev/null; then fail "bad deploy succeeded"; fi
[ "$(grep '^REDIS_EXPORTER_PASSWORD=' "$SIM/root/.env")" = "$exporter_password" ] ||
  fail "the exporter's Redis password was generated again"
[ "$(image)" = ghcr.io/example/wearon-worker:sha-new ] || fail "no rollback to the previous image"
[ "$(grep -c -- '--no-deps api-1' "$SIM/calls")" = 2 ] || fail "rollback did not re-roll api-1"

# Given a release staged as CD stages it (data/deploy/incoming, its deploy.sh run from there),
# when it deploys, then its ops/ is installed, files rewritten in place (a running container's
# bind mount keeps seeing the file); and when the next release's image is bad, then the previous
# image and the previous ops/ are rolled out again, and the deploy fails.
incoming="$SIM/root/data/deploy/incoming"
stage() {
  rm -rf "$incoming"
  mkdir -p "$incoming"
  cp -r "$REPO/ops" "$REPO/docker-compose.prod.yml" "$incoming/"
  echo "# $1" >>"$incoming/ops/loki/loki.yml"
}
staged_deploy() { WEARON_DEPLOY_DIR="$SIM/root" "$incoming/ops/scripts/deploy.sh" "$1" 2>/dev/null; }
stage release-1
staged_deploy ghcr.io/example/wearon-worker:sha-r1 || fail "staged deploy failed"
grep -q "# release-1" "$SIM/root/ops/loki/loki.yml" || fail "the staged ops/ was not installed"
inode=$(stat -c %i "$SIM/root/ops/loki/loki.yml")
stage release-2
: >"$SIM/calls"
if staged_deploy ghcr.io/example/wearon-worker:sha-bad; then fail "bad staged deploy succeeded"; fi
[ "$(image)" = ghcr.io/example/wearon-worker:sha-r1 ] || fail "no rollback to the previous image"
[ "$(tail -n 1 "$SIM/root/ops/loki/loki.yml")" = "# release-1" ] || fail "the previous ops/ was not restored"
[ "$(grep 'loki.yml in force' "$SIM/calls" | cut -d: -f2- | tr -d '\n')" = " # release-2 # release-1" ] ||
  fail "the rollback did not roll out the previous configuration: $(grep 'loki.yml in force' "$SIM/calls")"
[ "$(stat -c %i "$SIM/root/ops/loki/loki.yml")" = "$inode" ] ||
  fail "loki.yml was replaced, not rewritten: a running container would keep the old file"

# When first-deploy runs twice, then the certificate is obtained once and one cron job exists.
: >"$SIM/calls"
"$scripts/first-deploy.sh" wearon.example.com 2>/dev/null || fail "first deploy failed"
"$scripts/first-deploy.sh" wearon.example.com 2>/dev/null || fail "second first-deploy failed"
[ "$(grep -c 'certbot certonly' "$SIM/calls")" = 1 ] || fail "certificate requested again"
grep -q 'NGINX_SITE\|run -d --rm --no-deps --service-ports' "$SIM/calls" || fail "no bootstrap nginx"
[ "$(grep -c renew-certs.sh "$SIM/crontab")" = 1 ] || fail "renewal cron not installed exactly once"
[ -d "$SIM/root/data/whatsapp/out" ] || fail "data layout not created"

# When .env lacks the dead-man's switch, then first-deploy refuses and says so.
sed -i '/^DEADMANSSWITCH_URL=/d' "$SIM/root/.env"
out=$("$scripts/first-deploy.sh" wearon.example.com 2>&1) && fail "accepted an .env without DEADMANSSWITCH_URL"
[[ $out == *"lacks: DEADMANSSWITCH_URL"* ]] || fail "unclear message: $out"
echo "DEADMANSSWITCH_URL=https://hc-ping.example.com/0000" >>"$SIM/root/.env"

# When .env lacks a secret, or names another domain, then first-deploy refuses before any change.
sed -i '/^OPENAI_API_KEY=/d' "$SIM/root/.env"
out=$("$scripts/first-deploy.sh" wearon.example.com 2>&1) && fail "accepted an .env without OPENAI_API_KEY"
[[ $out == *"lacks: OPENAI_API_KEY"* ]] || fail "unclear message: $out"
echo "OPENAI_API_KEY=sk-dummy" >>"$SIM/root/.env"
out=$("$scripts/first-deploy.sh" other.example.com 2>&1) && fail "accepted a DOMAIN other than .env's"

# When .env publishes Redis's TLS port on every interface, then first-deploy refuses.
echo "REDIS_TLS_BIND=0.0.0.0" >>"$SIM/root/.env"
out=$("$scripts/first-deploy.sh" wearon.example.com 2>&1) && fail "accepted REDIS_TLS_BIND=0.0.0.0"
[[ $out == *"REDIS_TLS_BIND=0.0.0.0: give one private address"* ]] || fail "unclear message: $out"
sed -i '/^REDIS_TLS_BIND=/d' "$SIM/root/.env"

# renew-certs renews through certbot's webroot, then reloads nginx after checking its config.
: >"$SIM/calls"
"$scripts/renew-certs.sh" 2>/dev/null || fail "renew-certs failed"
[ "$(line_of 'certbot renew --webroot')" -lt "$(line_of 'nginx -t')" ] || fail "renewal order"
[ "$(line_of 'nginx -t')" -lt "$(line_of 'nginx -s reload')" ] || fail "reload without nginx -t"
textfile="$SIM/root/data/node-exporter/certificate_renewal.prom"
grep -qx 'wearon_certificate_renewal_success 1' "$textfile" || fail "renewal success not recorded"
ran_at=$(awk '/^wearon_certificate_renewal_last_run_timestamp_seconds/ {print $2}' "$textfile")
[ $(($(date +%s) - ran_at)) -lt 60 ] || fail "renewal time not recorded: $ran_at"
[ "$(stat -c %a "$textfile")" = 644 ] || fail "node-exporter cannot read the renewal textfile"

# When certbot fails, then renew-certs fails, does not reload nginx, and records the failure.
touch "$SIM/certbot-fails"
: >"$SIM/calls"
if "$scripts/renew-certs.sh" 2>/dev/null; then fail "renew-certs succeeded without certbot"; fi
rm "$SIM/certbot-fails"
! grep -q 'nginx -s reload' "$SIM/calls" || fail "nginx reloaded after a failed renewal"
grep -qx 'wearon_certificate_renewal_success 0' "$textfile" || fail "renewal failure not recorded"
[ -z "$(find "$SIM/root/data/node-exporter" -name '.certificate_renewal.*')" ] || fail "temporary file left"
echo "deploy-scripts: all scenarios passed"
