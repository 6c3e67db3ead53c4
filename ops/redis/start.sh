#!/bin/sh
# The in-stack Redis's command (docker-compose.prod.yml): start.sh [redis-server ARGUMENTS]
# Writes the ACL file (users.acl with each <VARIABLE> replaced by `#` and the SHA-256 of that
# variable's value) into a 0600 file under TMPDIR, then execs redis-server with redis.conf and
# the arguments (the TLS certificate and key). POSIX sh: the redis image is Alpine's busybox.
set -euf
here=$(dirname "$0")
acl="${TMPDIR:-/tmp}/wearon-users.acl"
umask 077

password_hash() {
  value=$(printenv "$1") || { echo "start.sh: $1 is not set" >&2; exit 1; }
  [ -n "$value" ] || { echo "start.sh: $1 is empty" >&2; exit 1; }
  printf '%s' "$value" | sha256sum | cut -d ' ' -f 1
}

# Globbing is off (set -f): the key patterns (~wearon:*) stay as written.
while IFS= read -r line; do
  case "$line" in '' | '#'*) continue ;; esac
  out=""
  for word in $line; do
    case "$word" in
      '<'*'>')
        name=${word#<}
        word="#$(password_hash "${name%>}")"
        ;;
    esac
    out="$out $word"
  done
  printf '%s\n' "${out# }"
done <"$here/users.acl" >"$acl"
exec redis-server "$here/redis.conf" --aclfile "$acl" "$@"
