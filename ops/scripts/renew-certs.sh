#!/usr/bin/env bash
# Renews the Let's Encrypt certificate when it is due (certbot decides: 30 days before expiry)
# and reloads Nginx gracefully: running connections finish on the old workers, no downtime.
# Installed as a daily cron job by first-deploy.sh; safe to run by hand at any time.
set -euo pipefail
# shellcheck source=ops/scripts/lib.sh
. "$(dirname "$0")/lib.sh"

[ -f "$ENV_FILE" ] || die "$ENV_FILE is missing"
compose run --rm --no-deps certbot renew --webroot -w /var/www/certbot --quiet
reload_nginx
log "certificates checked; nginx reloaded"
