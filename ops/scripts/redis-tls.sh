#!/usr/bin/env bash
# The in-stack Redis's TLS certificate: redis-tls.sh DIR ADDRESS
#
# DIR/ca.crt is a private CA: the Next.js API trusts it for the Redis connection (ssl ca). Its key
# (DIR/ca.key) stays here to re-issue the server certificate. DIR/redis.crt (with DIR/redis.key,
# mode 0600) is signed by it for ADDRESS (REDIS_TLS_BIND) and the name "redis". Idempotent: a
# certificate for ADDRESS valid for 30 more days is kept; otherwise it is issued again by the same
# CA, so the API's trust does not change. Called by first-deploy.sh and deploy.sh.
set -euo pipefail
[ $# -eq 2 ] || {
  echo "usage: $0 DIR ADDRESS" >&2
  exit 1
}
dir=$1 address=$2
mkdir -p "$dir"
chmod 755 "$dir"
umask 077
if [ ! -s "$dir/ca.crt" ] || [ ! -s "$dir/ca.key" ]; then
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 3650 \
    -subj "/CN=wearon redis CA" -keyout "$dir/ca.key" -out "$dir/ca.crt" 2>/dev/null
  chmod 644 "$dir/ca.crt"
fi
if [ -s "$dir/redis.crt" ] && openssl x509 -in "$dir/redis.crt" -noout -checkend $((30 * 86400)) >/dev/null &&
  openssl x509 -in "$dir/redis.crt" -noout -ext subjectAltName | grep -q "IP Address:$address\(,\|$\)"; then
  exit 0
fi
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=redis" \
  -keyout "$dir/redis.key" -out "$dir/redis.csr" 2>/dev/null
openssl x509 -req -in "$dir/redis.csr" -CA "$dir/ca.crt" -CAkey "$dir/ca.key" -CAcreateserial \
  -days 825 -out "$dir/redis.crt" 2>/dev/null \
  -extfile <(printf 'subjectAltName=IP:%s,DNS:redis\nextendedKeyUsage=serverAuth\n' "$address")
chmod 644 "$dir/redis.crt"
rm -f "$dir/redis.csr"
