#!/usr/bin/env bash
# pgbench: direct to PostgreSQL vs through sandgate vs through pgbouncer.
#
# Starts one throwaway PostgreSQL (temp dir, free loopback port), a sandgate
# and a pgbouncer in front of it, runs each workload ROUNDS times with the
# three targets interleaved, and prints median TPS, ratios and the proxies'
# CPU per transaction. Everything it starts is stopped on exit.
#
# Knobs (environment): ONLY (regexp of workload names), TARGETS_ONLY (regexp of
# target names: direct sandgate observed pgbouncer unchecked), OBS_TRACES and
# OBS_AUDIT (1: the observed gateway traces / audits; 0: it does not),
# OBS_DURABILITY (group or fsync: the observed gateway's audit durability),
# OBS_GROUP_WINDOW (its audit.group_window, e.g. 20ms), ROUNDS (3), DURATION (seconds per run, 10), SCALE (10),
# CLIENTS (8), THREADS (2), MAX_SECONDS (whole-run watchdog), KEEP_TMP=1
# (keep the temp dir with every log), SANDGATE_BIN (bin/sandgate), PROFILE_DIR
# (each sandgate writes a CPU profile of its whole run there: sandgate.pprof,
# observed.pprof, unchecked.pprof), ALT_BIN (a second sandgate binary, or a
# wrapper script that execs one, run as target "alt" with sandgate's own
# configuration: for A/B experiments between two builds or settings).
# See bench/README.md.
set -euo pipefail

ROUNDS="${ROUNDS:-3}"
DURATION="${DURATION:-10}"
SCALE="${SCALE:-10}"
CLIENTS="${CLIENTS:-8}"
THREADS="${THREADS:-2}"
NWORK=5
MAX_SECONDS="${MAX_SECONDS:-$((NWORK * 5 * ROUNDS * (DURATION + 20) + 900))}"

# Binaries named by a relative path are relative to where the script was
# started, not to the repository root it moves to.
case "${SANDGATE_BIN:-/}" in /*) ;; *) SANDGATE_BIN="$PWD/$SANDGATE_BIN" ;; esac
case "${ALT_BIN:-/}" in /*) ;; *) ALT_BIN="$PWD/$ALT_BIN" ;; esac
cd "$(dirname "$0")/.."
ROOT="$PWD"
SANDGATE_BIN="${SANDGATE_BIN:-$ROOT/bin/sandgate}"

die() { echo "pgbench.sh: $*" >&2; exit 1; }
log() { echo "==> $*" >&2; }

# ---- tools -----------------------------------------------------------------
PGBIN="$(pg_config --bindir 2>/dev/null || true)"
if [ -z "$PGBIN" ] || [ ! -x "$PGBIN/initdb" ]; then
  PGBIN="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1 || true)"
fi
[ -n "$PGBIN" ] && [ -x "$PGBIN/initdb" ] && [ -x "$PGBIN/postgres" ] ||
  die "PostgreSQL server binaries not found; run: bash bench/deps.sh postgres pgbouncer"
PGBENCH="$(command -v pgbench || echo "$PGBIN/pgbench")"
PSQL="$(command -v psql || echo "$PGBIN/psql")"
PGBOUNCER="$(command -v pgbouncer || echo /usr/sbin/pgbouncer)"
[ -x "$PGBENCH" ] && [ -x "$PSQL" ] || die "psql/pgbench not found; run: bash bench/deps.sh postgres"
[ -x "$PGBOUNCER" ] || die "pgbouncer not found; run (as root): bash bench/deps.sh postgres pgbouncer"
if [ ! -x "$SANDGATE_BIN" ]; then
  log "building bin/sandgate"
  go build -o bin/sandgate ./cmd/sandgate
  SANDGATE_BIN="$ROOT/bin/sandgate"
fi
# The same gateway built to apply no policy at all (-tags sandgate_unchecked),
# to measure what the policy costs. Benchmarks only.
UNCHECKED_BIN="$ROOT/bin/sandgate-unchecked"
log "building bin/sandgate-unchecked (no policy: benchmark only)"
go build -tags sandgate_unchecked -o "$UNCHECKED_BIN" ./cmd/sandgate || die "build the unchecked gateway"
CLK_TCK="$(getconf CLK_TCK)"

# PostgreSQL and pgbouncer refuse to run as root: run them as `postgres`.
# setpriv execs in place, so $! is the server's own pid.
if [ "$(id -u)" -eq 0 ]; then
  id postgres >/dev/null 2>&1 || die "running as root needs the postgres system user (install the postgresql package)"
  AS_PG=(setpriv --reuid=postgres --regid=postgres --init-groups --)
else
  AS_PG=()
fi

# ---- cleanup ---------------------------------------------------------------
TMP=""
PIDS=()          # processes we started, stopped in reverse order
PG_PID=""
cleanup() {
  local rc=$? i pid
  trap - EXIT INT TERM
  for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
    pid="${PIDS[$i]}"
    # postgres: SIGINT is its fast shutdown; the rest stop on SIGTERM.
    if [ "$pid" = "$PG_PID" ]; then kill -INT "$pid" 2>/dev/null || true; else kill -TERM "$pid" 2>/dev/null || true; fi
  done
  # Give them 10 s, then SIGKILL whatever is left.
  for pid in "${PIDS[@]}"; do
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  if [ -n "$TMP" ] && [ -d "$TMP" ]; then
    if [ "${KEEP_TMP:-0}" = 1 ]; then echo "pgbench.sh: kept $TMP" >&2; else rm -rf "$TMP"; fi
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'echo "pgbench.sh: stopped (watchdog MAX_SECONDS=$MAX_SECONDS or SIGTERM)" >&2; exit 143' TERM

# Whole-run watchdog: bounded run time even if something hangs.
( trap 'kill "$sp" 2>/dev/null; exit 0' TERM
  sleep "$MAX_SECONDS" & sp=$!
  wait "$sp" && kill -TERM $$ 2>/dev/null ) &
PIDS+=($!)

TMP="$(mktemp -d /tmp/sandgate-pgbench.XXXXXX)"
chmod 755 "$TMP"

# ---- helpers ---------------------------------------------------------------
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
USED_PORTS=" "
# Ports are picked below the kernel's ephemeral range, so that no outgoing
# connection (the proxies' upstream legs, pgbench's clients, a TIME_WAIT left
# by -C) can hold the port a server is about to listen on.
EPH_LO="$(cut -f1 /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)"
[ "$EPH_LO" -gt 12000 ] 2>/dev/null || EPH_LO=32768
free_port() {
  local p
  for _ in $(seq 1 200); do
    p=$((10000 + RANDOM % (EPH_LO - 10000)))
    case "$USED_PORTS" in *" $p "*) continue ;; esac
    if ! port_open "$p"; then USED_PORTS+="$p "; echo "$p"; return 0; fi
  done
  die "no free port found"
}
wait_port() { # port pid what
  for _ in $(seq 1 300); do
    port_open "$1" && return 0
    kill -0 "$2" 2>/dev/null || { echo "pgbench.sh: $3 exited before listening on port $1; its log:" >&2; return 1; }
    sleep 0.1
  done
  echo "pgbench.sh: $3 did not listen on port $1 within 30 s; its log:" >&2
  return 1
}
randpw() { head -c 24 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' | head -c 24; }
cpu_ticks() { # utime+stime of a process (all threads), in clock ticks
  local stat rest
  stat="$(cat "/proc/$1/stat")"
  rest="${stat##*) }" # fields from 3 (state) on; comm may hold spaces
  # shellcheck disable=SC2086
  set -- $rest
  echo $(( ${12} + ${13} ))
}
median() { # numbers as arguments
  printf '%s\n' "$@" | sort -g | awk '{v[NR]=$1} END {
    if (NR == 0) { print "nan"; exit }
    if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
prof() { [ -n "${PROFILE_DIR:-}" ] && mkdir -p "$PROFILE_DIR" && echo "-cpuprofile $PROFILE_DIR/$1.pprof"; return 0; }
psql_su() { "$PSQL" -X -q -v ON_ERROR_STOP=1 -h "$TMP" -p "$PGPORT" -U postgres "$@"; }

# ---- PostgreSQL --------------------------------------------------------------
PGPORT="$(free_port)"
SG_PORT="$(free_port)"
SGO_PORT="$(free_port)"
SGU_PORT="$(free_port)"
ALT_PORT="$(free_port)"
PGB_PORT="$(free_port)"
UP_PW="$(randpw)"     # sandgate's upstream role
BENCH_PW="$(randpw)"  # bencher: PostgreSQL role and sandgate sandbox

[ "$(id -u)" -eq 0 ] && chown postgres: "$TMP"
log "initdb in $TMP/data ($PGBIN)"
"${AS_PG[@]}" "$PGBIN/initdb" -U postgres --auth=trust --no-sync -D "$TMP/data" >"$TMP/initdb.log" 2>&1 ||
  { cat "$TMP/initdb.log" >&2; die "initdb failed"; }
# Unix socket (setup only): trust. TCP (every benchmark client): SCRAM.
cat >"$TMP/data/pg_hba.conf" <<EOF
local all all trust
host  all all 127.0.0.1/32 scram-sha-256
host  all all ::1/128      scram-sha-256
EOF
"${AS_PG[@]}" "$PGBIN/postgres" -D "$TMP/data" -c port="$PGPORT" -c listen_addresses=127.0.0.1 \
  -c unix_socket_directories="$TMP" -c fsync=off -c max_connections=200 \
  -c password_encryption=scram-sha-256 >"$TMP/postgres.log" 2>&1 &
PG_PID=$!
PIDS+=("$PG_PID")
wait_port "$PGPORT" "$PG_PID" postgres || { cat "$TMP/postgres.log" >&2; exit 1; }
for _ in $(seq 1 100); do psql_su -d postgres -c 'select 1' >/dev/null 2>&1 && break; sleep 0.1; done

log "creating roles and database, pgbench -i -s $SCALE"
psql_su -d postgres <<EOF
CREATE ROLE sandgate LOGIN PASSWORD '$UP_PW';
CREATE ROLE bencher LOGIN PASSWORD '$BENCH_PW';
CREATE DATABASE bench OWNER postgres;
EOF
"$PGBENCH" -i -s "$SCALE" -q -h "$TMP" -p "$PGPORT" -U postgres bench >"$TMP/init.log" 2>&1 ||
  { cat "$TMP/init.log" >&2; die "pgbench -i failed"; }
psql_su -d bench <<EOF
GRANT SELECT ON ALL TABLES IN SCHEMA public TO sandgate;
GRANT SELECT ON ALL TABLES IN SCHEMA public TO bencher;
EOF
BENCH_VERIFIER="$(psql_su -d postgres -At -c "SELECT rolpassword FROM pg_authid WHERE rolname = 'bencher'")"
case "$BENCH_VERIFIER" in SCRAM-SHA-256\$*) ;; *) die "bencher's password is not a SCRAM verifier" ;; esac

# ---- sandgate ----------------------------------------------------------------
SG_VERIFIER="$(printf '%s' "$BENCH_PW" | "$SANDGATE_BIN" passwd)"
mkdir -p "$TMP/sg"
cat >"$TMP/sg/policy.yaml" <<EOF
version: 1
sandboxes:
  - name: bencher
    owner: bench/pgbench.sh
    purpose: pgbench throughput benchmark
    database: bench
    password_verifier: "$SG_VERIFIER"
    tables:
      public.pgbench_accounts: {aid: allow, bid: allow, abalance: allow, filler: allow}
      public.pgbench_branches: {bid: allow, bbalance: allow, filler: allow}
      public.pgbench_tellers: {tid: allow, bid: allow, tbalance: allow, filler: allow}
      public.pgbench_history: {tid: allow, bid: allow, aid: allow, delta: allow, mtime: allow, filler: allow}
EOF
cat >"$TMP/sg/sandgate.yaml" <<EOF
version: 1
listen: 127.0.0.1:$SG_PORT
data_dir: data
policy:
  - policy.yaml
tls:
  mode: "off"
upstream:
  host: 127.0.0.1
  port: $PGPORT
  user: sandgate
  password_env: SANDGATE_UPSTREAM_PASSWORD
  sslmode: disable
limits:
  max_connections_per_sandbox: 200
pool:
  idle_per_sandbox: 32
log:
  level: warn
EOF
# derive_config name port: sandgate.yaml listening on another port, with its
# own data directory, as $TMP/sg/name.yaml.
derive_config() {
  sed -e "s/^listen: .*/listen: 127.0.0.1:$2/" -e "s/^data_dir: .*/data_dir: data-$1/" "$TMP/sg/sandgate.yaml" >"$TMP/sg/$1.yaml"
}
# start_gateway name binary port: serves $TMP/sg/name.yaml, logs to
# $TMP/name.log, and leaves its pid in STARTED_PID.
start_gateway() {
  SANDGATE_UPSTREAM_PASSWORD="$UP_PW" "$2" serve -config "$TMP/sg/$1.yaml" $(prof "$1") >"$TMP/$1.log" 2>&1 &
  STARTED_PID=$!
  PIDS+=("$STARTED_PID")
  wait_port "$3" "$STARTED_PID" "sandgate ($1)" || { cat "$TMP/$1.log" >&2; exit 1; }
}
log "starting sandgate on 127.0.0.1:$SG_PORT"
start_gateway sandgate "$SANDGATE_BIN" "$SG_PORT"
SG_PID=$STARTED_PID

# The same gateway with every statement traced (OTLP/HTTP to a sink that
# stands in for a collector) and audited (group commit), to measure what
# observability costs.
OTLP_PORT="$(free_port)"
(cd "$ROOT" && go build -o "$TMP/otlpsink" ./bench/otlpsink) || die "build bench/otlpsink"
"$TMP/otlpsink" -listen "127.0.0.1:$OTLP_PORT" >"$TMP/otlpsink.log" 2>&1 &
SINK_PID=$!
PIDS+=("$SINK_PID")
wait_port "$OTLP_PORT" "$!" otlpsink || exit 1
derive_config observed "$SGO_PORT"
if [ "${OBS_TRACES:-1}" = 1 ]; then
  cat >>"$TMP/sg/observed.yaml" <<EOF
telemetry:
  traces: otlp-http
  endpoint: 127.0.0.1:$OTLP_PORT
  insecure: true
EOF
fi
if [ "${OBS_AUDIT:-1}" = 1 ]; then
  cat >>"$TMP/sg/observed.yaml" <<EOF
audit:
  dir: audit
  durability: ${OBS_DURABILITY:-group}
EOF
  [ -n "${OBS_GROUP_WINDOW:-}" ] && echo "  group_window: $OBS_GROUP_WINDOW" >>"$TMP/sg/observed.yaml"
fi
log "starting sandgate with tracing and audit on 127.0.0.1:$SGO_PORT"
start_gateway observed "$SANDGATE_BIN" "$SGO_PORT"
SGO_PID=$STARTED_PID

derive_config unchecked "$SGU_PORT"
log "starting sandgate without policy (unchecked build) on 127.0.0.1:$SGU_PORT"
start_gateway unchecked "$UNCHECKED_BIN" "$SGU_PORT"
SGU_PID=$STARTED_PID

ALT_PID=""
if [ -n "${ALT_BIN:-}" ]; then
  [ -x "$ALT_BIN" ] || die "ALT_BIN=$ALT_BIN is not executable"
  derive_config alt "$ALT_PORT"
  log "starting the alternative sandgate ($ALT_BIN) on 127.0.0.1:$ALT_PORT"
  start_gateway alt "$ALT_BIN" "$ALT_PORT"
  ALT_PID=$STARTED_PID
fi

# ---- pgbouncer -----------------------------------------------------------------
# auth_file holds bencher's SCRAM verifier copied from pg_authid: clients do
# SCRAM with pgbouncer, which then logs in upstream with the client's keys.
mkdir -p "$TMP/pgb"
printf '"bencher" "%s"\n' "$BENCH_VERIFIER" >"$TMP/pgb/userlist.txt"
cat >"$TMP/pgb/pgbouncer.ini" <<EOF
[databases]
bench = host=127.0.0.1 port=$PGPORT dbname=bench

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $PGB_PORT
unix_socket_dir =
auth_type = scram-sha-256
auth_file = $TMP/pgb/userlist.txt
pool_mode = session
max_client_conn = 200
default_pool_size = 32
logfile = $TMP/pgb/pgbouncer.log
pidfile = $TMP/pgb/pgbouncer.pid
log_connections = 0
log_disconnections = 0
ignore_startup_parameters = extra_float_digits
EOF
[ "$(id -u)" -eq 0 ] && chown -R postgres: "$TMP/pgb"
log "starting pgbouncer on 127.0.0.1:$PGB_PORT"
"${AS_PG[@]}" "$PGBOUNCER" "$TMP/pgb/pgbouncer.ini" >"$TMP/pgb/stdout.log" 2>&1 &
PGB_PID=$!
PIDS+=("$PGB_PID")
wait_port "$PGB_PORT" "$PGB_PID" pgbouncer || { cat "$TMP/pgb/stdout.log" "$TMP/pgb/pgbouncer.log" >&2 || true; exit 1; }

# ---- workloads -------------------------------------------------------------------
cat >"$TMP/range1000.sql" <<EOF
\set a random(1, $((100000 * SCALE - 999)))
SELECT aid, bid, abalance, filler FROM pgbench_accounts WHERE aid BETWEEN :a AND :a + 999;
EOF
chmod 644 "$TMP/range1000.sql"

W_NAME=("select -S simple" "select -S extended" "select -S prepared" "select -S -C" "1000-row range")
W_ARGS=("-S -M simple" "-S -M extended" "-S -M prepared" "-S -C -M simple" "-f $TMP/range1000.sql -M simple")
# ONLY (a regular expression) keeps the workloads whose names match it.
if [ -n "${ONLY:-}" ]; then
  keep_n=() keep_a=()
  for i in "${!W_NAME[@]}"; do
    if [[ "${W_NAME[$i]}" =~ $ONLY ]]; then keep_n+=("${W_NAME[$i]}"); keep_a+=("${W_ARGS[$i]}"); fi
  done
  W_NAME=("${keep_n[@]}") W_ARGS=("${keep_a[@]}")
fi
TARGETS=(direct sandgate observed pgbouncer unchecked)
[ -n "$ALT_PID" ] && TARGETS+=(alt)
# TARGETS_ONLY (a regular expression) keeps the targets whose names match it.
if [ -n "${TARGETS_ONLY:-}" ]; then
  keep_t=()
  for t in "${TARGETS[@]}"; do [[ "$t" =~ $TARGETS_ONLY ]] && keep_t+=("$t"); done
  [ "${#keep_t[@]}" -gt 0 ] || die "TARGETS_ONLY=$TARGETS_ONLY matches none of: ${TARGETS[*]}"
  TARGETS=("${keep_t[@]}")
fi
declare -A PORT=([direct]="$PGPORT" [sandgate]="$SG_PORT" [observed]="$SGO_PORT" [pgbouncer]="$PGB_PORT" [unchecked]="$SGU_PORT" [alt]="$ALT_PORT")
declare -A PROXY_PID=([sandgate]="$SG_PID" [observed]="$SGO_PID" [pgbouncer]="$PGB_PID" [unchecked]="$SGU_PID" [alt]="$ALT_PID")
declare -A TPS=() USPT=() FAILED=() SINKUS=()
declare -A TPS_R=() USPT_R=() # by "workload|target|round", for the paired comparisons
FAILURES="$TMP/failures.txt"
: >"$FAILURES"

# Every client connects over TCP with SCRAM; no TLS, no GSS (none configured).
export PGSSLMODE=disable PGGSSENCMODE=disable PGPASSWORD="$BENCH_PW"

run_one() { # workload-index target round
  local w=$1 t=$2 r=$3 out rc=0 before=0 after=0 sbefore=0 safter=0 tps tx us="-" pid="${PROXY_PID[$2]:-}"
  out="$TMP/run-w$1-$2-r$3.log"
  [ -n "$pid" ] && before="$(cpu_ticks "$pid")"
  [ "$t" = observed ] && sbefore="$(cpu_ticks "$SINK_PID")"
  # shellcheck disable=SC2086
  timeout -k 5 $((DURATION + 60)) "$PGBENCH" -n -c "$CLIENTS" -j "$THREADS" -T "$DURATION" ${W_ARGS[$w]} \
    -h 127.0.0.1 -p "${PORT[$t]}" -U bencher bench >"$out" 2>&1 || rc=$?
  [ -n "$pid" ] && after="$(cpu_ticks "$pid")"
  [ "$t" = observed ] && safter="$(cpu_ticks "$SINK_PID")"
  tps="$(sed -n 's/^tps = \([0-9.]*\).*/\1/p' "$out" | tail -n1)"
  tx="$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' "$out" | tail -n1)"
  local errs
  errs="$(grep -E 'error|ERROR|FATAL|aborted|failed transactions: [1-9]' "$out" || true)"
  if [ "$rc" -ne 0 ] || [ -n "$errs" ] || [ -z "$tps" ] || [ -z "$tx" ] || [ "$tx" -eq 0 ]; then
    FAILED["$w|$t"]=1
    { echo "--- ${W_NAME[$w]} / $t / round $r (exit $rc)"; if [ -n "$errs" ]; then echo "$errs" | head -n 20; else tail -n 20 "$out"; fi; } >>"$FAILURES"
    printf '  %-20s round %d  %-9s  FAILED (exit %d), see end of output\n' "${W_NAME[$w]}" "$r" "$t" "$rc" >&2
    return 0
  fi
  if [ -n "$pid" ]; then
    us="$(awk -v d=$((after - before)) -v hz="$CLK_TCK" -v n="$tx" 'BEGIN { printf "%.1f", d * 1e6 / hz / n }')"
    USPT["$w|$t"]+="$us "
    USPT_R["$w|$t|$r"]="$us"
  fi
  if [ "$t" = observed ]; then
    SINKUS["$w"]+="$(awk -v d=$((safter - sbefore)) -v hz="$CLK_TCK" -v n="$tx" 'BEGIN { printf "%.1f", d * 1e6 / hz / n }') "
  fi
  TPS["$w|$t"]+="$tps "
  TPS_R["$w|$t|$r"]="$tps"
  printf '  %-20s round %d  %-9s  tps %10.1f  proxy CPU µs/tx %s\n' "${W_NAME[$w]}" "$r" "$t" "$tps" "$us" >&2
}

# Sanity check: the 1000-row query must return the same rows on every target.
SANITY_SQL="SELECT aid, bid, abalance, filler FROM pgbench_accounts WHERE aid BETWEEN 1 AND 1000"
declare -A SUM=()
for t in direct sandgate pgbouncer; do
  SUM[$t]="$("$PSQL" -X -At -h 127.0.0.1 -p "${PORT[$t]}" -U bencher -d bench -c "$SANITY_SQL" 2>&1 | { tee "$TMP/sanity-$t.txt"; } | wc -l) rows, md5 $(md5sum <"$TMP/sanity-$t.txt" | cut -c1-12)"
done
log "sanity (1000-row query): direct ${SUM[direct]}; sandgate ${SUM[sandgate]}; pgbouncer ${SUM[pgbouncer]}"
if [ "${SUM[sandgate]}" != "${SUM[direct]}" ] || [ "${SUM[pgbouncer]}" != "${SUM[direct]}" ]; then
  { echo "--- sanity: the 1000-row query differs between targets"
    for t in sandgate pgbouncer; do diff "$TMP/sanity-direct.txt" "$TMP/sanity-$t.txt" | head -n 5 | sed "s/^/$t: /"; done; } >>"$FAILURES"
fi

log "running: ${#W_NAME[@]} workloads x ${#TARGETS[@]} targets x $ROUNDS rounds x ${DURATION}s (-c $CLIENTS -j $THREADS, scale $SCALE)"
START=$(date +%s)
LOAD_START="$(cut -d' ' -f1-3 /proc/loadavg)"
awk -v n="$(nproc)" '$1 > n { exit 1 }' /proc/loadavg ||
  log "warning: load average $LOAD_START on $(nproc) CPUs before the runs: other work will skew the figures"
for ((w = 0; w < ${#W_NAME[@]}; w++)); do
  for ((r = 1; r <= ROUNDS; r++)); do
    # Interleave the targets, rotating who goes first each round.
    for ((k = 0; k < ${#TARGETS[@]}; k++)); do
      run_one "$w" "${TARGETS[$(((r - 1 + k) % ${#TARGETS[@]}))]}" "$r"
    done
  done
done
ELAPSED=$(($(date +%s) - START))
LOAD_END="$(cut -d' ' -f1-3 /proc/loadavg)"

# ---- report ----------------------------------------------------------------------
cell() { # workload target -> median tps or ERR
  if [ -n "${FAILED["$1|$2"]:-}" ]; then echo ERR; return; fi
  if [ -z "${TPS["$1|$2"]:-}" ]; then echo -; return; fi # not run (TARGETS_ONLY)
  # shellcheck disable=SC2086
  median ${TPS["$1|$2"]}
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a+0 > 0 && b+0 > 0) printf "%.2f", a / b; else printf "-" }'; }
echo
echo "pgbench: $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs, PostgreSQL $("$PGBIN/postgres" --version | awk '{print $3}'), $("$PGBOUNCER" --version | head -n1),"
echo "scale $SCALE, -c $CLIENTS -j $THREADS, ROUNDS=$ROUNDS, DURATION=${DURATION}s, median TPS, SCRAM on every connection, runs took ${ELAPSED}s"
echo "load average before runs: $LOAD_START, after: $LOAD_END"
printf '%-20s %8s %8s %8s %9s %9s %9s %6s %6s %8s %8s %8s %8s\n' workload direct sandgate sg+obs pgbouncer unchecked sg/direct sg/pgb obs/sg sg/unchk "sg µs/tx" "obs µs/tx" "pgb µs/tx"
for ((w = 0; w < ${#W_NAME[@]}; w++)); do
  d="$(cell "$w" direct)"; s="$(cell "$w" sandgate)"; o="$(cell "$w" observed)"; p="$(cell "$w" pgbouncer)"; u="$(cell "$w" unchecked)"
  su="-"; pu="-"; ou="-"
  # shellcheck disable=SC2086
  [ -n "${USPT["$w|observed"]:-}" ] && ou="$(median ${USPT["$w|observed"]})"
  # shellcheck disable=SC2086
  [ -n "${USPT["$w|sandgate"]:-}" ] && su="$(median ${USPT["$w|sandgate"]})"
  # shellcheck disable=SC2086
  [ -n "${USPT["$w|pgbouncer"]:-}" ] && pu="$(median ${USPT["$w|pgbouncer"]})"
  fmt() { case "$1" in ERR | - | nan) echo "$1" ;; *) printf '%.0f' "$1" ;; esac; }
  printf '%-20s %8s %8s %8s %9s %9s %9s %6s %6s %8s %8s %8s %8s\n' "${W_NAME[$w]}" "$(fmt "$d")" "$(fmt "$s")" "$(fmt "$o")" "$(fmt "$p")" "$(fmt "$u")" \
    "$(ratio "$s" "$d")" "$(ratio "$s" "$p")" "$(ratio "$o" "$s")" "$(ratio "$s" "$u")" "$su" "$ou" "$pu"
done
if [ -n "$ALT_PID" ]; then
  for ((w = 0; w < ${#W_NAME[@]}; w++)); do
    a="$(cell "$w" alt)"; s="$(cell "$w" sandgate)"; p="$(cell "$w" pgbouncer)"; au="-"
    # shellcheck disable=SC2086
    [ -n "${USPT["$w|alt"]:-}" ] && au="$(median ${USPT["$w|alt"]})"
    printf 'alt (%s): %-20s tps %s  alt/sg %s  alt/pgb %s  alt µs/tx %s\n' "$ALT_BIN" "${W_NAME[$w]}" "$(fmt "$a")" "$(ratio "$a" "$s")" "$(ratio "$a" "$p")" "$au"
  done
fi
# Paired rounds: within a round the targets run back to back, so a round's
# ratio is not moved by what drifts between rounds (the machine's other
# load); the spread of these ratios is the benchmark's own noise.
paired() { # workload a b label: per-round a/b TPS ratios and CPU differences
  local w=$1 a=$2 b=$3 r ratios="" diffs="" n=0 ahead=0 x
  for ((r = 1; r <= ROUNDS; r++)); do
    [ -n "${TPS_R["$w|$a|$r"]:-}" ] && [ -n "${TPS_R["$w|$b|$r"]:-}" ] || continue
    x="$(ratio "${TPS_R["$w|$a|$r"]}" "${TPS_R["$w|$b|$r"]}")"
    ratios+="$x "
    n=$((n + 1))
    awk -v x="$x" 'BEGIN { exit !(x >= 1) }' && ahead=$((ahead + 1))
    if [ -n "${USPT_R["$w|$a|$r"]:-}" ] && [ -n "${USPT_R["$w|$b|$r"]:-}" ]; then
      diffs+="$(awk -v p="${USPT_R["$w|$a|$r"]}" -v q="${USPT_R["$w|$b|$r"]}" 'BEGIN { printf "%+.1f", p - q }') "
    fi
  done
  [ "$n" -gt 1 ] || return 0
  # shellcheck disable=SC2086
  printf '  %-20s %s by round: %s(median %s; %s at or above %s in %d of %d)' "${W_NAME[$w]}" "$4" "$ratios" "$(median $ratios)" "$a" "$b" "$ahead" "$n"
  # shellcheck disable=SC2086
  [ -n "$diffs" ] && printf '; µs/tx %s-%s: %s(median %+.1f)' "$a" "$b" "$diffs" "$(median $diffs)"
  echo
}
if [ "$ROUNDS" -gt 1 ]; then
  echo "paired rounds (each round's targets ran back to back):"
  for ((w = 0; w < ${#W_NAME[@]}; w++)); do
    paired "$w" sandgate pgbouncer sg/pgb
    [ -n "$ALT_PID" ] && paired "$w" alt sandgate alt/sg
  done
fi
echo "(unchecked: the same gateway built with -tags sandgate_unchecked, applying no policy; sg/unchk is what the policy costs)"
echo "(µs/tx: CPU time of the proxy process, utime+stime from /proc, per pgbench transaction; median of runs)"
for ((w = 0; w < ${#W_NAME[@]}; w++)); do
  # shellcheck disable=SC2086
  [ -n "${SINKUS["$w"]:-}" ] && printf '(%s: the OTLP sink, standing in for a collector on this machine, used %s µs of CPU per transaction)\n' "${W_NAME[$w]}" "$(median ${SINKUS["$w"]})"
done

if [ -s "$FAILURES" ]; then
  echo
  echo "FAILURES (pgbench error lines):"
  cat "$FAILURES"
  if [ -s "$TMP/sandgate.log" ]; then echo "--- sandgate log (last 20 lines)"; tail -n 20 "$TMP/sandgate.log"; fi
  exit 1
fi
