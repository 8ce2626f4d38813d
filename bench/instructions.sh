#!/usr/bin/env bash
# instructions.sh — CPU instructions per proxied request, Portico vs the minimal Node proxy.
#
# What: user-space instructions (callgrind "Ir") that the proxy process spends per request, for
# Portico (bench/portico-target.mjs, one process) and for "node24" of ../shared/bench/anchors.sh
# (node-ceiling.mjs + undici 8), both on the same Node 24 binary, in the anchors' scenarios:
#   ka     keep-alive GET / (3-byte body)
#   close  GET / with Connection: close (a new client connection per request)
#   16k    keep-alive GET /16k (16 KiB body)
# and the ratio Portico ÷ node24 (below 1 = Portico needs fewer instructions per request).
# Why: on this noisy 2-core VM wrk req/s swings 20-60 % between rounds, and perf counters are not
# available; instruction counts do not depend on what else runs on the machine.
#
# How: both proxies run at the same time, each under `valgrind --tool=callgrind` (threads are
# serialized by valgrind: one core each) with node --trace-opt --trace-deopt, so that we can see
# when V8's JIT has settled. Steps per proxy:
#   1. warm-up, instrumentation off (~5x faster): rounds of WARM_KA ka + WARM_16K 16k +
#      WARM_CLOSE close requests (h2load) until two rounds in a row optimize at most WARM_SETTLE
#      functions (per-request functions move from Maglev to Turbofan only after ~30,000-70,000
#      requests, natively as under valgrind);
#   2. instrumentation on, SETTLE requests per scenario, not recorded (the proxy is slower when
#      instrumented, which changes read sizes and batching, and with them a few code paths);
#   3. PASSES passes over the scenarios (ka close 16k ka close 16k ...), a window per scenario and
#      pass: `callgrind_control -z`, h2load sends exactly N requests over CONNS connections,
#      `callgrind_control --dump`; Ir / N for all threads (the main thread plus V8's background
#      compiler and GC threads) and for the main thread alone.
# Reported: per scenario the cheapest window, and every window, marked * when V8 optimized or
# deoptimized more than 3 functions during it. Even after warm-up, a major GC now and then
# invalidates optimized code ("embedded weak objects cleared", "allocation site tenuring
# changed": see NODE_FLAGS=--trace-deopt-verbose), and re-optimizing costs the next 1-6 windows
# 10-500 % more. Natively (--trace-opt, 84,000 requests) we saw no such late waves, under
# valgrind one or two per run (the process runs 5-50x slower, so GCs fall at other points).
# Hence the cheapest window (best of PASSES, taken separately for all threads and main thread)
# as the steady-state figure; clean windows of one run agree within ~4 %.
# Not counted: kernel work (TCP, syscalls: most of what a new connection costs); instructions
# are not cycles (cache misses, branch mispredictions). --smc-check=all-non-file makes valgrind
# notice code that V8 rewrites in its anonymous JIT mappings (as "all" would, minus checking
# the file-backed node binary, which is never rewritten). No --jitless; Node needs no flags.
#
# Usage: npm run build && bash bench/instructions.sh     (~5-6 min; needs valgrind, nginx, h2load, curl)
#        ONLY=portico SCENARIOS=ka,16k PASSES=3 KEEP_TMP=1 bash bench/instructions.sh
#        PORTICO_BENCH_FILTERS=1 ONLY=portico ...   the route with rewrite, a request header and a canary
#        PORTICO_BENCH_LIMITS=1 ONLY=portico ...    the plain route with limit-rps and limit-connections
#        PORTICO_BENCH_ACCESS=1 ONLY=portico ...    the plain route with an allow-list, CORS and basic auth
#                                                   (requests carry the credentials: the cached check);
#                                                   =allow, =cors or =basic for that filter alone
#        NODE_FLAGS='--trace-deopt-verbose --trace-gc' ...   extra node flags (both proxies; to the log)
#        PROFILE=1 ...   per function: node --perf-basic-prof names V8's compiled JavaScript, and for
#                        each scenario bench/callgrind-functions.ts compares the two proxies' cheapest
#                        windows (main thread) into $TMP/functions-<scenario>.txt (implies KEEP_TMP=1)
# Loopback only, ports BASE_PORT (19180) .. +2; every process it starts runs in its own session,
# which the trap kills on exit. KEEP_TMP=1 keeps logs and callgrind dumps (callgrind_annotate).
set -euo pipefail
set +m   # no job control: `setsid` then execs in place, so $! is the new session's id
cd "$(dirname "$0")/.."
ROOT=$PWD

N=${N:-1000}                 # measured requests per window
PASSES=${PASSES:-5}          # windows per scenario (interleaved: ka close 16k ka close 16k ...); best of
SETTLE=${SETTLE:-500}        # instrumented, unrecorded requests per scenario before measuring
CONNS=${CONNS:-8}            # client connections (h2load -c)
WARM_KA=${WARM_KA:-4000}; WARM_16K=${WARM_16K:-1000}; WARM_CLOSE=${WARM_CLOSE:-2000}  # a warm-up round
WARM_MIN=${WARM_MIN:-3}; WARM_MAX=${WARM_MAX:-9}; WARM_SETTLE=${WARM_SETTLE:-3}
SCENARIOS=${SCENARIOS:-ka,close,16k}
ONLY=${ONLY:-node24,portico}
BASE_PORT=${BASE_PORT:-19180}
SMC_CHECK=${SMC_CHECK:-all-non-file}
PROFILE=${PROFILE:-0}; [ "$PROFILE" = 1 ] && KEEP_TMP=1
NODE=${NODE:-$ROOT/node_modules/node/bin/node}
CEILING=${CEILING:-$ROOT/../shared/bench/node-ceiling.mjs}
BENCH_CACHE=${BENCH_CACHE:-${TMPDIR:-/tmp}/bench-anchors-cache}
# node-ceiling's undici: anchors.sh's cache if there, else Portico's own (both 8.12.4 today)
UNDICI_DIR=${UNDICI_DIR:-$BENCH_CACHE/node24}
[ -f "$UNDICI_DIR/node_modules/undici/package.json" ] || UNDICI_DIR=$ROOT

log() { printf '[instructions %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
for cmd in valgrind callgrind_control nginx h2load curl; do
  command -v "$cmd" >/dev/null || die "needs $cmd (apt-get install valgrind nginx nghttp2-client curl)"
done
[ -f dist/cli.js ] || die "run npm run build first"
[ -f "$CEILING" ] || die "$CEILING not found (CEILING=...)"
"$NODE" -v >/dev/null || die "no Node at $NODE (NODE=...)"

TMP=$(mktemp -d "${TMPDIR:-/tmp}/bench-instructions.XXXXXX")
SIDS=(); JOBS=()
cleanup() {
  local rc=$? s i alive
  trap - EXIT INT TERM
  for s in "${JOBS[@]}"; do kill "$s" 2>/dev/null || true; done   # the measuring subshells
  for s in "${SIDS[@]}"; do kill -TERM -- "-$s" 2>/dev/null || true; done
  for i in $(seq 50); do   # valgrind'ed Node takes a few seconds to exit
    alive=0; for s in "${SIDS[@]}"; do kill -0 -- "-$s" 2>/dev/null && alive=1; done
    [ $alive = 0 ] && break; sleep 0.2
  done
  for s in "${SIDS[@]}"; do kill -KILL -- "-$s" 2>/dev/null || true; done
  if [ "${KEEP_TMP:-0}" = 1 ]; then log "kept $TMP"; else rm -rf "$TMP"; fi
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# start NAME CMD... : run CMD in a new session (killed by the trap), output to $TMP/NAME.log
start() { local name=$1; shift; setsid "$@" > "$TMP/$name.log" 2>&1 < /dev/null & SIDS+=($!); }
wait_ok() { # wait_ok PORT SECONDS : until GET / with Host bench.local answers 200
  local t0=$SECONDS
  until curl -sf -m 5 -o /dev/null -H 'Host: bench.local' -H 'authorization: Basic YWxpY2U6c2VjcmV0' "http://127.0.0.1:$1/"; do
    [ $((SECONDS - t0)) -ge "$2" ] && return 1; sleep 1
  done
}
port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# ---- upstream: nginx, 1 worker, as in anchors.sh ("ok\n" on /, 16 KiB on /16k, /headers echo)
UP_PORT=$BASE_PORT
for p in $UP_PORT $((BASE_PORT + 1)) $((BASE_PORT + 2)); do port_free "$p" || die "port $p busy (BASE_PORT=...)"; done
head -c 12288 /dev/urandom > "$TMP/rnd"; base64 -w 76 "$TMP/rnd" > "$TMP/rnd.b64"; head -c 16384 "$TMP/rnd.b64" > "$TMP/16k.bin"
mkdir -p "$TMP/ngx"
cat > "$TMP/upstream.conf" <<EOF
daemon off; master_process off; worker_processes 1;
pid $TMP/upstream.pid; error_log $TMP/upstream.err warn;
events { worker_connections 4096; }
http {
  access_log off; keepalive_requests 100000000; keepalive_timeout 300s; tcp_nodelay on;
  client_body_temp_path $TMP/ngx; proxy_temp_path $TMP/ngx; fastcgi_temp_path $TMP/ngx;
  uwsgi_temp_path $TMP/ngx; scgi_temp_path $TMP/ngx;
  sendfile on; tcp_nopush on; open_file_cache max=16 inactive=600s;
  server {
    listen 127.0.0.1:$UP_PORT backlog=4096;
    default_type text/plain;
    location = /16k { alias $TMP/16k.bin; default_type application/octet-stream; etag off; }
    location = /headers { return 200 "host=\$http_host xff=\$http_x_forwarded_for\n"; }
    location / { return 200 "ok\n"; }
  }
}
EOF
start upstream nginx -p "$TMP" -c "$TMP/upstream.conf" -e "$TMP/upstream.err"
wait_ok "$UP_PORT" 10 || die "upstream nginx did not start: $(cat "$TMP/upstream.log" "$TMP/upstream.err")"

# ---- load: exactly COUNT requests; fails unless all of them got a 2xx
load() { # load PORT SCENARIO COUNT
  local port=$1 scen=$2 count=$3 path=/ extra=() c=$CONNS out
  case $scen in close) extra=(-H 'Connection: close') ;; 16k) path=/16k ;; esac
  # PORTICO_BENCH_ACCESS: the route asks for basic auth (alice:secret, bench/portico-target.mjs)
  case ${PORTICO_BENCH_ACCESS:-} in 1|basic) extra+=(-H 'authorization: Basic YWxpY2U6c2VjcmV0') ;; esac
  [ "$count" -lt "$c" ] && c=$count
  # ":authority" sets Host (-H host: would add a second Host header); allows >= 10 req/s
  out=$(timeout $((60 + count / 10)) h2load --h1 -n "$count" -c "$c" -m 1 \
        -H ':authority: bench.local' "${extra[@]}" "http://127.0.0.1:$port$path" 2>&1) || true
  grep -q "status codes: $count 2xx" <<<"$out" || { log "h2load $scen x$count on :$port failed:"; tail -n 6 <<<"$out" >&2; return 1; }
}
cgc() { callgrind_control "$@" >/dev/null 2>&1 || die "callgrind_control $* failed"; }
summary() { awk '/^summary:/ { s += $2 } END { print s + 0 }' "$@"; }
jit() { # jit NAME opt|deopt : how many functions V8 optimized (Maglev/Turbofan) / deoptimized so far
  case $2 in opt) grep -c '^\[completed compiling' "$TMP/$1.log" ;; deopt) grep -c '^\[bailout' "$TMP/$1.log" ;; esac || true
}

# ---- a proxy: start it under callgrind and check that it proxies correctly
declare -A PORT=() VPID=()
# PROFILE=1: V8 writes /tmp/perf-<pid>.map (JIT code addresses -> JavaScript functions); its code log
# goes to $TMP, not to an isolate-*.log in the working directory
profile_flags() { [ "$PROFILE" = 1 ] && echo "--perf-basic-prof --no-logfile-per-isolate --logfile=$TMP/$1-v8.log" || true; }
launch() { # launch NAME PORT ENV... -- NODE_ARGS...  (valgrind must exec node itself, not env)
  local name=$1 port=$2 envs=(); shift 2
  while [ "$1" != -- ]; do envs+=("$1"); shift; done; shift
  log "$name: starting under callgrind on :$port"
  start "$name" env "${envs[@]}" timeout -k 10 1500 valgrind --tool=callgrind --smc-check="$SMC_CHECK" \
    --instr-atstart=no --separate-threads=yes --callgrind-out-file="$TMP/$name.cg" \
    "$NODE" --trace-opt --trace-deopt ${NODE_FLAGS:-} $(profile_flags "$name") "$@"
  PORT[$name]=$port
}
check() { # check NAME
  local name=$1 port=${PORT[$1]}
  wait_ok "$port" 180 || { tail -n 20 "$TMP/$name.log" >&2; die "$name did not answer on :$port"; }
  VPID[$name]=$(grep -m1 -o '^==[0-9]*==' "$TMP/$name.log" | tr -d =)
  [ "$(curl -s -m 20 -H 'Host: bench.local' -H 'authorization: Basic YWxpY2U6c2VjcmV0' "http://127.0.0.1:$port/")" = ok ] || die "$name: GET / is not ok"
  curl -s -m 20 -H 'Host: bench.local' -H 'authorization: Basic YWxpY2U6c2VjcmV0' "http://127.0.0.1:$port/16k" | cmp -s - "$TMP/16k.bin" || die "$name: /16k differs"
  case $(curl -s -m 20 -H 'Host: bench.local' -H 'authorization: Basic YWxpY2U6c2VjcmV0' "http://127.0.0.1:$port/headers") in
    *host=bench.local*xff=127.0.0.1*) ;; *) die "$name: upstream did not see Host bench.local and X-Forwarded-For" ;;
  esac
}

# ---- warm up, settle, measure; to $TMP/NAME.res: "warm REQUESTS", then per window
#      "scenario Ir-all-threads Ir-main-thread functions-optimized functions-deoptimized"
IFS=, read -r -a SCEN <<<"$SCENARIOS"
measure() { # measure NAME
  local name=$1 port=${PORT[$1]} vpid=${VPID[$1]} i p s f o d prev cur quiet=0 all main
  prev=$(jit "$name" opt)
  for i in $(seq "$WARM_MAX"); do
    load "$port" ka "$WARM_KA" && load "$port" 16k "$WARM_16K" && load "$port" close "$WARM_CLOSE" || die "$name: warm-up failed"
    cur=$(jit "$name" opt)
    log "$name: warm-up round $i ($WARM_KA ka + $WARM_16K 16k + $WARM_CLOSE close, not instrumented): $((cur - prev)) functions optimized"
    if [ $((cur - prev)) -le "$WARM_SETTLE" ]; then quiet=$((quiet + 1)); else quiet=0; fi
    [ "$i" -ge "$WARM_MIN" ] && [ "$quiet" -ge 2 ] && break
    prev=$cur
  done
  echo "warm $((i * (WARM_KA + WARM_16K + WARM_CLOSE)))" > "$TMP/$name.res"
  cgc -i on "$vpid"
  for s in "${SCEN[@]}"; do load "$port" "$s" "$SETTLE" || die "$name: $s failed"; done
  log "$name: instrumented, $SETTLE requests per scenario done; measuring"
  for p in $(seq "$PASSES"); do
    for s in "${SCEN[@]}"; do
      cgc -z "$vpid"; o=$(jit "$name" opt); d=$(jit "$name" deopt)
      load "$port" "$s" "$N" || die "$name: $s failed"
      cgc --dump="$s-$p" "$vpid"
      # --separate-threads=yes: one file per thread, <out>.<dump#>-<thread#>; thread 01 = main
      f=$(grep -l "^desc: Trigger: dump $s-$p\$" "$TMP/$name".cg.*-01 | tail -n 1)
      [ -n "$f" ] || die "$name: no callgrind dump for $s-$p"
      all=$(summary "${f%-01}"-*); main=$(summary "$f")
      o=$(($(jit "$name" opt) - o)); d=$(($(jit "$name" deopt) - d))
      echo "$s $all $main $o $d" >> "$TMP/$name.res"
      log "$name: $s, window $p: $((all / N)) Ir/request (main thread $((main / N))), JIT $o optimized / $d deoptimized"
    done
  done
}

T0=$SECONDS
BUILT=$(date -r dist/cli.js '+%F %T')   # others may rebuild dist/ while we measure
NAMES=()
case ",$ONLY," in *,node24,*)
  launch node24 $((BASE_PORT + 1)) UPSTREAM=127.0.0.1:$UP_PORT PORT=$((BASE_PORT + 1)) \
    ROUTE_HOST=bench.local UNDICI_DIR="$UNDICI_DIR" -- "$CEILING"
  NAMES+=(node24) ;;
esac
case ",$ONLY," in *,portico,*)
  launch portico $((BASE_PORT + 2)) UPSTREAM=127.0.0.1:$UP_PORT TARGET_PORT=$((BASE_PORT + 2)) \
    PORT=$((BASE_PORT + 2)) ROUTE_HOST=bench.local PORTICO_BENCH_FILTERS="${PORTICO_BENCH_FILTERS:-}" PORTICO_BENCH_LIMITS="${PORTICO_BENCH_LIMITS:-}" -- bench/portico-target.mjs
  NAMES+=(portico) ;;
esac
for n in "${NAMES[@]}"; do check "$n"; done
for n in "${NAMES[@]}"; do ( trap - EXIT; measure "$n" ) & JOBS+=($!); done
for j in "${JOBS[@]}"; do wait "$j" || die "measuring failed (see above)"; done

# ---- report: per scenario the cheapest window (all threads; main thread: its own cheapest)
report() { # report NAME SCENARIO -> "all main windows": minima in k Ir/request, every window ('*': JIT active)
  awk -v s="$2" -v n="$N" '
    $1 == s { k++; a = $2 / n / 1000; m = $3 / n / 1000
              if (k == 1 || a < all) all = a; if (k == 1 || m < main) main = m
              w = w sprintf("%s%.1f%s", k > 1 ? " " : "", a, ($4 + $5 > 3) ? "*" : "") }
    END { if (k) printf "%.1f %.1f %s", all, main, w }' "$TMP/$1.res" 2>/dev/null
}
ratio() { [ -n "$1" ] && [ -n "$2" ] && awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }' || echo -; }
uver() { "$NODE" -p "require('$1/node_modules/undici/package.json').version" 2>/dev/null || echo '?'; }
warmed() { awk '$1 == "warm" { w = $2 } END { print w ? w : "-" }' "$TMP/$1.res" 2>/dev/null || echo -; }
kk() { [ -n "$1" ] && echo "$1 k" || echo -; }
echo "| scenario | node24 Ir/req | Portico Ir/req | Portico ÷ node24 | node24 main thread | Portico main thread | ÷ (main thread) | windows node24 | windows Portico |"
echo "|---|---:|---:|---:|---:|---:|---:|---|---|"
for s in "${SCEN[@]}"; do
  read -r na nm nw <<<"$(report node24 "$s")" || true
  read -r pa pm pw <<<"$(report portico "$s")" || true
  echo "| $s | $(kk "${na:-}") | $(kk "${pa:-}") | $(ratio "${pa:-}" "${na:-}") | $(kk "${nm:-}") | $(kk "${pm:-}") | $(ratio "${pm:-}" "${nm:-}") | ${nw:--} | ${pw:--} |"
done
echo
echo "Instructions (callgrind Ir, user space) per request in the proxy process, thousands: all threads, and the main"
echo "thread alone (without V8's background compiler and GC threads); best of $PASSES windows of $N requests per scenario"
echo "over $CONNS connections (windows: all threads, each window; * = V8 optimized/deoptimized more than 3 functions in it),"
echo "after $(warmed node24) (node24) / $(warmed portico) (Portico) warm-up requests and $SETTLE instrumented ones per scenario."
echo "Node $("$NODE" -v) for both; node24 = $(basename "$CEILING") + undici $(uver "$UNDICI_DIR"); Portico dist/ built $BUILT"
echo "(HEAD $(git rev-parse --short HEAD 2>/dev/null)$(git diff --quiet HEAD -- src 2>/dev/null || echo ', src modified')) + undici $(uver "$ROOT"); $(valgrind --version) --tool=callgrind --smc-check=$SMC_CHECK; $((SECONDS - T0)) s."

# ---- PROFILE=1: per-function comparison of each scenario's cheapest window (main thread)
best_dump() { # best_dump NAME SCENARIO -> the main-thread callgrind file of the cheapest window
  local p
  p=$(awk -v s="$2" '$1 == s { k++; if (k == 1 || $2 < m) { m = $2; b = k } } END { print b }' "$TMP/$1.res" 2>/dev/null)
  [ -n "$p" ] && grep -l "^desc: Trigger: dump $2-$p\$" "$TMP/$1".cg.*-01 2>/dev/null | tail -n 1
}
if [ "$PROFILE" = 1 ]; then
  for n in "${NAMES[@]}"; do   # the maps are ours to move: the processes were started by this script
    [ -f "/tmp/perf-${VPID[$n]}.map" ] && mv "/tmp/perf-${VPID[$n]}.map" "$TMP/$n.map"
  done
  echo
  for s in "${SCEN[@]}"; do
    args=()
    for n in "${NAMES[@]}"; do f=$(best_dump "$n" "$s"); [ -n "$f" ] && args+=("$f=$TMP/$n.map"); done
    [ ${#args[@]} -gt 0 ] || continue
    "$NODE" "$ROOT/bench/callgrind-functions.ts" --requests "$N" --top 40 "${args[@]}" > "$TMP/functions-$s.txt" 2>&1 || true
    echo "Per function, $s ($(IFS=' '; echo "${NAMES[*]}"), cheapest windows, main thread): $TMP/functions-$s.txt"
  done
fi
