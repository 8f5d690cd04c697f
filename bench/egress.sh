#!/usr/bin/env bash
# HTTP egress: direct vs through sandgate's egress proxy vs through squid.
#
# Starts a 1 KiB loopback backend (bench/egressload backend), a sandgate
# egress proxy (bench/egressload proxy) and a squid with an equivalent
# allowlist (basic auth, one host, one port, no cache), each on a free
# loopback port with its own temp dirs; runs wrk (same load for all three:
# THREADS threads, CONNS connections, keep-alive, DURATION seconds) ROUNDS
# times with the targets interleaved, and prints median req/s, p50/p99
# latency and ratios. Everything it starts is stopped on exit.
#
# Knobs (environment): ROUNDS (3), DURATION (10), CONNS (32), THREADS (2),
# SIZE (1024), KEEP_TMP=1 (keep logs and configs), SQUID (squid binary),
# TRACE (1: every request traced over OTLP/HTTP to bench/otlpsink; 0: off),
# PROFILE (a file: the sandgate proxy writes a CPU profile of its run there).
# Needs wrk and squid (apt-get install -y wrk squid). See bench/README-egress.md.
set -euo pipefail

ROUNDS="${ROUNDS:-3}"
DURATION="${DURATION:-10}"
CONNS="${CONNS:-32}"
THREADS="${THREADS:-2}"
SIZE="${SIZE:-1024}"
SQUID="${SQUID:-$(command -v squid || echo /usr/sbin/squid)}"
NCSA=/usr/lib/squid/basic_ncsa_auth
PASSWORD=bench-pw
HOST=backend.test

cd "$(dirname "$0")/.."
die() { echo "egress.sh: $*" >&2; exit 1; }
log() { echo "==> $*" >&2; }
command -v wrk >/dev/null || die "wrk not found; run: apt-get install -y wrk"
[ -x "$SQUID" ] || die "squid not found; run: apt-get install -y squid"
[ -x "$NCSA" ] || die "$NCSA not found (Debian package squid)"

TMP="$(mktemp -d /tmp/sandgate-egress-bench.XXXXXX)"
chmod 0755 "$TMP" # squid runs as its proxy user and must reach its dir
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [ "${KEEP_TMP:-0}" = 1 ]; then log "kept $TMP"; else rm -rf "$TMP"; fi
}
trap cleanup EXIT

free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
wait_file() { for _ in $(seq 1 100); do [ -s "$1" ] && return 0; sleep 0.1; done; die "timed out waiting for $1"; }

log "building bench/egressload"
go build -o "$TMP/egressload" ./bench/egressload

"$TMP/egressload" backend -size "$SIZE" -addr-file "$TMP/backend.addr" 2>"$TMP/backend.err" &
PIDS+=($!)
wait_file "$TMP/backend.addr"
BACKEND="$(cat "$TMP/backend.addr")"
BPORT="${BACKEND##*:}"

# Every request traced, as the issue's target says (TRACE=0 turns it off):
# OTLP/HTTP to bench/otlpsink, a receiver on loopback that decodes and
# discards.
TRACE_ARGS=()
if [ "${TRACE:-1}" = 1 ]; then
  go build -o "$TMP/otlpsink" ./bench/otlpsink
  OTLP_PORT="$(free_port)"
  "$TMP/otlpsink" -listen "127.0.0.1:$OTLP_PORT" >"$TMP/otlpsink.log" 2>&1 &
  PIDS+=($!)
  for _ in $(seq 1 100); do (exec 3<>"/dev/tcp/127.0.0.1/$OTLP_PORT") 2>/dev/null && break; sleep 0.1; done
  TRACE_ARGS=(-otlp "127.0.0.1:$OTLP_PORT")
fi
GOGC="${SANDGATE_GOGC:-400}" GOMAXPROCS="${SANDGATE_GOMAXPROCS:-$(nproc)}" "$TMP/egressload" proxy -backend-port "$BPORT" -host "$HOST=127.0.0.1" -password "$PASSWORD" \
  -addr-file "$TMP/sandgate.addr" -log "$TMP/sandgate.log" "${TRACE_ARGS[@]}" ${PROFILE:+-cpuprofile "$PROFILE"} 2>"$TMP/sandgate.err" &
PIDS+=($!)
SANDGATE_PID=$!
wait_file "$TMP/sandgate.addr"
SANDGATE="$(cat "$TMP/sandgate.addr")"

# ---- squid: same allowlist (one host, one port, basic auth), no cache -----
SQ="$TMP/squid"
mkdir -p "$SQ"
QPORT="$(free_port)"
echo "127.0.0.1 $HOST" >"$SQ/hosts"
echo "bench:$(openssl passwd -apr1 "$PASSWORD")" >"$SQ/passwd"
cat >"$SQ/squid.conf" <<CONF
http_port 127.0.0.1:$QPORT
visible_hostname sandgate-bench
pid_filename $SQ/squid.pid
cache_effective_user proxy
cache deny all
cache_mem 8 MB
access_log daemon:$SQ/access.log
cache_log $SQ/cache.log
cache_store_log none
coredump_dir $SQ
netdb_filename none
hosts_file $SQ/hosts
dns_nameservers 127.0.0.1
auth_param basic program $NCSA $SQ/passwd
auth_param basic children 2
auth_param basic credentialsttl 2 hours
acl bench proxy_auth bench
acl allowed_host dstdomain $HOST
acl allowed_port port $BPORT
http_access allow allowed_host allowed_port bench
http_access deny all
via off
forwarded_for delete
shutdown_lifetime 1 seconds
CONF
chown -R proxy:proxy "$SQ" 2>/dev/null || true
"$SQUID" -N -f "$SQ/squid.conf" 2>"$SQ/stderr" &
PIDS+=($!)
SQUID_PID=$!
SQUIDADDR="127.0.0.1:$QPORT"

# ---- readiness: each target answers 200 through curl ----------------------
ready() { # name proxy-or-empty
  for _ in $(seq 1 100); do
    if [ -z "$2" ]; then
      code="$(curl -s -o /dev/null -w '%{http_code}' "http://$BACKEND/" || true)"
    else
      code="$(curl -s -o /dev/null -w '%{http_code}' -x "http://bench:$PASSWORD@$2" "http://$HOST:$BPORT/" || true)"
    fi
    [ "$code" = 200 ] && return 0
    sleep 0.2
  done
  die "$1 never answered 200 (see $TMP)"
}
ready direct ""
ready sandgate "$SANDGATE"
ready squid "$SQUIDADDR"

AUTH="$(printf 'bench:%s' "$PASSWORD" | base64)"
cat >"$TMP/proxy.lua" <<LUA
wrk.method = "GET"
wrk.path = "http://$HOST:$BPORT/"
wrk.headers["Host"] = "$HOST:$BPORT"
wrk.headers["Proxy-Authorization"] = "Basic $AUTH"
LUA

# CPU time (user+system, clock ticks) of a process, children excluded.
TICK="$(getconf CLK_TCK)"
ticks() { [ -n "$1" ] && awk '{print $14+$15}' "/proc/$1/stat" 2>/dev/null || echo 0; }

# run name -> appends "rps p50ms p99ms cpu_us_per_request" to $TMP/name.results
run() {
  local name="$1" out pid="" t0 t1
  case "$name" in sandgate) pid="$SANDGATE_PID" ;; squid) pid="$SQUID_PID" ;; esac
  t0="$(ticks "$pid")"
  case "$name" in
    direct) out="$(wrk -t"$THREADS" -c"$CONNS" -d"${DURATION}s" --latency "http://$BACKEND/")" ;;
    sandgate) out="$(wrk -t"$THREADS" -c"$CONNS" -d"${DURATION}s" --latency -s "$TMP/proxy.lua" "http://$SANDGATE/")" ;;
    squid) out="$(wrk -t"$THREADS" -c"$CONNS" -d"${DURATION}s" --latency -s "$TMP/proxy.lua" "http://$SQUIDADDR/")" ;;
  esac
  t1="$(ticks "$pid")"
  echo "$out" >"$TMP/$name.wrk.$2"
  if echo "$out" | grep -q 'Non-2xx'; then die "$name answered non-2xx responses: $(echo "$out" | grep Non-2xx)"; fi
  echo "$out" | awk -v cpu="$((t1 - t0))" -v tick="$TICK" -v haspid="$pid" '
    function ms(v) { if (v ~ /us$/) return v/1000; if (v ~ /ms$/) return v+0; if (v ~ /s$/) return v*1000; return v }
    / requests in / { n=$1 }
    /Requests\/sec/ { rps=$2 }
    $1=="50%" { p50=ms($2) }
    $1=="99%" { p99=ms($2) }
    END { printf "%s %.3f %.3f %.1f\n", rps, p50, p99, (haspid == "" || n == 0) ? 0 : cpu / tick * 1e6 / n }' >>"$TMP/$name.results"
}

for r in $(seq 1 "$ROUNDS"); do
  for t in direct sandgate squid; do
    log "round $r/$ROUNDS: $t"
    run "$t" "$r"
  done
done

median() { sort -n | awk '{a[NR]=$1} END { if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2 }'; }
col() { awk -v c="$2" '{print $c}' "$TMP/$1.results" | median; }

echo
echo "egress benchmark: ${SIZE}-byte responses, $CONNS connections, $THREADS wrk threads, ${DURATION}s x $ROUNDS rounds (median)"
printf '%-10s %12s %10s %10s %14s\n' target req/s p50_ms p99_ms proxy_cpu_us/req
for t in direct sandgate squid; do
  printf '%-10s %12.0f %10.3f %10.3f %14.1f\n' "$t" "$(col "$t" 1)" "$(col "$t" 2)" "$(col "$t" 3)" "$(col "$t" 4)"
done
SG="$(col sandgate 1)"; SQ_RPS="$(col squid 1)"; DI="$(col direct 1)"
awk -v sg="$SG" -v sq="$SQ_RPS" -v di="$DI" 'BEGIN {
  printf "sandgate/squid throughput: %.2fx   sandgate/direct: %.2fx   squid/direct: %.2fx\n", sg/sq, sg/di, sq/di }'
awk -v sg="$(col sandgate 4)" -v sq="$(col squid 4)" 'BEGIN { if (sg > 0) printf "squid/sandgate CPU per request: %.2fx (squid excludes its auth helper processes)\n", sq/sg }'
echo "sandgate canonical log lines: $(wc -l <"$TMP/sandgate.log")"
