# bench/lib.sh - what the scripts that set eddyd beside a peer server
# (http_vs_nginx, https_vs_nginx, resp_vs_redis, proxy_vs_haproxy) share,
# and bench/scaling.py (nginx_http_conf).  Sourced after scripts/lib.sh,
# not run.

# bench_workdir NAME: a scratch folder in $work, removed at exit with every
# process whose pid was added to $pids (stopped, then waited for).
bench_workdir() {
    work=$(mktemp -d "/tmp/eddy-$1-bench.XXXXXX")
    pids=()
    trap bench_cleanup EXIT
    trap 'exit 130' INT TERM
}

bench_cleanup() {
    local p
    for p in "${pids[@]}"; do
        kill "$p" 2>/dev/null || true
    done
    for p in "${pids[@]}"; do
        wait "$p" 2>/dev/null || true
    done
    rm -rf "$work"
}

# A TCP port on 127.0.0.1 that nothing listens on now.
free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# The CPU time of process PID so far, in clock ticks: utime + stime, all threads.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# The median of the numbers on stdin, one a line.
median() { sort -g | awk '{a[NR]=$1} END {if (NR % 2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }

# wrk_measure TAG PID SECS ERRORS WRK-ARGS...: run wrk (under $wrk_cpu) for
# SECS seconds and print "requests/s CPU-us/request", the CPU being process
# PID's over the run.  A failed run, or output matching the extended regex
# ERRORS, is reported on stderr and sets status=1.
wrk_measure() {
    local tag=$1 pid=$2 secs=$3 errors=$4 out c0 c1
    shift 4
    out="$work/wrk-${tag// /-}-$RANDOM.txt"
    c0=$(cpu_ticks "$pid")
    if ! timeout $((secs + 30)) "${wrk_cpu[@]}" wrk -t1 -c"$conns" -d"${secs}s" "$@" >"$out" 2>&1; then
        echo "$(basename "$0" .sh): wrk ($tag) failed:" >&2
        cat "$out" >&2
        status=1
    fi
    c1=$(cpu_ticks "$pid")
    if grep -qE "$errors" "$out"; then
        echo "$(basename "$0" .sh): $tag: $(grep -E 'Socket errors|Non-2xx' "$out" | tr '\n' ' ')" >&2
        status=1
    fi
    awk -v c=$((c1 - c0)) -v t="$(getconf CLK_TCK)" '/requests in/ {n = $1} /^Requests\/sec:/ {r = $2}
        END {printf "%s %.2f\n", r, (n > 0 ? c * 1e6 / t / n : 0)}' "$out"
}

# nginx_http_conf DIR PORT WORKERS [LOG]: write DIR/nginx.conf, nginx as
# the HTTP benchmarks run it: `return 200 "hello"` on 127.0.0.1:PORT,
# WORKERS worker processes, keep-alive connections never closed for their
# request count (nginx's default closes each after 1000), no access log;
# with LOG, one line per request into that file: the worker's pid and the
# connection's serial number (which worker accepted which connection).
nginx_http_conf() {
    local dir=$1 port=$2 workers=$3 log="access_log off;"
    [ -n "${4:-}" ] && log="log_format who '\$pid \$connection'; access_log $4 who;"
    mkdir -p "$dir"
    cat >"$dir/nginx.conf" <<EOF
worker_processes $workers;
daemon off;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 4096; }
http {
    $log
    keepalive_requests 1000000;
    client_body_temp_path $dir/body;
    server {
        listen 127.0.0.1:$port;
        location / { return 200 "hello"; }
    }
}
EOF
}
