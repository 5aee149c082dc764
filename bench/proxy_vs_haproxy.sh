#!/usr/bin/env bash
# bench/proxy_vs_haproxy.sh - eddyd's proxy handler against HAProxy (mode
# tcp, nbthread 1) and nginx stream (1 worker), all three in front of the
# same backend (eddyd echo, 1 worker), with the same load generators
# (build/bench/eddy-load and eddy-connrate), on 127.0.0.1 only.
#
#   bench/proxy_vs_haproxy.sh [--runs N] [--duration S] [--only WORKLOAD] [--no-pin]
#                             [--against BUILD_DIR]
#
# Workloads: 64 connections x 64 B ping-pong; 1,000 connections x 4 KiB;
# 16 connections streaming 64 KiB messages (4 in flight each); connection
# rate (a new connection per 64 B request, 4 client threads); --only runs
# one of them (64x64B, 1000x4KiB, 16x64KiB, connrate, or 16x1MiB: 16
# connections streaming 1 MiB messages, run only when asked).  Each run
# measures the three proxies one after the other, the order rotating every
# round; the claim is the ratio of medians.  Each proxy's CPU time per
# message (user + system of its serving process over the window, from
# /proc/PID/stat) is reported beside its rate: on a shared machine it is
# the figure that still compares the proxies' own cost.
# Defaults: 3 runs of 5 s after a 1 s warm-up.  With 2+ CPUs the proxies
# run on CPU 0, the backend and the load generator on CPU 1 (taskset).
# Installs what is missing (haproxy, nginx-light, libnginx-mod-stream, the
# build tools), builds a Release tree in build-release/ with EDDY_BENCH
# (EDDY_BUILD overrides), stops everything it started, prints a table.
# --against BUILD_DIR: eddy against another eddy build instead (BUILD_DIR's
# eddyd and proxy.so, e.g. a build of the commit before a change), with
# the backend's CPU per message beside each (what the change costs the
# servers on either side of the proxy).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/scripts/lib.sh"
. "$root/bench/lib.sh"

runs=3
duration=5
only=
pin=1
against=
while [ $# -gt 0 ]; do
    case $1 in
    --runs) runs=$2; shift 2 ;;
    --duration) duration=$2; shift 2 ;;
    --only) only=$2; shift 2 ;;
    --no-pin) pin=0; shift ;;
    --against) against=$(cd "$2" && pwd); shift 2 ;;
    -h | --help) sed -n '2,28p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "proxy_vs_haproxy: unknown argument '$1' (see --help)" >&2; exit 2 ;;
    esac
done

need_packages "${BUILD_PACKAGES[@]}" haproxy nginx-light libnginx-mod-stream python3 util-linux procps
build_dir=${EDDY_BUILD:-$root/build-release}
cmake -S "$root" -B "$build_dir" -DCMAKE_BUILD_TYPE=Release -DEDDY_BENCH=ON >/dev/null
cmake --build "$build_dir" -j"$(nproc)" --target eddyd proxy eddy-load eddy-connrate >/dev/null
eddyd=$build_dir/eddyd
load=$build_dir/bench/eddy-load
connrate=$build_dir/bench/eddy-connrate

bench_workdir proxy
proxy_cpu=() side_cpu=()
if [ "$pin" = 1 ] && [ "$(nproc)" -ge 2 ]; then
    proxy_cpu=(taskset -c 0)
    side_cpu=(taskset -c 1)
fi
ulimit -n "$(ulimit -Hn)" # 20,000 here: each proxy stays under it

# --- the backend: eddyd echo ------------------------------------------------
backend_port=$(free_port)
"${side_cpu[@]}" "$eddyd" -w 1 -p '' -m 9000 -l "127.0.0.1:$backend_port" 2>"$work/backend.log" &
backend_pid=$!
pids+=($backend_pid)

# --- eddyd proxy ------------------------------------------------------------
eddy_port=$(free_port)
cat >"$work/eddyd.conf" <<EOF
workers 1
max_connections 9000
log_level warn
listen tcp 127.0.0.1:$eddy_port {
    handler proxy
    upstream 127.0.0.1:$backend_port
}
EOF
"${proxy_cpu[@]}" "$eddyd" -c "$work/eddyd.conf" 2>"$work/eddyd.log" &
eddy_pid=$!
pids+=($eddy_pid)

if [ -n "$against" ]; then # --- the other eddy build, same configuration ---
    base_port=$(free_port)
    sed "s/127.0.0.1:$eddy_port/127.0.0.1:$base_port/" "$work/eddyd.conf" >"$work/base.conf"
    "${proxy_cpu[@]}" "$against/eddyd" -c "$work/base.conf" 2>"$work/base.log" &
    base_pid=$!
    pids+=($base_pid)
    haproxy_port=$base_port nginx_port=$base_port # only waited for below
else

# --- HAProxy ----------------------------------------------------------------
haproxy_port=$(free_port)
cat >"$work/haproxy.cfg" <<EOF
global
    nbthread 1
    maxconn 9000
defaults
    mode tcp
    timeout connect 5s
    timeout client 60s
    timeout server 60s
frontend f
    bind 127.0.0.1:$haproxy_port
    default_backend b
backend b
    server s1 127.0.0.1:$backend_port
EOF
"${proxy_cpu[@]}" haproxy -db -f "$work/haproxy.cfg" 2>"$work/haproxy.log" &
haproxy_pid=$!
pids+=($haproxy_pid)

# --- nginx stream -----------------------------------------------------------
nginx_port=$(free_port)
mkdir -p "$work/nginx"
cat >"$work/nginx/nginx.conf" <<EOF
load_module /usr/lib/nginx/modules/ngx_stream_module.so;
worker_processes 1;
daemon off;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log warn;
events { worker_connections 9000; }
stream {
    server {
        listen 127.0.0.1:$nginx_port;
        proxy_pass 127.0.0.1:$backend_port;
    }
}
EOF
"${proxy_cpu[@]}" nginx -p "$work/nginx" -c "$work/nginx/nginx.conf" &
nginx_master=$!
pids+=($nginx_master)
fi

wait_echo() { # PORT: until a byte comes back, at most 10 s
    local i
    for i in $(seq 100); do
        python3 - "$1" <<'EOF' 2>/dev/null && return 0
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=1)
s.sendall(b"x")
assert s.recv(16) == b"x"
EOF
        sleep 0.1
    done
    echo "proxy_vs_haproxy: nothing echoes on port $1" >&2
    cat "$work"/*.log "$work/nginx/error.log" >&2 2>/dev/null || true
    exit 1
}
for p in "$backend_port" "$eddy_port" "$haproxy_port" "$nginx_port"; do
    wait_echo "$p"
done
if [ -n "$against" ]; then
    declare -A port=([eddy]=$eddy_port [base]=$base_port)
    declare -A pid=([eddy]=$eddy_pid [base]=$base_pid)
    names=(eddy base)
else
    nginx_worker=$(pgrep -P "$nginx_master" | head -1)
    [ -n "$nginx_worker" ] || { echo "proxy_vs_haproxy: no nginx worker" >&2; exit 1; }
    declare -A port=([eddy]=$eddy_port [haproxy]=$haproxy_port [nginx]=$nginx_port)
    declare -A pid=([eddy]=$eddy_pid [haproxy]=$haproxy_pid [nginx]=$nginx_worker)
    names=(eddy haproxy nginx)
fi
workloads=("64x64B" "1000x4KiB" "16x64KiB" "connrate")
if [ -n "$only" ]; then
    case " ${workloads[*]} 16x1MiB " in
    *" $only "*) workloads=("$only") ;;
    *) echo "proxy_vs_haproxy: --only takes one of: ${workloads[*]}" >&2; exit 2 ;;
    esac
fi

# One measurement: WORKLOAD NAME -> "rate cpu_us_per_unit errors
# backend_cpu_us_per_unit" on stdout.
measure() {
    local out b0 b1
    b0=$(cpu_ticks "$backend_pid")
    case $1 in
    64x64B) out=$("${side_cpu[@]}" "$load" -q -p "${port[$2]}" -c 64 -s 64 -D "$duration" -w 1 --pid "${pid[$2]}" --json) ;;
    1000x4KiB) out=$("${side_cpu[@]}" "$load" -q -p "${port[$2]}" -c 1000 -s 4096 -D "$duration" -w 1 --pid "${pid[$2]}" --json) ;;
    16x64KiB) out=$("${side_cpu[@]}" "$load" -q -p "${port[$2]}" -c 16 -s 65536 -d 4 -D "$duration" -w 1 --pid "${pid[$2]}" --json) ;;
    16x1MiB) out=$("${side_cpu[@]}" "$load" -q -p "${port[$2]}" -c 16 -s 1048576 -d 4 -D "$duration" -w 1 --pid "${pid[$2]}" --json) ;;
    connrate) out=$("${side_cpu[@]}" "$connrate" -p "${port[$2]}" -t 4 -D "$duration" --pid "${pid[$2]}") ;;
    esac
    b1=$(cpu_ticks "$backend_pid")
    python3 -c '
import json, sys
d = json.loads(sys.argv[1]); w = sys.argv[2]
# the backend served the 1 s warm-up too (connrate has none)
secs = float(sys.argv[4]) + (0 if w == "connrate" else 1)
if w == "connrate":
    units, out = d["conns_per_s"] * secs, (d["conns_per_s"], d["server_cpu_us_per_conn"], d["errors"])
else:
    rate = d["mb_per_s"] if w.startswith("16x") else d["msgs_per_s"]
    units, out = d["msgs_per_s"] * secs, (rate, d["server"]["cpu_us_per_msg"], d["errors"]["total"])
print(*out, "%.2f" % (int(sys.argv[3]) * 1e6 / int(sys.argv[5]) / units if units else 0))
' "$out" "$1" $((b1 - b0)) "$duration" "$(getconf CLK_TCK)"
}

echo "uptime: $(uptime)" >&2
results=$work/results.txt
: >"$results"
for w in "${workloads[@]}"; do
    for r in $(seq "$runs"); do
        k=$(((r - 1) % ${#names[@]}))
        order=("${names[@]:$k}" "${names[@]:0:$k}")
        for n in "${order[@]}"; do
            line=$(measure "$w" "$n")
            echo "$w $n $line" >>"$results"
            echo "  $w run $r $n: $line" >&2
        done
    done
done
echo "uptime: $(uptime)" >&2

python3 - "$results" "${names[@]}" <<'EOF'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    w, n, rate, cpu, err, bcpu = line.split()
    rows.setdefault((w, n), []).append((float(rate), float(cpu), int(err), float(bcpu)))
names = sys.argv[2:]
unit = {"64x64B": "msg/s", "1000x4KiB": "msg/s", "16x64KiB": "MB/s", "16x1MiB": "MB/s",
        "connrate": "conn/s"}
title = {"eddy": "eddy", "haproxy": "HAProxy", "nginx": "nginx", "base": "base"}
against = names == ["eddy", "base"]
head = ["workload"] + [title[n] for n in names]
for n in names[1:]:
    head += ["eddy/%s rate" % title[n], "eddy/%s CPU per msg" % title[n]]
if against:
    head += ["eddy/base backend CPU per msg"]
print("| " + " | ".join(head) + " |")
print("|" + "---|" * len(head))
for w in unit:
    if not any(k[0] == w for k in rows):
        continue
    med = {}
    for n in names:
        v = rows.get((w, n), [])
        med[n] = tuple(statistics.median(x[i] for x in v) for i in (0, 1, 3)) + (
            sum(x[2] for x in v),)
    cell = lambda n: "%.0f %s, %.2f us%s%s" % (
        med[n][0], unit[w], med[n][1], " (backend %.2f us)" % med[n][2] if against else "",
        " (%d errors)" % med[n][3] if med[n][3] else "")
    ratio = lambda a, b, i: "%.2f" % (med[a][i] / med[b][i]) if med[b][i] else "-"
    cols = [w] + [cell(n) for n in names]
    for n in names[1:]:
        cols += [ratio("eddy", n, 0), ratio("eddy", n, 1)]
    if against:
        cols += [ratio("eddy", "base", 2)]
    print("| " + " | ".join(cols) + " |")
EOF
