#!/usr/bin/env bash
# Renews the Let's Encrypt certificate when it is due (certbot decides: 30 days before expiry)
# and reloads Nginx gracefully: running connections finish on the old workers, no downtime.
# Installed as a daily cron job by first-deploy.sh; safe to run by hand at any time.
# Every run, failed or not, leaves its outcome in data/node-exporter/certificate_renewal.prom for
# node-exporter's textfile collector (TlsCertificateRenewalFailed).
set -euo pipefail
# shellcheck source=ops/scripts/lib.sh
. "$(dirname "$0")/lib.sh"

TEXTFILE_DIR="$DEPLOY_DIR/data/node-exporter"

# Replaced whole (a scrape never reads half a file), readable by node-exporter's user.
record_outcome() {
  local status=$? success=0 tmp
  [ "$status" -ne 0 ] || success=1
  mkdir -p "$TEXTFILE_DIR"
  tmp=$(mktemp "$TEXTFILE_DIR/.certificate_renewal.XXXXXX")
  {
    echo "# HELP wearon_certificate_renewal_success 1 if the last renew-certs.sh run succeeded, 0 if it failed."
    echo "# TYPE wearon_certificate_renewal_success gauge"
    echo "wearon_certificate_renewal_success $success"
    echo "# HELP wearon_certificate_renewal_last_run_timestamp_seconds When renew-certs.sh last ran (Unix time)."
    echo "# TYPE wearon_certificate_renewal_last_run_timestamp_seconds gauge"
    echo "wearon_certificate_renewal_last_run_timestamp_seconds $(date +%s)"
  } >"$tmp"
  chmod 644 "$tmp"
  mv "$tmp" "$TEXTFILE_DIR/certificate_renewal.prom"
}
trap record_outcome EXIT

[ -f "$ENV_FILE" ] || die "$ENV_FILE is missing"
compose run --rm --no-deps certbot renew --webroot -w /var/www/certbot --quiet
reload_nginx
log "certificates checked; nginx reloaded"
