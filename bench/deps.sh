#!/usr/bin/env bash
# Installs Debian packages the tests, demo or benchmarks need, when missing.
# Usage: bench/deps.sh postgres [pgbouncer] [curl] [node]
set -euo pipefail
need=()
have_pg_server() {
  local d
  d="$(pg_config --bindir 2>/dev/null || true)"
  [ -n "$d" ] && [ -x "$d/initdb" ] && [ -x "$d/postgres" ] && return 0
  compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null
}
for what in "$@"; do
  case "$what" in
    postgres) { have_pg_server && command -v psql >/dev/null && command -v pgbench >/dev/null; } || need+=(postgresql postgresql-client postgresql-contrib) ;;
    pgbouncer) command -v pgbouncer >/dev/null || need+=(pgbouncer) ;;
    curl) command -v curl >/dev/null || need+=(curl ca-certificates) ;;
    node) { command -v node >/dev/null && command -v npm >/dev/null; } || need+=(nodejs npm) ;;
    *) echo "deps.sh: unknown dependency $what" >&2; exit 2 ;;
  esac
done
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "Missing: ${need[*]}. Install them with: sudo apt-get install ${need[*]}" >&2
  exit 1
fi
echo "==> installing ${need[*]} (apt-get)"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
# Debian starts a cluster on install; tests start their own, so stop it.
command -v pg_ctlcluster >/dev/null && { service postgresql stop >/dev/null 2>&1 || true; }
exit 0
