#!/usr/bin/env bash
# bench/fairness.sh - the p99 latency of 63 ping-pong clients on one eddy
# worker, with and without a greedy client beside them (issue 8, "Fairness
# and spread"; target: with / without <= 2x).
#
#   bench/fairness.sh [--reps N] [--duration S] [--warmup S] [--depth D] [--floor]
#
# Server: `eddyd --listen 127.0.0.1:0 --workers 1 --prefix ''` (pure echo,
# every connection on the same loop), one fresh process per run.
# Measured: `eddy-load -c 63 -t 1 -s 64 -d 1` (63 ping-pong clients, 64 B,
# one message in flight each), its p99 from --json.
# Greedy: a second eddy-load, `-c 1 -s 64k -d 64` (one connection keeping
# 64 messages of 64 KiB in flight, i.e. 4 MiB: far above eddyd's 1 MiB
# high-water mark, so eddyd always has its bytes to read), started 1 s before
# the measured one and running past its end.
# Runs alternate (without, with; then with, without; ...), N of each
# (default 3); printed: each run, the median p99 without and with, and
# their ratio.  --floor: the same runs against peer-epoll (the floor of
# bench/README.md: it reads each connection until EAGAIN, with no per-wake
# cap), interleaved with eddy's, as a control: what a loop without eddy's
# 64 KiB cap does under the same load on the same machine.  Exit status 1 if any run saw an error (eddy-load checks every
# reply byte) or did not finish.
#
# Loopback only.  Every step is bounded (timeout(1), bounded waits); what
# this script starts it kills by pid on exit.  Builds (Release, -DEDDY_BENCH=ON)
# in build-bench/, or EDDY_BENCH_BUILD=DIR.

set -euo pipefail
TMP_BUILD_LOG=$(mktemp /tmp/eddy-fairness-build.XXXXXX)
trap 'rm -f "$TMP_BUILD_LOG"' EXIT

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${EDDY_BENCH_BUILD:-$ROOT/build-bench}
REPS=3
DURATION=5
WARMUP=1
GREEDY_DEPTH=64
FLOOR=0

while [ $# -gt 0 ]; do
    case "$1" in
    --reps) REPS=$2; shift 2 ;;
    --duration) DURATION=$2; shift 2 ;;
    --warmup) WARMUP=$2; shift 2 ;;
    --depth) GREEDY_DEPTH=$2; shift 2 ;;
    --floor) FLOOR=1; shift ;;
    -h|--help) sed -n '2,/^$/p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "fairness.sh: unknown argument: $1" >&2; exit 2 ;;
    esac
done
for v in "$REPS" "$DURATION" "$WARMUP" "$GREEDY_DEPTH"; do
    [[ $v =~ ^[0-9]+$ ]] || { echo "fairness.sh: not a whole number: $v" >&2; exit 2; }
done
[ "$REPS" -ge 1 ] && [ "$REPS" -le 50 ] && [ "$DURATION" -ge 1 ] && [ "$DURATION" -le 600 ] \
    || { echo "fairness.sh: --reps 1..50, --duration 1..600" >&2; exit 2; }

# Incremental: only what changed is rebuilt.  EDDY_NO_BUILD=1 uses the
# binaries as they are.
if [ -z "${EDDY_NO_BUILD:-}" ]; then
    echo "fairness.sh: building eddyd and eddy-load (Release) in $BUILD" >&2
    if [ ! -f "$BUILD/CMakeCache.txt" ]; then
        cmake -S "$ROOT" -B "$BUILD" -DEDDY_BENCH=ON -DCMAKE_BUILD_TYPE=Release \
            -DEDDY_WERROR=OFF >/dev/null
    fi
    timeout 1200 cmake --build "$BUILD" --target eddyd eddy-load peer-epoll -j2 >"$TMP_BUILD_LOG" 2>&1 || {
        echo "fairness.sh: build failed:" >&2; tail -n 30 "$TMP_BUILD_LOG" >&2; exit 1; }
fi
EDDYD=$BUILD/eddyd
LOAD=$BUILD/bench/eddy-load

TMP=$(mktemp -d /tmp/eddy-fairness.XXXXXX)
EDDYD_PID=
GREEDY_PID=
cleanup() {
    for p in $GREEDY_PID $EDDYD_PID; do
        kill "$p" 2>/dev/null || true
    done
    for p in $GREEDY_PID $EDDYD_PID; do
        for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$p" 2>/dev/null || true
    done
    rm -rf "$TMP" "$TMP_BUILD_LOG"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# start_eddyd [SERVER]: a fresh `eddyd -w 1 --prefix ''` (or peer-epoll
# with 1 worker: SERVER "floor") on a free port; sets EDDYD_PID and PORT
# once its ready line names the address (at most 30 s).
start_eddyd() {
    : >"$TMP/eddyd.err"
    if [ "${1:-eddy}" = floor ]; then
        "$BUILD/bench/peer-epoll" --port 0 --workers 1 2>"$TMP/eddyd.err" &
    else
        "$EDDYD" --listen 127.0.0.1:0 --workers 1 --prefix '' 2>"$TMP/eddyd.err" &
    fi
    EDDYD_PID=$!
    PORT=
    for _ in $(seq 300); do
        PORT=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\)[, ].*/\1/p' "$TMP/eddyd.err" | head -n1)
        [ -n "$PORT" ] && return 0
        kill -0 "$EDDYD_PID" 2>/dev/null || break
        sleep 0.1
    done
    echo "fairness.sh: eddyd did not start:" >&2
    cat "$TMP/eddyd.err" >&2
    exit 1
}

stop_eddyd() {   # stop_eddyd [SERVER]
    kill -TERM "$EDDYD_PID" 2>/dev/null || true
    local rc=0
    for _ in $(seq 100); do kill -0 "$EDDYD_PID" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$EDDYD_PID" 2>/dev/null; then
        echo "fairness.sh: eddyd did not stop within 10 s of SIGTERM (killed)" >&2
        kill -9 "$EDDYD_PID" 2>/dev/null || true
        rc=1
    fi
    wait "$EDDYD_PID" 2>/dev/null || rc=$?
    EDDYD_PID=
    # peer-epoll has no SIGTERM handler: killed by it is its clean stop.
    [ "${1:-eddy}" = floor ] && [ "$rc" -eq 143 ] && rc=0
    if [ "$rc" -ne 0 ]; then
        echo "fairness.sh: eddyd exit status $rc; its stderr:" >&2
        tail -n 20 "$TMP/eddyd.err" >&2
        FAILED=1
    fi
}

# field JSON_FILE EXPR: a value from eddy-load's JSON (python3 reads it).
field() {
    python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2], {"d": d}))' "$1" "$2"
}

FAILED=0
BOUND=$((WARMUP + DURATION + 60))
# run MODE N [SERVER]: one measured run, MODE "with" or "without" the
# greedy client; SERVER eddy (default) or floor.
run() {
    local mode=$1 n=$2 srv=${3:-eddy}
    local out=$TMP/$srv.$mode.$n.json
    start_eddyd "$srv"
    if [ "$mode" = with ]; then
        # Runs 1 s before the measured window and ~2 s past its end.
        timeout "$BOUND" "$LOAD" -p "$PORT" -c 1 -t 1 -s 64k -d "$GREEDY_DEPTH" -w 0 \
            -D $((WARMUP + DURATION + 3)) --pid "$EDDYD_PID" --json -q \
            >"$TMP/greedy.$n.json" 2>"$TMP/greedy.$n.err" &
        GREEDY_PID=$!
        sleep 1
    fi
    local rc=0
    timeout "$BOUND" "$LOAD" -p "$PORT" -c 63 -t 1 -s 64 -d 1 -w "$WARMUP" -D "$DURATION" \
        --pid "$EDDYD_PID" --json >"$out" 2>"$TMP/$mode.$n.err" || rc=$?
    local grc=0 gdesc=""
    if [ "$mode" = with ]; then
        wait "$GREEDY_PID" || grc=$?
        GREEDY_PID=
        if [ "$grc" -eq 0 ]; then
            gdesc=$(printf '  greedy %s MB/s, p99 %s ms' \
                "$(field "$TMP/greedy.$n.json" '"%.0f" % d["mb_per_s"]')" \
                "$(field "$TMP/greedy.$n.json" '"%.1f" % (d["latency_us"]["p99"] / 1000)')")
        else
            echo "fairness.sh: greedy eddy-load exit status $grc:" >&2
            head -n 5 "$TMP/greedy.$n.err" >&2
            FAILED=1
        fi
    fi
    stop_eddyd "$srv"
    if [ "$rc" -ne 0 ]; then
        echo "fairness.sh: eddy-load ($mode, run $n) exit status $rc:" >&2
        head -n 5 "$TMP/$mode.$n.err" >&2
        FAILED=1
        return 0
    fi
    local p99 p50 rate other scores
    p99=$(field "$out" 'd["latency_us"]["p99"]')
    p50=$(field "$out" 'd["latency_us"]["p50"]')
    rate=$(field "$out" '"%.0f" % d["msgs_per_s"]')
    other=$(field "$out" '"%.2f" % d.get("other_cpu_cores", 0)')
    scores=$(field "$out" '"%.2f" % d.get("server", {}).get("cpu_cores", 0)')
    echo "$p99" >>"$TMP/p99.$srv.$mode"
    [ "$mode" = without ] && echo "$other" >>"$TMP/other"
    printf '%-6s%-8s run %d: p99 %8.1f us  p50 %7.1f us  %7s msgs/s  server cores %s  other cores %s%s\n' \
        "$srv" "$mode" "$n" "$p99" "$p50" "$rate" "$scores" "$other" "$gdesc"
}

echo "eddyd -w 1 --prefix '': 63 ping-pong clients (64 B, depth 1), ${WARMUP}+${DURATION} s per run;"
echo "greedy: 1 connection, 64 KiB messages, depth $GREEDY_DEPTH; $REPS runs each, alternating"
echo "commit $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?'), $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"
for i in $(seq "$REPS"); do
    for srv in eddy $([ "$FLOOR" = 1 ] && echo floor); do
        if [ $((i % 2)) -eq 1 ]; then
            run without "$i" "$srv"; run with "$i" "$srv"
        else
            run with "$i" "$srv"; run without "$i" "$srv"
        fi
    done
done

median() { sort -g "$1" | awk '{a[NR]=$1} END {if (NR == 0) exit 1; if (NR % 2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }
summary() {   # summary SERVER LABEL
    local a=$TMP/p99.$1.without b=$TMP/p99.$1.with
    if [ ! -s "$a" ] || [ ! -s "$b" ]; then
        echo "fairness.sh: $1: no figure (every run of one kind failed)" >&2
        FAILED=1
        return 0
    fi
    awk -v a="$(median "$a")" -v b="$(median "$b")" -v n="$(wc -l <"$a")" -v m="$(wc -l <"$b")" \
        -v who="$2" 'BEGIN {
        printf "%s: median p99 without the greedy client: %.1f us (%d runs)\n", who, a, n
        printf "%s: median p99 with the greedy client:    %.1f us (%d runs)\n", who, b, m
        printf "%s: ratio with / without: %.2fx%s\n", who, b / a, who == "eddy" ? " (target <= 2x)" : ""
    }'
}
if [ -s "$TMP/other" ]; then
    summary eddy eddy
    [ "$FLOOR" = 1 ] && summary floor "floor (peer-epoll, no per-wake cap)"
    # "other cores" is the CPU every other process used during the runs
    # without the greedy client: the machine's own noise.  (In the runs
    # with it, the greedy eddy-load is among the "other" processes.)
    OTHER=$(median "$TMP/other")
    awk -v o="$OTHER" -v n="$(nproc)" 'BEGIN { if (o > 0.5)
        printf "warning: other processes used %.2f of %d CPUs during the runs: the p99s measure the scheduling of a busy machine more than eddy; rerun on a quiet machine or with --reps 9\n", o, n }'
else
    echo "fairness.sh: no figure (every run failed)" >&2
    FAILED=1
fi
exit "$FAILED"
