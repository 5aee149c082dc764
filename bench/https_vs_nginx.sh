#!/usr/bin/env bash
# bench/https_vs_nginx.sh - eddyd's http handler over TLS against nginx,
# on 127.0.0.1 only, with the same certificate (ECDSA P-256, made now with
# openssl) and TLS 1.3 on both, 1 worker each (nginx-light from Debian,
# access_log off, `return 200 "hello"`; eddyd `handler http`):
#   keep-alive   wrk -c64 over HTTPS: requests/s and CPU per request;
#   handshakes   wrk -c64 with "Connection: close": a new connection and a
#                full handshake (wrk resumes no session) per request;
#   idle memory  N TLS connections opened (100 handshakes in flight at a
#                time), then left idle: the server's RSS growth / N.
# Runs alternate between the servers (the order flips every round); the
# claim is the ratio of the medians, as DESIGN.md asks.  CPU per request
# is the serving process's user + system time over the run (/proc)
# divided by the requests wrk counted.
#
#   bench/https_vs_nginx.sh [--runs N] [--duration S] [--connections C]
#                           [--idle N] [--no-pin]
#
# Defaults: 3 runs of 10 s per server and mode after a 2 s warm-up each,
# 64 connections, 10,000 idle connections; about 3 minutes.  With 2+ CPUs
# both servers run on CPU 0 and wrk (and the idle client) on CPU 1.
# Installs what is missing (nginx-light, wrk, openssl, the build tools),
# builds a Release tree in build-release/ (EDDY_BUILD overrides), stops
# everything it started on exit, and prints a table.  Exit status: 0, or 1
# when a run failed or returned errors.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/scripts/lib.sh"
. "$root/bench/lib.sh"

runs=3
duration=10
conns=64
idle=10000
pin=1
while [ $# -gt 0 ]; do
    case $1 in
    --runs) runs=$2; shift 2 ;;
    --duration) duration=$2; shift 2 ;;
    --connections) conns=$2; shift 2 ;;
    --idle) idle=$2; shift 2 ;;
    --no-pin) pin=0; shift ;;
    -h | --help) sed -n '2,26p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "https_vs_nginx: unknown argument '$1' (see --help)" >&2; exit 2 ;;
    esac
done

need_packages "${BUILD_PACKAGES[@]}" nginx-light wrk openssl python3 util-linux procps
build_dir=${EDDY_BUILD:-$root/build-release}
cmake -S "$root" -B "$build_dir" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build_dir" -j"$(nproc)" --target eddyd http >/dev/null
eddyd=$build_dir/eddyd
ulimit -n "$(ulimit -Hn)" # the idle connections: both servers and the client

bench_workdir https

server_cpu=() wrk_cpu=()
if [ "$pin" = 1 ] && [ "$(nproc)" -ge 2 ]; then
    server_cpu=(taskset -c 0)
    wrk_cpu=(taskset -c 1)
fi

# --- the certificate: ECDSA P-256, self-signed for localhost ------------------
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -subj /CN=localhost -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
    -keyout "$work/key.pem" -out "$work/cert.pem" 2>/dev/null

# --- nginx ------------------------------------------------------------------
nginx_port=$(free_port)
mkdir -p "$work/nginx"
cat >"$work/nginx/nginx.conf" <<EOF
worker_processes 1;
worker_rlimit_nofile $((idle + 1000));
daemon off;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log warn;
events { worker_connections $((idle + 1000)); }
http {
    access_log off;
    keepalive_requests 1000000;
    keepalive_timeout 300s;
    client_body_temp_path $work/nginx/body;
    server {
        listen 127.0.0.1:$nginx_port ssl;
        ssl_certificate $work/cert.pem;
        ssl_certificate_key $work/key.pem;
        ssl_protocols TLSv1.3;
        location / { return 200 "hello"; }
    }
}
EOF
"${server_cpu[@]}" nginx -p "$work/nginx" -c "$work/nginx/nginx.conf" &
nginx_master=$!
pids+=($nginx_master)

# --- eddyd ------------------------------------------------------------------
eddy_port=$(free_port)
cat >"$work/eddyd.conf" <<EOF
workers 1
log_level warn
max_connections $((idle + 1000))
listen tcp 127.0.0.1:$eddy_port {
    handler http
    tls_certificate $work/cert.pem
    tls_certificate_key $work/key.pem
    tls_protocols TLSv1.3
}
EOF
"${server_cpu[@]}" "$eddyd" -c "$work/eddyd.conf" 2>"$work/eddyd.log" &
eddy_pid=$!
pids+=($eddy_pid)

wait_https() { # PORT: until it answers, at most 10 s
    local i
    for i in $(seq 100); do
        curl -sfk --max-time 1 "https://127.0.0.1:$1/" >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    echo "https_vs_nginx: nothing answers on port $1" >&2
    cat "$work/eddyd.log" "$work/nginx/error.log" >&2 2>/dev/null || true
    exit 1
}
wait_https "$nginx_port"
wait_https "$eddy_port"
nginx_worker=$(pgrep -P "$nginx_master" | head -1)
[ -n "$nginx_worker" ] || { echo "https_vs_nginx: no nginx worker process" >&2; exit 1; }

status=0
# run_wrk NAME PORT PID MODE SECONDS: prints "requests/s CPU-us/request".
# With a new connection per request, only failed connects and timeouts
# count as errors (a closed connection's read error is the mode itself).
run_wrk() {
    local hdr=()
    [ "$4" = handshakes ] && hdr=(-H "Connection: close")
    wrk_measure "$1 $4" "$3" "$5" "Non-2xx|Socket errors: connect [1-9]|timeout [1-9]" \
        "${hdr[@]}" "https://127.0.0.1:$2/"
}

echo "# eddyd https vs nginx $(nginx -v 2>&1 | sed 's/.*nginx\///'), TLS 1.3, ECDSA P-256, wrk -t1" \
     "-c$conns -d${duration}s, $runs runs each, alternating; pinned:" \
     "$([ ${#server_cpu[@]} -gt 0 ] && echo 'servers CPU 0, client CPU 1' || echo no)"
printf '| mode | nginx req/s (runs) | eddy req/s (runs) | eddy / nginx req/s (medians) '
printf '| CPU us/req nginx, eddy (medians) | eddy / nginx CPU per req |\n|---|---|---|---|---|---|\n'
for mode in keep-alive handshakes; do
    run_wrk nginx "$nginx_port" "$nginx_worker" "$mode" 2 >/dev/null # warm-up
    run_wrk eddy "$eddy_port" "$eddy_pid" "$mode" 2 >/dev/null
    n=() e=() nc=() ec=()
    for r in $(seq "$runs"); do
        if [ $((r % 2)) = 1 ]; then order=(nginx eddy); else order=(eddy nginx); fi
        for who in "${order[@]}"; do
            if [ "$who" = nginx ]; then
                read -r a b < <(run_wrk nginx "$nginx_port" "$nginx_worker" "$mode" "$duration")
                n+=("$a") nc+=("$b")
            else
                read -r a b < <(run_wrk eddy "$eddy_port" "$eddy_pid" "$mode" "$duration")
                e+=("$a") ec+=("$b")
            fi
        done
    done
    nm=$(printf '%s\n' "${n[@]}" | median)
    em=$(printf '%s\n' "${e[@]}" | median)
    ncm=$(printf '%s\n' "${nc[@]}" | median)
    ecm=$(printf '%s\n' "${ec[@]}" | median)
    ratio=$(awk -v a="$em" -v b="$nm" 'BEGIN {if (b > 0) printf "%.2f", a / b; else print "n/a"}')
    cratio=$(awk -v a="$ecm" -v b="$ncm" 'BEGIN {if (b > 0) printf "%.2f", a / b; else print "n/a"}')
    printf '| %s | %s (%s) | %s (%s) | **%s×** | %s, %s | %s× |\n' "$mode" "$nm" "${n[*]}" "$em" \
        "${e[*]}" "$ratio" "$ncm" "$ecm" "$cratio"
done

# idle_rss NAME PORT PID: N TLS connections held idle; prints bytes of RSS
# growth per connection.
idle_rss() {
    "${wrk_cpu[@]}" python3 - "$1" "$2" "$3" "$idle" <<'EOF'
import selectors, socket, ssl, sys, time
name, port, pid, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
def rss():
    with open("/proc/%d/status" % pid) as f:
        return int([l for l in f if l.startswith("VmRSS:")][0].split()[1]) * 1024
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
ctx.minimum_version = ssl.TLSVersion.TLSv1_3
before = rss()
socks, pending, sel, opened = [], set(), selectors.DefaultSelector(), 0
deadline = time.monotonic() + 600
while (opened < n or pending) and time.monotonic() < deadline:
    while opened < n and len(pending) < 100:
        raw = socket.create_connection(("127.0.0.1", port))
        raw.setblocking(False)
        s = ctx.wrap_socket(raw, server_hostname="localhost", do_handshake_on_connect=False)
        socks.append(s)
        pending.add(s)
        sel.register(s, selectors.EVENT_WRITE)
        opened += 1
    for key, _ in sel.select(1):
        s = key.fileobj
        try:
            s.do_handshake()
            pending.discard(s)
            sel.unregister(s)
        except ssl.SSLWantReadError:
            sel.modify(s, selectors.EVENT_READ)
        except ssl.SSLWantWriteError:
            sel.modify(s, selectors.EVENT_WRITE)
if pending or opened < n:
    sys.exit("%s: %d of %d handshakes unfinished" % (name, len(pending) + n - opened, n))
time.sleep(2)  # the server has read the last Finished and sent its tickets
print("%.0f" % ((rss() - before) / n))
for s in socks:
    s.close()
EOF
}
nb=$(idle_rss nginx "$nginx_port" "$nginx_worker") || status=1
eb=$(idle_rss eddy "$eddy_port" "$eddy_pid") || status=1
echo
echo "| memory per idle TLS connection ($idle, RSS growth) | nginx | eddy | eddy / nginx |"
echo "|---|---|---|---|"
printf '| bytes | %s | %s | %s× |\n' "$nb" "$eb" \
    "$(awk -v a="$eb" -v b="$nb" 'BEGIN {if (b > 0) printf "%.2f", a / b; else print "n/a"}')"
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) CPUs"
exit $status
