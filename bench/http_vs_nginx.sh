#!/usr/bin/env bash
# bench/http_vs_nginx.sh - eddyd's http handler against nginx, with wrk, on
# 127.0.0.1 only: requests/s of `return 200 "hello"` (nginx-light from
# Debian, 1 worker, access_log off) and of `handler http` (body "hello",
# `workers 1`), at 64 connections, plain and pipelined (a wrk Lua script
# that sends 16 requests per write).  Runs alternate between the two
# servers (the order flips every round); the claim is the ratio of the
# medians, as DESIGN.md asks.
#
#   bench/http_vs_nginx.sh [--runs N] [--duration S] [--connections C]
#                          [--no-pin]
#
# Defaults: 3 runs of 10 s per server and mode after a 2 s warm-up each,
# 64 connections, wrk -t1; about 2.5 minutes.  With 2+ CPUs both servers
# run on CPU 0 and wrk on CPU 1 (taskset), so neither server competes with
# the load generator for a core; --no-pin leaves placement to the kernel.
# Installs what is missing (nginx-light, wrk, the build tools), builds a
# Release tree in build-release/ (as scripts/run does; EDDY_BUILD
# overrides), stops everything it started on exit, and prints a table.
# Besides requests/s it reports each server's CPU time per request
# (user + system time of the serving process over the run, from /proc,
# divided by the requests wrk counted): on a shared or loaded machine, and
# whenever wrk rather than the server is the bottleneck, that is the figure
# that still compares the servers' own cost.
# Nginx keepalive_requests is raised to 1,000,000 so that neither server
# closes keep-alive connections during a run (nginx's default is 1000).
# Exit status: 0, or 1 when a run failed or returned errors.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/scripts/lib.sh"
. "$root/bench/lib.sh"

runs=3
duration=10
conns=64
pin=1
while [ $# -gt 0 ]; do
    case $1 in
    --runs) runs=$2; shift 2 ;;
    --duration) duration=$2; shift 2 ;;
    --connections) conns=$2; shift 2 ;;
    --no-pin) pin=0; shift ;;
    -h | --help) sed -n '2,25p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "http_vs_nginx: unknown argument '$1' (see --help)" >&2; exit 2 ;;
    esac
done

need_packages "${BUILD_PACKAGES[@]}" nginx-light wrk python3 util-linux procps
build_dir=${EDDY_BUILD:-$root/build-release}
cmake -S "$root" -B "$build_dir" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build_dir" -j"$(nproc)" --target eddyd http >/dev/null # only what runs
eddyd=$build_dir/eddyd
[ -f "$build_dir/plugins/http.so" ] || { echo "http_vs_nginx: no $build_dir/plugins/http.so" >&2; exit 1; }

bench_workdir http

server_cpu=() wrk_cpu=()
if [ "$pin" = 1 ] && [ "$(nproc)" -ge 2 ]; then
    server_cpu=(taskset -c 0)
    wrk_cpu=(taskset -c 1)
fi

# --- nginx ------------------------------------------------------------------
nginx_port=$(free_port)
nginx_http_conf "$work/nginx" "$nginx_port" 1
"${server_cpu[@]}" nginx -p "$work/nginx" -c "$work/nginx/nginx.conf" &
nginx_master=$!
pids+=($nginx_master)

# --- eddyd ------------------------------------------------------------------
eddy_port=$(free_port)
cat >"$work/eddyd.conf" <<EOF
workers 1
log_level warn
listen tcp 127.0.0.1:$eddy_port {
    handler http
}
EOF
"${server_cpu[@]}" "$eddyd" -c "$work/eddyd.conf" 2>"$work/eddyd.log" &
eddy_pid=$!
pids+=($eddy_pid)

wait_http() { # PORT: until it answers, at most 10 s
    local i
    for i in $(seq 100); do
        python3 - "$1" <<'EOF' 2>/dev/null && return 0
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=1)
s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
assert s.recv(4096).startswith(b"HTTP/1.1 200")
EOF
        sleep 0.1
    done
    echo "http_vs_nginx: nothing answers on port $1" >&2
    cat "$work/eddyd.log" "$work/nginx/error.log" >&2 2>/dev/null || true
    exit 1
}
wait_http "$nginx_port"
wait_http "$eddy_port"
nginx_worker=$(pgrep -P "$nginx_master" | head -1)
[ -n "$nginx_worker" ] || { echo "http_vs_nginx: no nginx worker process" >&2; exit 1; }

# 16 requests per write: wrk counts the requests in the string.
cat >"$work/pipeline.lua" <<'EOF'
init = function(args)
    local r = {}
    for i = 1, 16 do
        r[i] = wrk.format(nil, "/")
    end
    req = table.concat(r)
end
request = function()
    return req
end
EOF

status=0
# run_wrk NAME PORT PID MODE SECONDS: prints "requests/s CPU-us/request".
run_wrk() {
    local script=()
    [ "$4" = pipelined ] && script=(-s "$work/pipeline.lua")
    wrk_measure "$1 $4" "$3" "$5" "Socket errors|Non-2xx" "${script[@]}" "http://127.0.0.1:$2/"
}

echo "# eddyd http vs nginx $(nginx -v 2>&1 | sed 's/.*nginx\///'), wrk -t1 -c$conns -d${duration}s," \
     "$runs runs each, alternating; pinned: $([ ${#server_cpu[@]} -gt 0 ] && echo 'servers CPU 0, wrk CPU 1' || echo no)"
printf '| mode | nginx req/s (runs) | eddy req/s (runs) | eddy / nginx req/s (medians) '
printf '| CPU us/req nginx, eddy (medians) | nginx / eddy CPU per req |\n|---|---|---|---|---|---|\n'
for mode in plain pipelined; do
    run_wrk nginx "$nginx_port" "$nginx_worker" "$mode" 2 >/dev/null # warm-up
    run_wrk eddy "$eddy_port" "$eddy_pid" "$mode" 2 >/dev/null
    n=() e=() nc=() ec=()
    for r in $(seq "$runs"); do
        if [ $((r % 2)) = 1 ]; then
            read -r a b < <(run_wrk nginx "$nginx_port" "$nginx_worker" "$mode" "$duration")
            n+=("$a") nc+=("$b")
            read -r a b < <(run_wrk eddy "$eddy_port" "$eddy_pid" "$mode" "$duration")
            e+=("$a") ec+=("$b")
        else
            read -r a b < <(run_wrk eddy "$eddy_port" "$eddy_pid" "$mode" "$duration")
            e+=("$a") ec+=("$b")
            read -r a b < <(run_wrk nginx "$nginx_port" "$nginx_worker" "$mode" "$duration")
            n+=("$a") nc+=("$b")
        fi
    done
    nm=$(printf '%s\n' "${n[@]}" | median)
    em=$(printf '%s\n' "${e[@]}" | median)
    ncm=$(printf '%s\n' "${nc[@]}" | median)
    ecm=$(printf '%s\n' "${ec[@]}" | median)
    ratio=$(awk -v a="$em" -v b="$nm" 'BEGIN {if (b > 0) printf "%.2f", a / b; else print "n/a"}')
    cratio=$(awk -v a="$ncm" -v b="$ecm" 'BEGIN {if (b > 0) printf "%.2f", a / b; else print "n/a"}')
    printf '| %s | %s (%s) | %s (%s) | **%s×** | %s, %s | %s× |\n' "$mode" "$nm" "${n[*]}" "$em" \
        "${e[*]}" "$ratio" "$ncm" "$ecm" "$cratio"
done
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) CPUs"
exit $status
