#!/usr/bin/env bash
# Installs Debian packages the tests, demo or benchmarks need, when missing.
# Usage: bench/deps.sh postgres [pgbouncer] [curl] [node] [jdbc] [psycopg]
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
    # The PostgreSQL JDBC driver (Debian's jar) and a Java runtime to run it.
    jdbc) [ -r /usr/share/java/postgresql.jar ] || need+=(libpostgresql-jdbc-java)
          command -v java >/dev/null || need+=(default-jre-headless) ;;
    # psycopg2 for Debian's own python3 (not a pyenv or venv one).
    psycopg) /usr/bin/python3 -c 'import psycopg2' >/dev/null 2>&1 || need+=(python3 python3-psycopg2) ;;
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
