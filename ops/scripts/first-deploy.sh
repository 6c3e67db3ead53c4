#!/usr/bin/env bash
# Brings the whole stack up on a fresh VPS: first-deploy.sh DOMAIN
#
# Run from the deploy directory (docker-compose.prod.yml, ops/ and a filled-in .env). It checks
# .env, creates data/, pulls the images, obtains the first certificate through a port-80-only
# Nginx (webroot), starts everything with --wait, verifies https://DOMAIN/health and installs
# the daily renewal cron job. Idempotent: every step is skipped or harmless when already done.
# Needs Docker with the compose plugin, curl, crontab, rsync and openssl, and DOMAIN's DNS pointing here.
set -euo pipefail
# shellcheck source=ops/scripts/lib.sh
. "$(dirname "$0")/lib.sh"

BOOTSTRAP=wearon-acme-bootstrap
CERT="$DEPLOY_DIR/data/letsencrypt/live/wearon/fullchain.pem"

[ $# -eq 1 ] || die "usage: $0 DOMAIN"
domain=$1
for tool in docker curl crontab rsync openssl; do
  command -v "$tool" >/dev/null || die "$tool is not installed"
done
docker compose version >/dev/null || die "the docker compose plugin is not installed"
check_env
[ "$(env_value DOMAIN)" = "$domain" ] || die "DOMAIN in .env is '$(env_value DOMAIN)', not '$domain'"
chmod 600 "$ENV_FILE"

log "directory layout"
mkdir -p "$DEPLOY_DIR"/data/{letsencrypt,certbot-www,whatsapp/data,whatsapp/out,deploy,node-exporter}
compose config -q

log "pulling images"
compose pull --quiet || die "pull failed (for a private GHCR image: docker login ghcr.io first)"
compose --profile tools pull --quiet certbot

obtain_certificate() {
  trap 'docker rm -f "$BOOTSTRAP" >/dev/null 2>&1 || true' EXIT
  NGINX_SITE=bootstrap compose run -d --rm --no-deps --service-ports --name "$BOOTSTRAP" nginx >/dev/null
  compose run --rm --no-deps certbot certonly --webroot -w /var/www/certbot \
    -d "$domain" --cert-name wearon --email "$(env_value LETSENCRYPT_EMAIL)" \
    --agree-tos --no-eff-email --non-interactive --keep-until-expiring
  docker rm -f "$BOOTSTRAP" >/dev/null
  trap - EXIT
}
if [ -s "$CERT" ]; then
  log "certificate already present: $CERT"
else
  log "obtaining the first certificate for $domain"
  obtain_certificate
fi

log "the Redis TLS certificate (data/redis-tls/ca.crt is what the Next.js API trusts)"
ensure_redis_tls

log "starting the stack"
compose up -d --wait --wait-timeout 600 --remove-orphans
wait_healthy "$domain" 180

log "installing the daily certificate renewal"
job="17 3 * * * '$DEPLOY_DIR/ops/scripts/renew-certs.sh' >>'$DEPLOY_DIR/data/renew-certs.log' 2>&1"
{
  crontab -l 2>/dev/null | grep -vF "ops/scripts/renew-certs.sh" || true
  printf '%s\n' "$job"
} | crontab -

log "done: https://$domain/health is ok; Grafana at https://$domain/grafana/ (user admin)."
log "link WhatsApp once: scan data/whatsapp/out/qr.png from WhatsApp > Linked devices."
