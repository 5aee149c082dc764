#!/usr/bin/env python3
"""bench/scaling.py - two workers against one, and how evenly two workers
share the connections (issue 20: "the scaling ratio (2 workers / 1 worker)
at least the floor's; accept spread within 45-55 %").

Two parts, each its own run (--parts echo or http; each under 5 minutes
with the defaults, so each fits one `flock /work/bench.lock`):

- echo: eddyd's echo (`--prefix ''`) against the epoll floor (peer-epoll),
  each with 1 and with 2 workers, all four started once per connection
  count; eddy-load (bench.py's run_load, its --uring engine) with 2 client
  threads for every server, so only the server changes between 1 and 2
  workers; 64 B, depth 1, at 64 and 1,000 connections.
- http: eddyd's http handler against nginx (bench/lib.sh's nginx_http_conf,
  as bench/http_vs_nginx.sh runs it, with `worker_processes` 1 and 2), wrk
  -t2 at 64 and 1,000 keep-alive connections.

Timed runs: REPS rounds; in each round every (server, workers) runs once,
the order rotating and reversing from round to round (bench.py's rule),
so the machine's drift falls on all alike.  The scaling of a server is
the median of its 2-worker runs / the median of its 1-worker runs.

Accept spread (2 workers, untimed runs after the timed ones): the share
of the connections of one run that each worker accepted, counted on the
server side: eddyd's per-listener, per-worker
eddy_connections_accepted_total (the Prometheus text of its unix stats
listener), the floor's own counters (SIGUSR1: "epoll_floor: accepted N0
N1"), nginx's access log of a second nginx (`$pid $connection` per
request, distinct connections per worker pid; the timed nginx logs
nothing).  Loads: the same keep-alive loads as the timed runs (shorter),
and short connections, one request each, for SHORT seconds
(eddy-connrate -t2 for echo; wrk -t2 -H 'Connection: close' for http).  Reported: the busier worker's share,
median and worst over SPREAD_REPS runs.

Loopback only; every run bounded in time (timeouts), every server stopped
at exit.  Prints a Markdown table; --json FILE keeps every figure.

    bench/scaling.sh [--parts echo,http] [--reps N] [--duration S] ...
"""
import argparse
import json
import os
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import bench  # noqa: E402  (bench.py beside this file)

BAND = (0.45, 0.55)  # issue 20's accept spread, per worker
LOAD_THREADS = 2     # client threads for 1 and 2 workers alike
SIZE = 64


def log(msg):
    bench.log("scaling: " + msg)


# --- servers ------------------------------------------------------------------

def eddy_conf(tmpdir, tag, handler):
    """An eddyd config: the measured listener first (its address and
    workers come from the command line) and a unix stats listener.
    Returns (config path, stats socket path)."""
    sock = os.path.join(tmpdir, "%s.stats" % tag)
    conf = os.path.join(tmpdir, "%s.conf" % tag)
    with open(conf, "w") as f:
        f.write("listen tcp 127.0.0.1:0 {\n    handler %s\n}\n"
                "listen unix %s {\n    handler stats\n}\n" % (handler, sock))
    return conf, sock


def start_eddy(build, tmpdir, handler, workers):
    """eddyd with `handler` (echo: pure echo) and a stats socket: a
    bench.start_server Popen with .stats set."""
    tag = "eddy-%s-%dw" % (handler, workers)
    conf, sock = eddy_conf(tmpdir, tag, handler)

    def argv(name, build, port, workers):
        a = [os.path.join(build, "eddyd"), "-c", conf, "--listen", "127.0.0.1:%d" % port,
             "--workers", str(workers)]
        return a + (["--prefix", ""] if handler == "echo" else [])
    p, _ = bench.start_server(tag, build, workers, tmpdir, argv_for=argv)
    p.stats = sock
    return p


def start_floor(build, tmpdir, workers):
    tag = "floor-%dw" % workers
    p, _ = bench.start_server(tag, build, workers, tmpdir,
                              argv_for=lambda n, b, port, w: bench.server_argv("epoll", b, port, w))
    return p


def http_get(port, timeout=5):
    """True when 127.0.0.1:port answers GET / with 200."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            return s.recv(4096).startswith(b"HTTP/1.1 200")
    except OSError:
        return False


def start_nginx(tmpdir, workers, logged=False):
    """nginx with `workers` worker processes on a free port, the config from
    bench/lib.sh's nginx_http_conf (with an access log when `logged`),
    answering within 10 s.  A Popen with .port, .workers (pids), .log."""
    tag = "nginx-%dw%s" % (workers, "-log" if logged else "")
    d = os.path.join(tmpdir, tag)
    port = bench.free_port()
    p_log = os.path.join(d, "access.log") if logged else ""
    subprocess.run(["bash", "-c", '. "$0"; nginx_http_conf "$@"', os.path.join(HERE, "lib.sh"),
                    d, str(port), str(workers), p_log], check=True, timeout=30)
    p = subprocess.Popen(["nginx", "-p", d, "-c", os.path.join(d, "nginx.conf")],
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    bench.started.append(p)
    p.name, p.port, p.log = tag, port, p_log
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and p.poll() is None:
        p.workers = children(p.pid)
        if len(p.workers) == workers and http_get(port):
            return p
        time.sleep(0.1)
    bench.stop_server(p)
    raise RuntimeError("nginx (%s) did not answer on %d" % (tag, port))


def children(pid):
    try:
        with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
            return sorted(int(x) for x in f.read().split())
    except OSError:
        return []


def cpu_ticks(pids):
    """utime + stime of the processes, clock ticks."""
    t = 0
    for pid in pids:
        try:
            with open("/proc/%d/stat" % pid) as f:
                fields = f.read().rsplit(")", 1)[1].split()
            t += int(fields[11]) + int(fields[12])
        except (OSError, IndexError, ValueError):
            pass
    return t


# --- who accepted what ------------------------------------------------------

ACCEPTED_RE = re.compile(r'^eddy_connections_accepted_total\{listener="([^"]*)",worker="(\d+)"\} (\d+)$')


def parse_eddy_accepted(text, listener):
    """Per-worker accepted counts of `listener` ("127.0.0.1:PORT") from
    eddyd's Prometheus text: a list indexed by worker."""
    per = {}
    for line in text.splitlines():
        m = ACCEPTED_RE.match(line)
        if m and m.group(1) == listener:
            per[int(m.group(2))] = int(m.group(3))
    return [per[k] for k in sorted(per)]


def eddy_accepted(p, timeout=5):
    """Ask eddyd's stats socket (HTTP GET: Prometheus text, each sample per
    listener and worker) how many connections each worker accepted on
    the measured listener."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    data = b""
    try:
        s.connect(p.stats)
        s.sendall(b"GET /metrics HTTP/1.0\r\n\r\n")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            b = s.recv(65536)
            if not b:
                break
            data += b
            head, _, body = data.partition(b"\r\n\r\n")
            m = re.search(rb"(?i)content-length: *(\d+)", head)
            if m and len(body) >= int(m.group(1)):
                break
    finally:
        s.close()
    return parse_eddy_accepted(data.decode(errors="replace"), "127.0.0.1:%d" % p.port)


FLOOR_RE = re.compile(r"^epoll_floor: accepted((?: \d+)+)$", re.M)


def floor_accepted(p, timeout=5):
    """SIGUSR1 to the floor; its per-worker counts from the line it prints."""
    with open(p.errpath) as f:
        before = len(FLOOR_RE.findall(f.read()))
    p.send_signal(signal.SIGUSR1)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with open(p.errpath) as f:
            lines = FLOOR_RE.findall(f.read())
        if len(lines) > before:
            return [int(x) for x in lines[-1].split()]
        time.sleep(0.02)
    raise RuntimeError("the floor printed no counts within %.0f s" % timeout)


def parse_nginx_log(text, pids):
    """Distinct connections per worker (in the order of `pids`) from access
    log lines "PID CONNECTION"."""
    seen = set()
    for line in text.splitlines():
        f = line.split()
        if len(f) == 2 and f[0].isdigit() and f[1].isdigit():
            seen.add((int(f[0]), int(f[1])))
    return [sum(1 for pid, _ in seen if pid == w) for w in pids]


def nginx_accepted(p, offset):
    """(per-worker connections in the log since byte `offset`, new offset)."""
    with open(p.log, "rb") as f:
        f.seek(offset)
        text = f.read()
    return parse_nginx_log(text.decode(errors="replace"), p.workers), offset + len(text)


def shares(before, after):
    """Each worker's share of the connections accepted between two counts
    (None when none were)."""
    d = [b - a for a, b in zip(before, after)]
    total = sum(d)
    return [x / total for x in d] if total > 0 else None


def in_band(share_list, band=BAND):
    return share_list is not None and all(band[0] <= s <= band[1] for s in share_list)


# --- loads --------------------------------------------------------------------

def run_short(a, p, part, seconds):
    """A burst of short connections for `seconds`, 2 client threads, each
    connection one request and its reply: eddy-connrate (echo, 64 B, closed
    with a reset) or wrk with `Connection: close` (http: the server closes
    each connection after its reply).  Returns the number of errors."""
    if part == "echo":
        argv = [os.path.join(a.build, "bench", "eddy-connrate"), "-p", str(p.port),
                "-t", str(LOAD_THREADS), "-D", str(seconds), "-s", str(SIZE)]
    else:
        argv = ["wrk", "-t%d" % LOAD_THREADS, "-c%d" % a.short_conns, "-d%ds" % max(1, round(seconds)),
                "-H", "Connection: close", "http://127.0.0.1:%d/" % p.port]
    try:
        r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                           timeout=seconds + 60)
    except subprocess.TimeoutExpired:
        return 1
    if part == "echo":
        try:
            return json.loads(r.stdout.strip().splitlines()[-1])["errors"] + (r.returncode != 0)
        except (ValueError, IndexError, KeyError):
            return 1
    return parse_wrk(r.stdout)[2] + (r.returncode != 0)


def parse_wrk(out):
    """(requests/s, requests, errors) from wrk's output."""
    rps = re.search(r"^Requests/sec:\s+([\d.]+)", out, re.M)
    n = re.search(r"^\s*(\d+) requests in", out, re.M)
    errs = 0
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if m:
        errs += sum(int(x) for x in m.groups())
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if m:
        errs += int(m.group(1))
    return (float(rps.group(1)) if rps else None, int(n.group(1)) if n else None, errs)


def busy_cpu():
    """CPU seconds the whole machine has been busy (/proc/stat: all but
    idle and iowait)."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return (sum(v[:8]) - v[3] - v[4]) / os.sysconf("SC_CLK_TCK")


def children_cpu():
    """CPU seconds of the children waited for so far."""
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def run_wrk(port, conns, duration, pids):
    """wrk -t2 -cCONNS for `duration` s: {"rate", "errors", "cpu_us",
    "srv_cores", "cli_cores", "other_cores"} (the server processes' CPU
    per request and in cores over the run, wrk's, everything else's)."""
    secs = max(1, round(duration))
    argv = ["wrk", "-t%d" % LOAD_THREADS, "-c%d" % conns, "-d%ds" % secs,
            "http://127.0.0.1:%d/" % port]
    c0, w0, b0, t0 = cpu_ticks(pids), children_cpu(), busy_cpu(), time.monotonic()
    try:
        r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                           timeout=duration + 60)
    except subprocess.TimeoutExpired:
        return {"failed": "wrk timed out"}
    c1, w1, b1, t1 = cpu_ticks(pids), children_cpu(), busy_cpu(), time.monotonic()
    rate, n, errs = parse_wrk(r.stdout)
    if rate is None or r.returncode != 0:
        return {"failed": "wrk exit %d: %s" % (r.returncode, r.stdout.strip()[-300:])}
    srv = (c1 - c0) / os.sysconf("SC_CLK_TCK")
    return {"rate": rate, "errors": errs, "cpu_us": srv * 1e6 / n if n else None,
            "srv_cores": srv / (t1 - t0), "cli_cores": (w1 - w0) / (t1 - t0),
            "other_cores": max(0.0, (b1 - b0) - srv - (w1 - w0)) / (t1 - t0)}


def run_echo(a, p, conns, duration, warmup):
    """eddy-load against p: {"rate", "errors", "cpu_us", ...}."""
    args = ["-c", conns, "-t", LOAD_THREADS, "-s", SIZE, "-d", 1, "-D", duration, "-w", warmup,
            "-p", p.port, "--pid", p.pid] + a.engine_args
    r = bench.run_load(a.load, args, timeout=warmup + duration + 60)
    if "failed" in r:
        return r
    return {"rate": r["msgs_per_s"], "errors": r["errors"]["total"],
            "cpu_us": r.get("server", {}).get("cpu_us_per_msg"),
            "srv_cores": r.get("server", {}).get("cpu_cores"),
            "cli_cores": r.get("client_cpu_cores"), "other_cores": r.get("other_cpu_cores")}


# --- the plan -------------------------------------------------------------------

def scaling_rows(part, conns, runs, servers):
    """One row per server: medians of its 1- and 2-worker rates and their
    ratio."""
    rows = []
    for name in servers:
        w1 = bench.med([r["rate"] for r in runs[(name, 1)] if "rate" in r])
        w2 = bench.med([r["rate"] for r in runs[(name, 2)] if "rate" in r])
        rows.append({"part": part, "conns": conns, "server": name, "w1": w1, "w2": w2,
                     "scaling": bench.ratio(w2, w1),
                     "cpu_us_w1": bench.med([r.get("cpu_us") for r in runs[(name, 1)]]),
                     "cpu_us_w2": bench.med([r.get("cpu_us") for r in runs[(name, 2)]]),
                     "srv_cores": [bench.med([r.get("srv_cores") for r in runs[(name, w)]]) for w in (1, 2)],
                     "cli_cores": [bench.med([r.get("cli_cores") for r in runs[(name, w)]]) for w in (1, 2)],
                     "other_cores": bench.med([r.get("other_cores") for w in (1, 2) for r in runs[(name, w)]]),
                     "errors": sum(r.get("errors", 0) for k in ((name, 1), (name, 2)) for r in runs[k]),
                     "failed": sum("failed" in r for k in ((name, 1), (name, 2)) for r in runs[k]),
                     "runs": {"1": runs[(name, 1)], "2": runs[(name, 2)]}})
    return rows


def spread_summary(share_runs):
    """The busier worker's share: median and worst over the runs, and how
    many runs fell inside the band."""
    top = [max(s) for s in share_runs if s]
    if not top:
        return {"runs": len(share_runs)}
    return {"runs": len(share_runs), "median": statistics.median(top), "worst": max(top),
            "in_band": sum(in_band(s) for s in share_runs if s), "shares": share_runs}


def measure_part(a, part, tmpdir):
    """The timed runs and the spread runs of one part; returns (rows, spread)."""
    names = ["eddy", "floor"] if part == "echo" else ["eddy", "nginx"]
    rows, spread = [], []
    for conns in a.conns:
        procs = {}
        try:
            for w in (1, 2):
                procs[("eddy", w)] = start_eddy(a.build, tmpdir, "echo" if part == "echo" else "http", w)
                procs[(names[1], w)] = (start_floor(a.build, tmpdir, w) if part == "echo"
                                        else start_nginx(tmpdir, w))
            pids = {k: ([p.pid] + getattr(p, "workers", [])) for k, p in procs.items()}
            keys = [(n, w) for n in names for w in (1, 2)]
            if part == "http":  # wrk has no warm-up of its own
                for k in keys:
                    run_wrk(procs[k].port, conns, 1, pids[k])
            runs = {k: [] for k in keys}
            for i in range(a.reps):
                for k in bench.rotation(keys, i):
                    p = procs[k]
                    if part == "echo":
                        r = run_echo(a, p, conns, a.duration, a.warmup)
                    else:
                        r = run_wrk(p.port, conns, a.duration, pids[k])
                    runs[k].append(r)
                    log("%s %d conns, round %d/%d: %-5s %dw %s" % (
                        part, conns, i + 1, a.reps, k[0], k[1],
                        r.get("failed") or "%.0f/s, %s us/op, errors %d" % (
                            r["rate"], bench.fmt(r.get("cpu_us"), "%.2f"), r["errors"])))
                    if conns >= 1000:
                        time.sleep(0.3)  # let the closes settle
            rows += scaling_rows(part, conns, runs, names)
        finally:
            for p in procs.values():
                bench.stop_server(p)
    spread += measure_spread(a, part, names, tmpdir)
    return rows, spread


def measure_spread(a, part, names, tmpdir):
    """Untimed runs on 2-worker servers: each load SPREAD_REPS times, the
    servers alternating; the shares each worker accepted."""
    procs = {}
    out = []
    try:
        procs["eddy"] = start_eddy(a.build, tmpdir, "echo" if part == "echo" else "http", 2)
        procs[names[1]] = (start_floor(a.build, tmpdir, 2) if part == "echo"
                           else start_nginx(tmpdir, 2, logged=True))
        offset = {"nginx": 0}

        def counts(name):
            p = procs[name]
            if name == "eddy":
                return eddy_accepted(p)
            if name == "floor":
                return floor_accepted(p)
            c, offset["nginx"] = nginx_accepted(p, offset["nginx"])
            return c

        loads = [("%d conns" % c, c) for c in a.conns] + [("short connections", None)]
        for label, conns in loads:
            got = {n: [] for n in names}
            for i in range(a.spread_reps):
                for name in bench.rotation(names, i):
                    p = procs[name]
                    c0 = counts(name)  # nginx: the log so far, skipped
                    if conns is None:
                        failed = run_short(a, p, part, a.short)
                    elif part == "echo":
                        r = run_echo(a, p, conns, 0.3, 0)
                        failed = r.get("errors", 0) + ("failed" in r)
                    else:
                        r = run_wrk(p.port, conns, 1, [])
                        failed = r.get("errors", 0) + ("failed" in r)
                    if name == "nginx":
                        time.sleep(0.2)  # the last log lines
                        c1 = counts(name)  # this run's connections only
                        sh = shares([0] * len(c1), c1)
                    else:
                        sh = shares(c0, counts(name))
                    got[name].append(sh)
                    log("spread %s %s, %s: %s%s" % (part, label, name,
                                                      "/".join("%.1f" % (x * 100) for x in sh) if sh else "-",
                                                      " (%d failed)" % failed if failed else ""))
                    if conns and conns >= 1000:
                        time.sleep(0.3)
            for name in names:
                out.append(dict(spread_summary(got[name]), part=part, load=label, server=name))
    finally:
        for p in procs.values():
            bench.stop_server(p)
    return out


LABEL = {"eddy": "eddy", "floor": "epoll floor", "nginx": "nginx"}


def write_md(rows, spread, meta):
    L = ["# 2 workers against 1, and the accept spread", "",
         "- command: `%s`" % meta["command"],
         "- date: %s, commit %s, %d CPUs, load average at the start %s" % (
             meta["date"], meta["commit"], meta["nproc"], meta["loadavg"]),
         "- timed: %d rounds, servers alternating; %s; client %d threads for 1 and 2 workers" % (
             meta["reps"], "%.1f s warm-up + %.1f s" % (meta["warmup"], meta["duration"]), LOAD_THREADS),
         "", "| load | server | 1 worker /s | 2 workers /s | scaling (2w/1w) | CPU µs/op 1w, 2w "
         "| server cores 1w, 2w | client cores 1w, 2w | other cores | errors |",
         "| --- | --- | ---: | ---: | ---: | --- | --- | --- | ---: | ---: |"]
    for r in rows:
        L.append("| %s %d conns | %s | %s | %s | **%s** | %s, %s | %s, %s | %s, %s | %s | %d%s |" % (
            r["part"], r["conns"], LABEL[r["server"]], bench.fmt(r["w1"]), bench.fmt(r["w2"]),
            bench.fmt(r["scaling"], "%.2f"), bench.fmt(r["cpu_us_w1"], "%.2f"),
            bench.fmt(r["cpu_us_w2"], "%.2f"), bench.fmt(r["srv_cores"][0], "%.2f"),
            bench.fmt(r["srv_cores"][1], "%.2f"), bench.fmt(r["cli_cores"][0], "%.2f"),
            bench.fmt(r["cli_cores"][1], "%.2f"), bench.fmt(r["other_cores"], "%.2f"), r["errors"],
            " (%d runs failed)" % r["failed"] if r["failed"] else ""))
    L += ["", "Accept spread, 2 workers: the busier worker's share of one run's connections "
          "(target: both workers within %d-%d %%)." % (BAND[0] * 100, BAND[1] * 100), "",
          "| load | server | median | worst | runs in band |", "| --- | --- | ---: | ---: | ---: |"]
    for s in spread:
        L.append("| %s %s | %s | %s | %s | %s/%d |" % (
            s["part"], s["load"], LABEL[s["server"]], bench.fmt(s.get("median"), "%.3f"),
            bench.fmt(s.get("worst"), "%.3f"), s.get("in_band", "-"), s["runs"]))
    return "\n".join(L) + "\n"


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", required=True, help="a build with eddyd, plugins/ and bench/ (-DEDDY_BENCH=ON)")
    ap.add_argument("--parts", default="echo,http", help="echo, http or both (default %(default)s)")
    ap.add_argument("--reps", type=int, default=5, help="timed rounds (default %(default)s)")
    ap.add_argument("--duration", type=float, default=2.0, help="measured seconds per run")
    ap.add_argument("--warmup", type=float, default=0.5, help="eddy-load's warm-up per run")
    ap.add_argument("--conns", default="64,1000", help="connection counts (default %(default)s)")
    ap.add_argument("--spread-reps", type=int, default=5, help="untimed runs per spread load")
    ap.add_argument("--short", type=float, default=1.0,
                    help="seconds of each run of short connections (default %(default)s)")
    ap.add_argument("--short-conns", type=int, default=64,
                    help="wrk's connections in the http part's short-connection runs")
    ap.add_argument("--client", choices=["epoll", "uring"], default=bench.DEFAULT_CLIENT)
    ap.add_argument("--json", metavar="FILE", help="write every figure here")
    ap.add_argument("--command", default="bench/scaling.sh", help="the command line to record")
    a = ap.parse_args(argv)
    a.parts = [x for x in a.parts.split(",") if x]
    a.conns = [int(x) for x in a.conns.split(",") if x]
    if not a.parts or any(x not in ("echo", "http") for x in a.parts):
        ap.error("--parts takes echo, http or echo,http")
    if a.reps < 1 or a.spread_reps < 1 or a.short <= 0 or a.short_conns < 1 or \
            not a.conns or min(a.conns) < 1:
        ap.error("--reps, --spread-reps, --short, --short-conns and --conns must be positive")
    return a


def main(argv=None):
    a = parse_args(argv)
    a.load = os.path.join(a.build, "bench", "eddy-load")
    a.engine_args = ["--uring"] if a.client == "uring" else []
    need = [os.path.join(a.build, "eddyd"), a.load, os.path.join(a.build, "bench", "peer-epoll"),
            os.path.join(a.build, "bench", "eddy-connrate")]
    if "http" in a.parts:
        need += [shutil.which("nginx") or "nginx", shutil.which("wrk") or "wrk"]
    missing = [x for x in need if not os.access(x, os.X_OK)]
    if missing:
        sys.exit("scaling: missing %s" % ", ".join(missing))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(130))
    tmpdir = tempfile.mkdtemp(prefix="eddy-scaling-")
    meta = {"command": a.command, "nproc": os.cpu_count(), "reps": a.reps, "duration": a.duration,
            "warmup": a.warmup, "loadavg": " ".join(open("/proc/loadavg").read().split()[:3]),
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "commit": subprocess.run(["git", "-C", HERE, "rev-parse", "--short", "HEAD"],
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                     text=True).stdout.strip() or "unknown"}
    rows, spread = [], []
    try:
        for part in a.parts:
            r, s = measure_part(a, part, tmpdir)
            rows += r
            spread += s
    finally:
        bench.kill_all()
        shutil.rmtree(tmpdir, ignore_errors=True)
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"meta": meta, "scaling": rows, "spread": spread}, f, indent=1)
    sys.stdout.write(write_md(rows, spread, meta))
    bad = sum(r["errors"] + r["failed"] for r in rows)
    return 1 if bad else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    finally:
        bench.kill_all()
