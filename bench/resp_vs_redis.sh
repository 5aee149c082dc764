#!/usr/bin/env bash
# bench/resp_vs_redis.sh - eddyd's resp handler against redis-server, with
# redis-benchmark, on 127.0.0.1 only: requests/s of PING_INLINE, PING_MBULK,
# SET and GET (redis-benchmark -t ping,set,get) at 50 clients, without
# pipelining (-P 1) and with 16 commands per write (-P 16).  redis-server
# from Debian (persistence off: --save '' --appendonly no), eddyd with
# `workers 1` and `handler resp`.  Runs alternate between the two servers
# (the order flips every round); the claim is the ratio of the medians, as
# DESIGN.md asks.
#
#   bench/resp_vs_redis.sh [--runs N] [--requests N] [--clients C]
#                          [--pipelines "1 16"] [--no-pin] [--nice N]
#
# Defaults: 3 runs per server and pipeline depth, 200,000 requests per
# test (-n), 50 clients; each redis-benchmark run is cut off after 300 s;
# a few minutes in all on an idle machine.  With 2+ CPUs both servers run on CPU 0 and
# redis-benchmark on CPU 1 (taskset), so neither server competes with the
# load generator for a core; --no-pin leaves placement to the kernel.
# --nice N (e.g. -19, as root) is for a machine busy with other work: the
# script re-runs itself in a session of its own, whose autogroup (the
# kernel's per-session scheduling group, when sched_autogroup is on) gets
# that nice value, and runs both servers and redis-benchmark at it too.
# They then get the CPU they need and the figures measure them, not the
# neighbours; other sessions keep their own scheduling.
# Installs what is missing (redis-server, redis-tools, the build tools),
# builds a Release tree in build-release/ (EDDY_BUILD overrides; a tree
# that is already configured is only built), stops everything it started
# on exit, and prints a table.
# Exit status: 0, or 1 when a run failed.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/scripts/lib.sh"
. "$root/bench/lib.sh"

runs=3
requests=200000
clients=50
pipelines="1 16"
pin=1
niceness=0
args=("$@")
while [ $# -gt 0 ]; do
    case $1 in
    --runs) runs=$2; shift 2 ;;
    --requests) requests=$2; shift 2 ;;
    --clients) clients=$2; shift 2 ;;
    --pipelines) pipelines=$2; shift 2 ;;
    --no-pin) pin=0; shift ;;
    --nice) niceness=$2; shift 2 ;;
    -h | --help) awk 'NR > 1 && !/^#/ {exit} NR > 1 {sub(/^# ?/, ""); print}' "$0"; exit 0 ;;
    *) echo "resp_vs_redis: unknown argument '$1' (see --help)" >&2; exit 2 ;;
    esac
done

# --nice: a session (and autogroup) of our own, then its nice value.
if [ "$niceness" != 0 ] && [ -z "${RESP_BENCH_SESSION:-}" ] && [ -e /proc/self/autogroup ] &&
    command -v setsid >/dev/null; then
    RESP_BENCH_SESSION=1 setsid "$0" "${args[@]}" &
    child=$!
    trap 'kill -TERM $child 2>/dev/null' INT TERM
    rc=0
    wait "$child" || rc=$?
    [ "$rc" -gt 128 ] && { wait "$child" || rc=$?; } # interrupted by the trap: wait again
    exit "$rc"
fi
if [ "$niceness" != 0 ] && [ -n "${RESP_BENCH_SESSION:-}" ]; then
    echo "$niceness" 2>/dev/null >/proc/self/autogroup ||
        echo "resp_vs_redis: could not set the autogroup's nice value (not root?)" >&2
fi

need_packages "${BUILD_PACKAGES[@]}" redis-server redis-tools python3 util-linux coreutils
build_dir=${EDDY_BUILD:-$root/build-release}
if [ ! -f "$build_dir/CMakeCache.txt" ]; then
    cmake -S "$root" -B "$build_dir" -DCMAKE_BUILD_TYPE=Release >/dev/null
fi
cmake --build "$build_dir" -j"$(nproc)" --target eddyd resp >/dev/null # only what runs
eddyd=$build_dir/eddyd
[ -f "$build_dir/plugins/resp.so" ] || { echo "resp_vs_redis: no $build_dir/plugins/resp.so" >&2; exit 1; }

bench_workdir resp

server_cpu=(nice -n "$niceness") client_cpu=(nice -n "$niceness")
if [ "$pin" = 1 ] && [ "$(nproc)" -ge 2 ]; then
    server_cpu+=(taskset -c 0)
    client_cpu+=(taskset -c 1)
fi

# --- redis-server -------------------------------------------------------------
redis_port=$(free_port)
"${server_cpu[@]}" redis-server --save '' --appendonly no --port "$redis_port" \
    --bind 127.0.0.1 --daemonize no --dir "$work" --logfile "$work/redis.log" &
pids+=($!)
redis_pid=$! # nice and taskset exec: this is the server

# --- eddyd --------------------------------------------------------------------
eddy_port=$(free_port)
cat >"$work/eddyd.conf" <<EOF
workers 1
log_level warn
listen tcp 127.0.0.1:$eddy_port {
    handler resp
}
EOF
"${server_cpu[@]}" "$eddyd" -c "$work/eddyd.conf" 2>"$work/eddyd.log" &
pids+=($!)
eddy_pid=$!

wait_ping() { # PORT: until it answers PONG, at most 10 s
    local i
    for i in $(seq 100); do
        [ "$(redis-cli -h 127.0.0.1 -p "$1" ping 2>/dev/null)" = PONG ] && return 0
        sleep 0.1
    done
    echo "resp_vs_redis: nothing answers on port $1" >&2
    cat "$work/eddyd.log" "$work/redis.log" >&2 2>/dev/null || true
    exit 1
}
wait_ping "$redis_port"
wait_ping "$eddy_port"

status=0
# CPU time (user + system, all threads) of a process, in clock ticks.
tick_us=$((1000000 / $(getconf CLK_TCK)))

# run_bench NAME PORT PIPELINE REQUESTS: the CSV of one redis-benchmark run
# (lines "TEST",rps,...) into $work/NAME-P-RUN.csv, plus a last line
# "CPU",us where us is the server's CPU time per request over the run (4
# tests of REQUESTS each), and "BUSY",percent: the server's CPU time over
# the wall time (100: one core always busy; well below 100, the server was
# not what limited requests/s).  Prints the file name.  The CPU cost per
# request depends much less on what else the machine runs than requests/s.
run_bench() {
    local name=$1 port=$2 p=$3 n=$4 out pid before after t0 t1
    out="$work/$name-P$p-$RANDOM.csv"
    pid=$redis_pid
    [ "$name" = eddy ] && pid=$eddy_pid
    before=$(cpu_ticks "$pid")
    t0=$(date +%s%N)
    local TIMEFORMAT='%3U %3S' times # bash's time: redis-benchmark's own CPU (waited-for children)
    if ! { time timeout 300 "${client_cpu[@]}" redis-benchmark -h 127.0.0.1 -p "$port" \
        -t ping,set,get -c "$clients" -n "$n" -P "$p" --csv >"$out" 2>"$out.err"; } 2>"$out.time"; then
        echo "resp_vs_redis: redis-benchmark against $name (-P $p) failed:" >&2
        cat "$out.err" >&2
        status=1
    fi
    after=$(cpu_ticks "$pid")
    t1=$(date +%s%N)
    times=$(tail -1 "$out.time")
    awk -v t=$((after - before)) -v us="$tick_us" -v n="$n" -v wall=$(((t1 - t0) / 1000)) \
        -v client="$times" 'BEGIN {split(client, c, " "); cl = (c[1] + c[2]) * 1e6
        printf "\"CPU\",\"%.3f\"\n\"BUSY\",\"%.0f\"\n", t * us / (4 * n), 100 * t * us / wall
        printf "\"CLIENT_CPU\",\"%.3f\"\n\"CLIENT_BUSY\",\"%.0f\"\n", cl / (4 * n), 100 * cl / wall}' >>"$out"
    echo "$out"
}

# rps FILE TEST: requests/s of one test in a CSV file
rps() {
    awk -F, -v t="\"$2\"" '$1 == t {gsub(/"/, "", $2); print $2}' "$1"
}

echo "# eddyd resp (workers 1) vs $(redis-server --version | awk '{print $1, $3}')," \
     "redis-benchmark -t ping,set,get -c $clients -n $requests --csv, $runs runs each," \
     "alternating; pinned: $([ "$pin" = 1 ] && [ "$(nproc)" -ge 2 ] && echo 'servers CPU 0, redis-benchmark CPU 1' || echo no);" \
     "nice $niceness$([ -e /proc/self/autogroup ] && echo " ($(cut -d' ' -f2- /proc/self/autogroup) for the session)");" \
     "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# CPU: each server's CPU time (user + system) per request over a whole run, in µs;"
echo "# its ratio is redis / eddy (above 1: eddy spends less per request).  server busy %:"
echo "# CPU time over wall time; far below 100, the load generator (or the machine) set the pace."
echo "# redis-benchmark CPU µs/req and busy %: the same for the load generator (one thread); near"
echo "# 100 % busy, it sets the pace, and a server can only raise requests/s by costing it less."
printf '| -P | test | redis req/s (runs) | eddy req/s (runs) | eddy / redis (medians) |\n'
printf '|---|---|---|---|---|\n'
for p in $pipelines; do
    run_bench redis "$redis_port" "$p" 20000 >/dev/null # warm-up
    run_bench eddy "$eddy_port" "$p" 20000 >/dev/null
    rfiles=() efiles=()
    for r in $(seq "$runs"); do
        if [ $((r % 2)) = 1 ]; then
            rfiles+=("$(run_bench redis "$redis_port" "$p" "$requests")")
            efiles+=("$(run_bench eddy "$eddy_port" "$p" "$requests")")
        else
            efiles+=("$(run_bench eddy "$eddy_port" "$p" "$requests")")
            rfiles+=("$(run_bench redis "$redis_port" "$p" "$requests")")
        fi
    done
    for t in PING_INLINE PING_MBULK SET GET CPU BUSY CLIENT_CPU CLIENT_BUSY; do
        rv=() ev=()
        for f in "${rfiles[@]}"; do rv+=("$(rps "$f" "$t")"); done
        for f in "${efiles[@]}"; do ev+=("$(rps "$f" "$t")"); done
        rm_=$(printf '%s\n' "${rv[@]}" | median)
        em=$(printf '%s\n' "${ev[@]}" | median)
        if [ "$t" = BUSY ] || [ "$t" = CLIENT_BUSY ]; then
            ratio=n/a
        elif [ "$t" = CPU ] || [ "$t" = CLIENT_CPU ]; then # cost, not rate: redis / eddy
            ratio=$(awk -v a="$rm_" -v b="$em" 'BEGIN {if (b > 0) printf "%.2f", a / b; else print "n/a"}')
        else
            ratio=$(awk -v a="$em" -v b="$rm_" 'BEGIN {if (b > 0) printf "%.2f", a / b; else print "n/a"}')
        fi
        label=$t
        [ "$t" = CPU ] && label="CPU µs/req"
        [ "$t" = BUSY ] && label="server busy %"
        [ "$t" = CLIENT_CPU ] && label="redis-benchmark CPU µs/req"
        [ "$t" = CLIENT_BUSY ] && label="redis-benchmark busy %"
        printf '| %s | %s | %s (%s) | %s (%s) | **%s×** |\n' "$p" "$label" "$rm_" "${rv[*]}" \
            "$em" "${ev[*]}" "$ratio"
    done
done
# Both servers must still be up: a crash mid-run would make the figures lie.
for port in "$redis_port" "$eddy_port"; do
    [ "$(redis-cli -h 127.0.0.1 -p "$port" ping 2>/dev/null)" = PONG ] ||
        { echo "resp_vs_redis: the server on port $port is gone" >&2; status=1; }
done
exit $status
