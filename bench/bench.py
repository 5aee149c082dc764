#!/usr/bin/env python3
"""bench/bench.py - run the benchmark matrix and write the results.

Called by scripts/bench after the build (python3 standard library only).
For every cell of the matrix (connections x size x depth x workers) it starts
eddyd and every peer echo server afresh on free loopback ports, then runs
eddy-load against each in turn, rotating and alternating the order from one
repetition to the next, so that drift of the machine falls on every server
alike.  It reports per cell the median over repetitions of each figure, the
ratio of eddy's median to each peer's, the server's CPU time per message
(eddy-load samples /proc/PID/stat over the measured window) and the
server's peak RSS (VmHWM, one fresh process per cell).  It also measures the
RSS per idle connection with 10,000 idle connections, on a fresh server each
time.

Writes OUT/latest.json, OUT/latest.md and OUT/latest.png (gnuplot), keeping
raw per-run JSON under OUT/tmp/.  OUT is a fresh folder
bench/results/run-YYYYmmdd-HHMMSS/ (UTC) unless --out DIR names one; only
--publish writes the committed bench/results/latest.*.  --from FILE measures
nothing and writes the report and plot again from an earlier latest.json.
"""
import argparse
import datetime
import json
import os
import platform
import shlex
import signal
import socket
import statistics
import subprocess
import sys
import time

SERVERS = ["eddy", "epoll", "libevent", "libuv", "libev", "uring"]
LABEL = {
    "eddy": "eddy",
    "epoll": "epoll floor",
    "libevent": "libevent",
    "libuv": "libuv",
    "libev": "libev",
    "uring": "io_uring",
}

FULL = dict(
    conns=[1, 64, 1000, 10000],
    sizes=[64, 4096, 65536],
    depths=[1, 16],
    workers=[1, 2],
    reps=3,
    warmup=0.5,
    duration=1.5,
    idle_reps=3,
    idle_warmup=1.0,
    settle=0.3,
)

# --quick: the cells behind the targets, shorter runs.
QUICK_CELLS = [
    (64, 64, 1, 1),
    (64, 64, 16, 1),
    (1000, 4096, 1, 1),
]
QUICK = dict(reps=3, warmup=0.2, duration=0.8, idle_reps=1, idle_warmup=0.6, settle=0.1)

# eddy-load's engine for the matrix: see bench/README.md, "Is eddy-load the
# bottleneck?".
DEFAULT_CLIENT = "uring"

IDLE_CONNS = 10000
MAX_IN_FLIGHT = 256 << 20  # skip cells with conns*depth*size above this

started = []  # Popen of every server still running

# The committed results: written only with --publish.
RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")


def results_dir(out, publish, results=RESULTS, prefix="run"):
    """The folder a run writes into, created: RESULTS itself only with
    publish; OUT when given (never RESULTS: that takes --publish); else a
    fresh RESULTS/PREFIX-YYYYmmdd-HHMMSS (UTC; -2, -3... when taken), so a
    run never overwrites the committed reference or an earlier run."""
    if publish and out:
        raise ValueError("--out and --publish exclude each other")
    if publish:
        os.makedirs(results, exist_ok=True)
        return results
    if out:
        if os.path.realpath(out) == os.path.realpath(results):
            raise ValueError("%s holds the committed results: use --publish to update them" % out)
        os.makedirs(out, exist_ok=True)
        return out
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%d-%H%M%S")
    base = os.path.join(results, "%s-%s" % (prefix, stamp))
    for n in range(1, 100):
        path = base if n == 1 else "%s-%d" % (base, n)
        try:
            os.makedirs(path)
            return path
        except FileExistsError:
            continue
    raise ValueError("no free folder name for %s" % base)


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def kill_all():
    for p in list(started):
        stop_server(p)


def free_port():
    """A free TCP port below the ephemeral range (so that 10,000 client
    connections can never take it)."""
    for _ in range(200):
        port = 20000 + int.from_bytes(os.urandom(2), "little") % 12000
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            s.bind(("127.0.0.1", port))
            return port
        except OSError:
            continue
        finally:
            s.close()
    raise RuntimeError("no free port")


def server_argv(name, build, port, workers):
    b = os.path.join(build, "bench")
    if name == "eddy":
        return [os.path.join(build, "eddyd"), "--listen", "127.0.0.1:%d" % port,
                "--workers", str(workers), "--prefix", ""]
    exe = {"epoll": "peer-epoll", "libevent": "peer-libevent", "libuv": "peer-libuv",
           "libev": "peer-libev", "uring": "peer-uring"}[name]
    return [os.path.join(b, exe), "--port", str(port), "--workers", str(workers)]


def available(name, build):
    return os.access(server_argv(name, build, 1, 1)[0], os.X_OK)


def start_server(name, build, workers, tmpdir, cpus=None, argv_for=server_argv):
    """Start a server (on the CPUs `cpus`, e.g. "0", when given), wait (at
    most 10 s) for its ready line naming the address on stderr.  Its
    command line is argv_for(name, build, port, workers).  Returns
    (Popen, port); the Popen's errpath is its stderr file."""
    for attempt in range(3):
        port = free_port()
        argv = argv_for(name, build, port, workers)
        if cpus is not None:
            argv = ["taskset", "-c", cpus] + argv
        errpath = os.path.join(tmpdir, "%s.stderr" % name)
        errf = open(errpath, "w")
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                             stderr=errf)
        errf.close()
        p.name, p.port, p.argv, p.errpath = name, port, argv, errpath
        started.append(p)
        want = "127.0.0.1:%d" % port
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and p.poll() is None:
            with open(errpath) as f:
                if want in f.read():
                    return p, port
            time.sleep(0.02)
        stop_server(p)
        with open(errpath) as f:
            log("bench: %s did not start on %s (attempt %d): %s" %
                (name, want, attempt + 1, f.read().strip()[-300:]))
    raise RuntimeError("cannot start %s" % name)


def stop_server(p):
    if p.poll() is None:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(timeout=10)
    if p in started:
        started.remove(p)


def status_kb(pid, field):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def run_load(load, args, timeout, cpus=None):
    """Run eddy-load with --json (on the CPUs `cpus` when given); returns its
    result dict (or a dict with a 'failed' key)."""
    argv = [load, "--json", "-q"] + [str(a) for a in args]
    if cpus is not None:
        argv = ["taskset", "-c", cpus] + argv
    try:
        r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"failed": "timeout after %.0f s" % timeout, "argv": argv}
    try:
        d = json.loads(r.stdout)
    except ValueError:
        return {"failed": "exit %d: %s" % (r.returncode, r.stderr.strip()[-300:]), "argv": argv}
    d["exit"] = r.returncode
    return d


def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def summarize(runs):
    ok = [r for r in runs if "failed" not in r]
    s = {"runs": len(runs), "failed_runs": len(runs) - len(ok)}
    if not ok:
        return s
    s["msgs_per_s"] = med([r["msgs_per_s"] for r in ok])
    s["msgs_per_s_min"] = min(r["msgs_per_s"] for r in ok)
    s["msgs_per_s_max"] = max(r["msgs_per_s"] for r in ok)
    s["mb_per_s"] = med([r["mb_per_s"] for r in ok])
    for q in ("p50", "p99", "p999"):
        s[q + "_us"] = med([r["latency_us"][q] for r in ok])
    srv = [r.get("server", {}) for r in ok]
    s["cpu_us_per_msg"] = med([x.get("cpu_us_per_msg") for x in srv if x.get("cpu_us_per_msg", -1) >= 0])
    s["server_cores"] = med([x.get("cpu_cores") for x in srv if x.get("cpu_cores", -1) >= 0])
    s["client_cores"] = med([r["client_cpu_cores"] for r in ok])
    s["other_cores"] = med([r.get("other_cpu_cores") for r in ok if r.get("other_cpu_cores", -1) >= 0])
    s["errors"] = sum(r["errors"]["total"] for r in ok)
    return s


def cell_plan(cell, a):
    """(warm-up, measured seconds) of a cell's runs: 10,000 connections take
    a while to go round once, so longer ones."""
    if cell[0] >= 10000:
        return max(a.warmup, 1.0), a.duration * 2
    return a.warmup, a.duration


def fmt_duration(s):
    s = int(round(s))
    if s >= 3600:
        return "%dh%02dm" % (s // 3600, s // 60 % 60)
    if s >= 60:
        return "%dm%02ds" % (s // 60, s % 60)
    return "%ds" % s


class Progress:
    """The ETA of the runs left, from the time the finished ones took:
    each run weighs its planned seconds (warm-up + measured), and the
    elapsed time per planned second so far (server starts, connects,
    settling included) scales what is left."""

    def __init__(self, total):
        self.total, self.done, self.t0 = total, 0.0, time.monotonic()

    def eta(self):
        if self.done <= 0:
            return "ETA ?"
        left = (time.monotonic() - self.t0) / self.done * max(self.total - self.done, 0.0)
        return "ETA %s" % fmt_duration(left)

    def finished(self, weight):
        self.done += weight


def cell_name(c):
    conns, size, depth, workers = c
    sz = "%d B" % size if size < 1024 else "%d KiB" % (size // 1024)
    return "%d conns, %s, depth %d, %d worker%s" % (conns, sz, depth, workers,
                                                  "" if workers == 1 else "s")


def rotation(servers, rep):
    """The order of repetition `rep`: the servers rotated by rep, reversed
    every other repetition, so that the machine's drift falls on all alike."""
    k = rep % len(servers)
    order = servers[k:] + servers[:k]
    return order[::-1] if rep % 2 else order


def run_cell(cell, servers, a, tmpdir, progress, where):
    """Measure one cell (`where`: "[i/n]" for the progress lines)."""
    conns, size, depth, workers = cell
    threads = 1 if conns == 1 else min(2, workers)
    warmup, duration = cell_plan(cell, a)
    # --pin: with one worker and one client thread, the server on CPU 0 and
    # eddy-load on CPU 1 (cells with two of either run unpinned)
    pin = a.pin and workers == 1 and threads == 1
    procs = {}
    try:
        for name in servers:
            procs[name] = start_server(name, a.build, workers, tmpdir, "0" if pin else None)
        runs = {name: [] for name in servers}
        for rep in range(a.reps):
            for name in rotation(servers, rep):
                p, port = procs[name]
                log("bench: %s %s: %s rep %d/%d, %s" % (where, cell_name(cell), name, rep + 1, a.reps,
                                                       progress.eta()))
                if p.poll() is not None:
                    runs[name].append({"failed": "server exited with %s" % p.returncode})
                    progress.finished(warmup + duration)
                    continue
                args = ["-c", conns, "-t", threads, "-s", size, "-d", depth, "-D", duration,
                        "-w", warmup, "-p", port, "--pid", p.pid] + a.engine_args
                r = run_load(a.load, args, timeout=warmup + duration + 60, cpus="1" if pin else None)
                r["rep"] = rep
                runs[name].append(r)
                progress.finished(warmup + duration)
                if "failed" in r:
                    log("bench:   %-9s rep %d FAILED: %s" % (name, rep, r["failed"]))
                else:
                    log("bench:   %-9s rep %d  %10.0f msgs/s  %7.3f us/msg  srv %.2f cli %.2f cores%s" %
                        (name, rep, r["msgs_per_s"], r.get("server", {}).get("cpu_us_per_msg", -1),
                         r.get("server", {}).get("cpu_cores", -1), r["client_cpu_cores"],
                         "  ERRORS %d" % r["errors"]["total"] if r["errors"]["total"] else ""))
                if conns >= 1000:
                    time.sleep(a.settle)  # let the closes settle before the next run
        out = {}
        for name in servers:
            p, _ = procs[name]
            s = summarize(runs[name])
            s["vmhwm_kb"] = status_kb(p.pid, "VmHWM")
            out[name] = {"summary": s, "runs": runs[name], "argv": p.argv}
        return out
    finally:
        for p, _ in procs.values():
            stop_server(p)


def idle_plan(a):
    """Planned seconds of one idle run (the hold of eddy-load --idle)."""
    return a.idle_warmup + 0.5


def run_idle(servers, a, tmpdir, progress):
    res = {}
    for name in servers:
        vals, runs = [], []
        for rep in range(a.idle_reps):
            log("bench: idle %d conns: %s rep %d/%d, %s" % (IDLE_CONNS, name, rep + 1, a.idle_reps,
                                                          progress.eta()))
            p, port = start_server(name, a.build, 1, tmpdir)
            try:
                time.sleep(0.1)
                r = run_load(a.load, ["--idle", IDLE_CONNS, "-w", a.idle_warmup, "-D", 0.5, "-p", port,
                                      "--pid", p.pid], timeout=90)
                runs.append(r)
                progress.finished(idle_plan(a))
                if "failed" not in r and r["errors"]["total"] == 0:
                    vals.append(r["server"]["rss_bytes_per_conn"])
                    log("bench:   idle %-9s rep %d  %.1f bytes/conn (%d -> %d kB)" %
                        (name, rep, r["server"]["rss_bytes_per_conn"], r["server"]["rss_before_kb"],
                         r["server"]["rss_idle_kb"]))
                else:
                    log("bench:   idle %-9s rep %d FAILED: %s" % (name, rep, r.get("failed", r.get("errors"))))
            finally:
                stop_server(p)
        res[name] = {"bytes_per_conn": med(vals), "runs": runs}
    return res


def ratio(a, b):
    if a is None or b is None or b == 0:
        return None
    return a / b


def fmt(v, spec="%.0f", none="-"):
    return none if v is None else spec % v


def write_md(path, meta, cells, idle, servers):
    L = []
    L.append("# eddy benchmark results")
    L.append("")
    L.append("- command: `%s`" % meta["command"])
    L.append("- date: %s" % meta["date"])
    L.append("- commit: %s" % meta["commit"])
    L.append("- machine: %s, %d CPUs, Linux %s; load average at the start %s" %
             (meta["cpu"], meta["nproc"], meta["kernel"], meta["loadavg"]))
    L.append("- each cell: %d repetitions per server, %.1f s warm-up + %.1f s measured, servers in "
             "rotating, alternating order; figures are medians over the repetitions; load from "
             "eddy-load on %s; %s" % (meta["reps"], meta["warmup"], meta["duration"],
                                      "io_uring (--uring)" if meta.get("client") == "uring" else "epoll",
                                      "1-worker cells pinned (server CPU 0, eddy-load CPU 1)"
                                      if meta.get("pinned") else "nothing pinned"))
    L.append("- msgs/s: replies completed per second by eddy-load (closed loop); srv µs/msg: the "
             "server's utime+stime over the measured window ÷ messages; srv/cli cores: CPU "
             "used by the server / by eddy-load over the window (1.00 = one core busy); other "
             "cores: CPU used by everything else on the machine meanwhile (/proc/stat; the noise); "
             "VmHWM: the server's peak RSS in that cell; ×eddy: eddy's median msgs/s ÷ this "
             "server's (above 1: eddy faster)")
    others = [c["servers"][n]["summary"].get("other_cores") for c in cells if not c.get("skipped")
              for n in c["servers"]]
    others = [o for o in others if o is not None]
    if others and max(others) > 0.25:
        L.append("- **noise**: other processes used up to %.2f cores (median %.2f) during the measured "
                 "windows of this run; ratios within one cell are still comparable (rotating order), "
                 "absolute figures less so" % (max(others), statistics.median(others)))
    L.append("")
    L.append("![throughput and CPU per message relative to the epoll floor](latest.png)")
    L.append("")
    # targets
    L.append("## Targets (issue 5)")
    L.append("")
    L.append("| target | figure | holds |")
    L.append("| --- | --- | --- |")
    for t in meta.get("targets", []):
        L.append("| %s | %s | %s |" % (t["target"], t["figure"], t["holds"]))
    L.append("")
    L.append("## Throughput, latency, CPU per message")
    L.append("")
    L.append("| cell | server | msgs/s | MB/s | p50 µs | p99 µs | p99.9 µs | srv µs/msg | srv cores | "
             "cli cores | other cores | VmHWM kB | ×eddy msgs/s | ×eddy µs/msg | errors |")
    L.append("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for c in cells:
        name = cell_name(c["cell"])
        if c.get("skipped"):
            L.append("| %s | *skipped: %s* | | | | | | | | | | | | | |" % (name, c["skipped"]))
            continue
        e = c["servers"].get("eddy", {}).get("summary", {})
        for sname in servers:
            if sname not in c["servers"]:
                continue
            s = c["servers"][sname]["summary"]
            rm = ratio(e.get("msgs_per_s"), s.get("msgs_per_s")) if sname != "eddy" else None
            rc = ratio(e.get("cpu_us_per_msg"), s.get("cpu_us_per_msg")) if sname != "eddy" else None
            L.append("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
                name, LABEL[sname], fmt(s.get("msgs_per_s")), fmt(s.get("mb_per_s"), "%.1f"),
                fmt(s.get("p50_us"), "%.0f"), fmt(s.get("p99_us"), "%.0f"), fmt(s.get("p999_us"), "%.0f"),
                fmt(s.get("cpu_us_per_msg"), "%.3f"), fmt(s.get("server_cores"), "%.2f"),
                fmt(s.get("client_cores"), "%.2f"), fmt(s.get("other_cores"), "%.2f"),
                fmt(s.get("vmhwm_kb"), "%d"),
                fmt(rm, "%.2f") if sname != "eddy" else "", fmt(rc, "%.2f") if sname != "eddy" else "",
                "%d%s" % (s.get("errors", 0), " (%d runs failed)" % s["failed_runs"] if s.get("failed_runs") else "")))
            name = ""
    L.append("")
    scal = meta.get("scaling")
    if scal:
        L.append("## 2 workers vs 1")
        L.append("")
        L.append("| cell | server | msgs/s 1 worker | msgs/s 2 workers | factor |")
        L.append("| --- | --- | ---: | ---: | ---: |")
        for row in scal:
            L.append("| %s | %s | %s | %s | %s |" % (row["cell"], LABEL[row["server"]], fmt(row["w1"]),
                                                   fmt(row["w2"]), fmt(row["factor"], "%.2f")))
        L.append("")
        L.append("The two cells of a row run one after the other (about half a minute apart). "
                 "On a 2-CPU machine the server's workers share both CPUs with eddy-load's "
                 "threads (2 with 2 workers) and with the kernel's loopback TCP work, charged to "
                 "whichever side sends: a second worker can only take CPU from the client, so "
                 "on a quiet machine a factor near 1 is the ceiling, not a scaling defect. "
                 "When other processes keep the CPUs busy (see `other cores`), a server with "
                 "two threads and a client with two also get a larger share of the CPUs from "
                 "the scheduler than one and one do, and the factor measures that competition "
                 "rather than eddy.")
        L.append("")
    if idle:
        L.append("## Memory per idle connection (%d idle connections, 1 worker)" % IDLE_CONNS)
        L.append("")
        L.append("| server | RSS bytes / connection |")
        L.append("| --- | ---: |")
        for sname in servers:
            if sname in idle:
                L.append("| %s | %s |" % (LABEL[sname], fmt(idle[sname]["bytes_per_conn"], "%.1f")))
        L.append("")
        L.append("RSS delta ÷ connections, the server's VmRSS before connecting and with every "
                 "connection open; median of %d fresh servers. Kernel socket memory is not in it." %
                 meta["idle_reps"])
        L.append("")
    with open(path, "w") as f:
        f.write("\n".join(L))


# Okabe & Ito's colour-blind-safe palette; the floor, the reference, in black.
COLOUR = {
    "eddy": 0xD55E00,      # vermillion
    "epoll": 0x000000,     # black
    "libevent": 0x56B4E9,  # sky blue
    "libuv": 0x009E73,     # bluish green
    "libev": 0xCC79A7,     # reddish purple
    "uring": 0x0072B2,     # blue
}


def spread(runs, get, summary=None, key=None):
    """(median, min, max) of get(run) over the runs that did not fail; with
    no runs (results without per-run data), the summary's median and, when
    it has them, its KEY_min/KEY_max, else the median for both ends."""
    xs = []
    for r in runs or []:
        if "failed" in r:
            continue
        try:
            v = get(r)
        except (KeyError, TypeError):
            continue
        if v is not None and v >= 0:
            xs.append(v)
    if xs:
        return statistics.median(xs), min(xs), max(xs)
    m = (summary or {}).get(key) if key else None
    if m is None:
        return None
    return m, summary.get(key + "_min", m), summary.get(key + "_max", m)


def headline(cells):
    """The cells the plot shows: the issue's targets (QUICK_CELLS) that were
    measured, else (a --cells run) the first four measured cells."""
    done = [c for c in cells if not c.get("skipped")]
    head = [c for q in QUICK_CELLS for c in done if tuple(c["cell"]) == q]
    return head or done[:4]


def plot_rows(cells, idle, servers):
    """What latest.png shows, as data: per headline cell a row of two
    panels, msgs/s and the server's CPU per message, each bar a server's
    median over the repetitions divided by the reference server's median
    (the epoll floor, else the first server), its whisker the min-max over
    the repetitions on the same scale, its text the ratio and the median
    itself; then a row with the idle memory per connection in bytes.
    Returns (reference, rows), a row being (title, [panel, ...])."""
    ref = "epoll" if "epoll" in servers else servers[0]
    metrics = [
        ("msgs_per_s", lambda r: r["msgs_per_s"], fmt_rate),
        ("cpu_us_per_msg", lambda r: r["server"]["cpu_us_per_msg"],
         lambda v: "%.2f µs" % v if v < 10 else "%.1f µs" % v),
    ]
    rows = []
    for c in headline(cells):
        panels = []
        for key, get, unit in metrics:
            got = {}
            for sname in servers:
                sv = c["servers"].get(sname)
                if sv:
                    got[sname] = spread(sv.get("runs"), get, sv.get("summary"), key)
            base = got.get(ref)
            if not base or not base[0]:
                break
            panels.append({"ref": 1.0, "bars": [
                (n, m / base[0], lo / base[0], hi / base[0], "%.2f×  %s" % (m / base[0], unit(m)))
                for n, (m, lo, hi) in ((n, got[n]) for n in servers if got.get(n))]})
        if len(panels) == len(metrics):
            rows.append((cell_name(c["cell"]), panels))
    bars = []
    for sname in servers:
        x = (idle or {}).get(sname)
        got = x and spread(x.get("runs"), lambda r: None if r["errors"]["total"] else r["server"]["rss_bytes_per_conn"],
                           {"b": x.get("bytes_per_conn")}, "b")
        if got:
            bars.append((sname, got[0], got[1], got[2], "%.0f B" % got[0]))
    if bars:
        rows.append(("RSS per idle connection, bytes, {:,} connections (lower is better; target ≤ 128)".format(IDLE_CONNS),
                     [{"ref": 128.0, "bars": bars}]))
    return ref, rows


def fmt_rate(v):
    if v >= 1e6:
        return "%.2f M/s" % (v / 1e6)
    if v >= 1e3:
        return "%.0f k/s" % (v / 1e3)
    return "%.0f /s" % v


def gp_str(s):
    """A gnuplot double-quoted string."""
    return '"%s"' % s.replace("\\", "\\\\").replace('"', '\\"')


def write_plot(path, tmpdir, meta, cells, idle, servers):
    """latest.png, readable at README width (880 px, ~800 on a page): the
    rows of plot_rows() stacked, one horizontal bar per server with its
    whisker and, right-aligned, its ratio and absolute figure; a dashed
    line at the reference; one x scale per column.  Returns False when
    there is nothing to plot or gnuplot failed."""
    ref, rows = plot_rows(cells, idle, servers)
    if not rows:
        return False
    W, bar, head, rowhead, ticks, gap, foot, ylab = 880, 21, 58, 30, 24, 12, 40, 92
    heights = [rowhead + len(panels[0]["bars"]) * bar + ticks + gap for _, panels in rows]
    H = head + sum(heights) + foot
    # one x range per column of the ratio rows; the labels take the right part
    cols = {}
    for _, panels in rows:
        if len(panels) > 1:
            for j, p in enumerate(panels):
                cols[j] = max(cols.get(j, 0), p["ref"], max(b[3] for b in p["bars"]))

    def sy(px):  # pixels from the top -> screen coordinate
        return 1 - float(px) / H

    gp = ["set terminal pngcairo size %d,%d font 'sans,11' noenhanced" % (W, H),
          "set encoding utf8",
          "set output %s" % gp_str(path),
          "set multiplot",
          "set style fill solid 0.9 noborder",
          "set grid xtics lc rgb '#dddddd'",
          "set border 3",
          "set xtics nomirror out font 'sans,10'",
          "set ytics nomirror scale 0",
          "set key off"]
    labels = [(0.5, 16, "center", "sans,13", "eddy and its peers: each bar ÷ the %s (1.00)" % LABEL[ref]),
              (0.25, 42, "center", "sans,11", "msgs/s (higher is better)"),
              (0.75, 42, "center", "sans,11", "server CPU per message (lower is better)"),
              (0.01, H - 26, "left", "sans,9", "bar: median of %d repetitions ÷ the %s's median; whisker: their "
               "min–max; text: the ratio and the median itself" % (meta["reps"], LABEL[ref])),
              (0.01, H - 10, "left", "sans,9", "%s, commit %s, %s" % (meta["date"], meta["commit"],
                                                                     meta["command"]))]
    y = head
    for (title, panels), h in zip(rows, heights):
        labels.append((0.01, y + 12, "left", "sans,11:Bold", title))
        top, bottom = y + rowhead, y + h - ticks - gap
        for j, p in enumerate(panels):
            bars, n = p["bars"], len(p["bars"])
            x0, x1 = float(j) / len(panels), float(j + 1) / len(panels)
            xmax = 1.75 * (cols[j] if len(panels) > 1 else max(p["ref"], max(b[3] for b in bars)))
            block = "$d%d_%d" % (len(gp), j)
            gp.append("%s << EOD" % block)
            for k, (sname, m, lo, hi, text) in enumerate(bars):
                gp.append("%d %.6g %.6g %.6g %d %s" % (n - 1 - k, m, lo, hi, COLOUR.get(sname, 0x0072B2),
                                                       gp_str(text)))
            gp.append("EOD")
            gp += ["set lmargin at screen %f" % (x0 + float(ylab) / W),
                   "set rmargin at screen %f" % (x1 - 12.0 / W),
                   "set tmargin at screen %f" % sy(top),
                   "set bmargin at screen %f" % sy(bottom),
                   "set xrange [0:%g]" % xmax,
                   "set yrange [-0.6:%f]" % (n - 0.4),
                   "set ytics (%s)" % ", ".join("%s %d" % (gp_str(LABEL.get(b[0], b[0])), n - 1 - k)
                                                 for k, b in enumerate(bars)),
                   "set arrow 1 from first %g, graph 0 to first %g, graph 1 nohead dt 2 lw 1.5 lc rgb '#555555'"
                   % (p["ref"], p["ref"]),
                   "plot %s using (0):1:(0):2:($1-0.36):($1+0.36):5 with boxxyerror lc rgb variable, "
                   "'' using 2:1:3:4 with xerrorbars lc rgb 'black' lw 1.2 pt 7 ps 0.35, "
                   "'' using (%g):1:6 with labels right font 'sans,10'" % (block, xmax * 0.995)]
        y += h
    # the titles last, on screen coordinates over everything
    gp += ["unset arrow 1", "unset border", "unset xtics", "unset ytics", "unset grid",
           "set lmargin at screen 0", "set rmargin at screen 1", "set tmargin at screen 1", "set bmargin at screen 0"]
    for i, (x, px, just, font, text) in enumerate(labels):
        gp.append("set label %d %s at screen %f, screen %f %s font '%s'" % (i + 1, gp_str(text), x, sy(px), just, font))
    gp += ["set xrange [0:1]", "set yrange [0:1]", "plot NaN notitle", "unset multiplot"]
    script = os.path.join(tmpdir, "plot.gp")
    with open(script, "w") as fh:
        fh.write("\n".join(gp) + "\n")
    try:
        r = subprocess.run(["gnuplot", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           timeout=60)
    except OSError as e:
        log("bench: gnuplot: %s" % e)
        return False
    if r.returncode != 0:
        log("bench: gnuplot failed: %s" % r.stderr.strip()[-500:])
        return False
    return True


def evaluate_targets(cells, idle):
    """The issue's targets, each as the figure it rests on."""
    by = {tuple(c["cell"]): c for c in cells if not c.get("skipped")}
    T = []

    def s(cell, srv, key):
        c = by.get(cell)
        if not c or srv not in c["servers"]:
            return None
        return c["servers"][srv]["summary"].get(key)

    def add(target, value, op, bound, what):
        if value is None:
            T.append({"target": target, "figure": "not measured", "holds": "-", "value": None})
            return
        ok = value >= bound if op == ">=" else value <= bound
        T.append({"target": target, "figure": "%s = %.2f" % (what, value), "holds": "yes" if ok else "**no**",
                  "value": value, "bound": bound, "op": op})

    c = (64, 64, 1, 1)
    add("64 conns 64 B d1: eddy msgs/s ≥ 1.0× floor",
        ratio(s(c, "eddy", "msgs_per_s"), s(c, "epoll", "msgs_per_s")), ">=", 1.0, "eddy/floor")
    add("64 conns 64 B d1: eddy CPU/msg ≤ 1.05× floor",
        ratio(s(c, "eddy", "cpu_us_per_msg"), s(c, "epoll", "cpu_us_per_msg")), "<=", 1.05, "eddy/floor")
    add("64 conns 64 B d1: eddy ≥ 1.15× libevent",
        ratio(s(c, "eddy", "msgs_per_s"), s(c, "libevent", "msgs_per_s")), ">=", 1.15, "eddy/libevent")
    for p in ("libuv", "libev"):
        add("64 conns 64 B d1: eddy ≥ 1.0× %s" % p,
            ratio(s(c, "eddy", "msgs_per_s"), s(c, p, "msgs_per_s")), ">=", 1.0, "eddy/%s" % p)
    c = (1000, 4096, 1, 1)
    for p in ("epoll", "libevent", "libuv", "libev"):
        add("1000 conns 4 KiB: eddy ≥ 1.0× %s" % LABEL[p],
            ratio(s(c, "eddy", "msgs_per_s"), s(c, p, "msgs_per_s")), ">=", 1.0, "eddy/%s" % LABEL[p])
    for c in sorted(k for k in by if k[2] == 16 and k[3] == 1):
        add("%s: eddy ≥ 1.0× floor" % cell_name(c),
            ratio(s(c, "eddy", "msgs_per_s"), s(c, "epoll", "msgs_per_s")), ">=", 1.0, "eddy/floor")
    if idle and "eddy" in idle:
        add("10,000 idle conns: eddy ≤ 128 B/conn", idle["eddy"]["bytes_per_conn"], "<=", 128, "bytes/conn")
    return T


def check_client(a, tmpdir):
    """Is eddy-load the bottleneck?  Two tests against the floor (1 worker,
    64 conns, 64 B, depth 1): (1) make the client slower on purpose by
    --spin NS per reply and see whether throughput falls at once (client
    bound) or only once the spin eats the client's headroom; (2) one
    eddy-load process against two at once with half the connections each."""
    spins = [0, 1000, 2000, 4000, 8000]
    cell = ["-c", 64, "-s", 64, "-d", 1, "-D", a.duration, "-w", a.warmup] + a.engine_args
    pin_srv, pin_cli = ("0", "1") if a.pin else (None, None)
    p, port = start_server("epoll", a.build, 1, tmpdir, pin_srv)
    out = {"spin": {}, "procs": {}, "engines": {}}
    try:
        # 0. the two engines of eddy-load, alternating
        eng = {"epoll": [], "uring": []}
        for rep in range(a.reps):
            for e in (("epoll", "uring") if rep % 2 == 0 else ("uring", "epoll")):
                argv = ["-c", 64, "-s", 64, "-d", 1, "-D", a.duration, "-w", a.warmup, "-p", port,
                        "--pid", p.pid] + (["--uring"] if e == "uring" else [])
                r = run_load(a.load, argv, timeout=60, cpus=pin_cli)
                if "failed" in r:
                    continue
                eng[e].append(r)
                log("bench: check: client on %-5s %8.0f msgs/s  srv %.2f cli %.2f other %.2f cores" %
                    (e, r["msgs_per_s"], r["server"]["cpu_cores"], r["client_cpu_cores"], r["other_cpu_cores"]))
        for e, rs in eng.items():
            if rs:
                out["engines"][e] = {
                    "msgs_per_s": med([r["msgs_per_s"] for r in rs]),
                    "server_cores": med([r["server"]["cpu_cores"] for r in rs]),
                    "client_cores": med([r["client_cpu_cores"] for r in rs]),
                    "other_cores": med([r["other_cpu_cores"] for r in rs]),
                    "server_us_per_msg": med([r["server"]["cpu_us_per_msg"] for r in rs]),
                    "client_us_per_msg": med([r["client_cpu_cores"] * r["duration_s"] * 1e6 / max(r["msgs"], 1)
                                              for r in rs]),
                }
        runs = {sp: [] for sp in spins}
        for rep in range(a.reps):
            order = spins if rep % 2 == 0 else spins[::-1]
            for sp in order:
                r = run_load(a.load, cell + ["-p", port, "--pid", p.pid, "--spin", sp], timeout=60, cpus=pin_cli)
                if "failed" in r:
                    log("bench: check: spin %d failed: %s" % (sp, r["failed"]))
                    continue
                runs[sp].append(r)
                log("bench: check: spin %5d ns  %8.0f msgs/s  srv %.2f cli %.2f other %.2f cores" %
                    (sp, r["msgs_per_s"], r["server"]["cpu_cores"], r["client_cpu_cores"], r["other_cpu_cores"]))
        for sp in spins:
            rs = runs[sp]
            if not rs:
                continue
            out["spin"][sp] = {
                "msgs_per_s": med([r["msgs_per_s"] for r in rs]),
                "server_cores": med([r["server"]["cpu_cores"] for r in rs]),
                "client_cores": med([r["client_cpu_cores"] for r in rs]),
                "other_cores": med([r["other_cpu_cores"] for r in rs]),
                "server_us_per_msg": med([r["server"]["cpu_us_per_msg"] for r in rs]),
                "client_us_per_msg": med([r["client_cpu_cores"] * r["duration_s"] * 1e6 / max(r["msgs"], 1)
                                          for r in rs]),
            }
        both = {1: [], 2: []}
        for rep in range(a.reps):
            for n in ((1, 2) if rep % 2 == 0 else (2, 1)):
                conns = 64 // n
                argv = [a.load, "--json", "-q", "-c", str(conns), "-s", "64", "-d", "1", "-D", str(a.duration),
                        "-w", str(a.warmup), "-p", str(port), "--pid", str(p.pid)] + a.engine_args
                if pin_cli:
                    argv = ["taskset", "-c", pin_cli] + argv
                ps = [subprocess.Popen(argv, stdout=subprocess.PIPE, text=True) for _ in range(n)]
                rs = []
                for q in ps:
                    o, _ = q.communicate(timeout=60)
                    try:
                        rs.append(json.loads(o))
                    except ValueError:
                        pass
                if len(rs) != n:
                    continue
                msgs = sum(r["msgs_per_s"] for r in rs)
                srv = statistics.mean(r["server"]["cpu_cores"] for r in rs)
                both[n].append({"msgs_per_s": msgs, "server_cores": srv,
                                "client_cores": sum(r["client_cpu_cores"] for r in rs),
                                "other_cores": statistics.mean(r["other_cpu_cores"] for r in rs)})
                log("bench: check: %d client process%s  %8.0f msgs/s  srv %.2f cores" %
                    (n, "" if n == 1 else "es", msgs, srv))
        for n in (1, 2):
            if both[n]:
                out["procs"][n] = {k: med([x[k] for x in both[n]]) for k in both[n][0]}
    finally:
        stop_server(p)
    L = ["# Is eddy-load the bottleneck?", "",
         "- command: `%s`" % a.command,
         "- date: %s" % datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
         "- server: the epoll floor, 1 worker; load: 64 connections, 64 B, depth 1; "
         "%d repetitions, alternating; medians; tests 1 and 2 with eddy-load on %s; %s" % (
             a.reps, a.client, "server pinned to CPU 0, eddy-load to CPU 1 (test 2: both clients on CPU 1)"
             if a.pin else "nothing pinned"), "",
         "## 0. eddy-load's two engines: epoll (a read and a writev per message) and io_uring "
         "(`--uring`: multishot recv, one io_uring_enter per batch)", "",
         "| client engine | msgs/s | server cores | client cores | other cores | server µs/msg | client µs/msg | client ÷ server CPU per msg |",
         "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for e in ("epoll", "uring"):
        x = out["engines"].get(e)
        if x:
            L.append("| %s | %.0f | %.2f | %.2f | %.2f | %.3f | %.3f | %s |" % (
                e, x["msgs_per_s"], x["server_cores"], x["client_cores"], x["other_cores"],
                x["server_us_per_msg"], x["client_us_per_msg"],
                fmt(ratio(x["client_us_per_msg"], x["server_us_per_msg"]), "%.2f")))
    L += ["",
         "## 1. A client slowed down on purpose (`eddy-load --spin NS`: NS of CPU burnt per reply)", "",
         "| spin ns/reply | msgs/s | vs no spin | server cores | client cores | other cores | server µs/msg | client µs/msg |",
         "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    base = out["spin"].get(0, {}).get("msgs_per_s")
    for sp in spins:
        x = out["spin"].get(sp)
        if not x:
            continue
        L.append("| %d | %.0f | %s | %.2f | %.2f | %.2f | %.3f | %.3f |" % (
            sp, x["msgs_per_s"], fmt(ratio(x["msgs_per_s"], base), "%.2f"), x["server_cores"],
            x["client_cores"], x["other_cores"], x["server_us_per_msg"], x["client_us_per_msg"]))
    L += ["", "## 2. One eddy-load process against two at once (32 connections each)", "",
          "| client processes | msgs/s (sum) | server cores | client cores (sum) | other cores |",
          "| ---: | ---: | ---: | ---: | ---: |"]
    for n in (1, 2):
        x = out["procs"].get(n)
        if x:
            L.append("| %d | %.0f | %.2f | %.2f | %.2f |" % (n, x["msgs_per_s"], x["server_cores"],
                                                            x["client_cores"], x["other_cores"]))
    with open(os.path.join(a.out, "client-check.md"), "w") as f:
        f.write("\n".join(L) + "\n")
    with open(os.path.join(a.out, "client-check.json"), "w") as f:
        json.dump(out, f, indent=1)
    log("bench: wrote %s/client-check.md" % a.out)
    return 0


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", help="build directory (with eddyd and bench/); not needed with --from")
    ap.add_argument("--out", metavar="DIR",
                    help="results folder (default: a fresh bench/results/run-YYYYmmdd-HHMMSS, UTC)")
    ap.add_argument("--publish", action="store_true",
                    help="write the committed bench/results/latest.* (or client-check.*, micro.json)")
    ap.add_argument("--from", dest="from_json", metavar="FILE",
                    help="measure nothing: write latest.{json,md,png} again from FILE, an earlier latest.json")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--micro", action="store_true",
                    help="also run the Google Benchmark harness (BUILD/bench/eddy-bench) into OUT/micro.json")
    ap.add_argument("--reps", type=int)
    ap.add_argument("--duration", type=float)
    ap.add_argument("--warmup", type=float)
    ap.add_argument("--servers", help="comma-separated subset of %s" % ",".join(SERVERS))
    ap.add_argument("--client", choices=["epoll", "uring"], default=DEFAULT_CLIENT,
                    help="eddy-load's engine (default %(default)s)")
    ap.add_argument("--pin", action="store_true",
                    help="1-worker, 1-thread cells: server on CPU 0, eddy-load on CPU 1")
    ap.add_argument("--cells", help="only these cells: CONNS,SIZE,DEPTH,WORKERS[;...], e.g. 64,64,1,1")
    ap.add_argument("--no-idle", action="store_true")
    ap.add_argument("--check-client", action="store_true",
                    help="only test whether eddy-load is the bottleneck (writes client-check.md)")
    ap.add_argument("--command", default="scripts/bench", help="the command line to record")
    a = ap.parse_args(argv)
    if a.publish and a.out:
        ap.error("--out and --publish exclude each other")
    if not a.build and not a.from_json:
        ap.error("--build DIR is needed to measure")
    return a


def write_results(out, meta, cells, idle, servers):
    """OUT/latest.json (every run), latest.md and latest.png; the plot's
    script and data go under OUT/tmp/.  Returns the report's path."""
    tmpdir = os.path.join(out, "tmp")
    os.makedirs(tmpdir, exist_ok=True)
    with open(os.path.join(out, "latest.json"), "w") as f:
        json.dump({"meta": meta, "cells": cells, "idle": idle}, f, indent=1)
    md = os.path.join(out, "latest.md")
    write_md(md, meta, cells, idle, servers)
    if not write_plot(os.path.join(out, "latest.png"), tmpdir, meta, cells, idle, servers):
        log("bench: no plot written")
    return md


def run_micro(a, out):
    """The Google Benchmark harness into OUT/micro.json; False if it failed."""
    exe = os.path.join(a.build, "bench", "eddy-bench")
    if not os.access(exe, os.X_OK):
        log("bench: %s is missing: no micro benchmarks" % exe)
        return False
    log("bench: Google Benchmark harness")
    r = subprocess.run([exe, "--benchmark_min_time=0.2", "--benchmark_out=%s" % os.path.join(out, "micro.json"),
                        "--benchmark_out_format=json"], stdout=sys.stderr)
    return r.returncode == 0


def main(argv=None):
    a = parse_args(argv)
    data = None
    if a.from_json:
        # read before choosing the folder: --from bench/results/latest.json
        # --publish writes that very file again
        with open(a.from_json) as f:
            data = json.load(f)
    try:
        out = results_dir(a.out, a.publish)
    except (ValueError, OSError) as e:
        sys.exit("bench: %s" % e)
    a.out = out
    if data is not None:
        meta = data["meta"]
        write_results(out, meta, data["cells"], data.get("idle") or {}, meta.get("servers") or SERVERS)
        log("bench: wrote %s/latest.{md,json,png} from %s" % (out, a.from_json))
        return 0

    prof = dict(FULL)
    if a.quick:
        prof.update(QUICK)
    for k in ("reps", "duration", "warmup"):
        if getattr(a, k) is None:
            setattr(a, k, prof[k])
    a.idle_reps = prof["idle_reps"]
    a.idle_warmup = prof["idle_warmup"]
    a.settle = prof["settle"]
    a.engine_args = ["--uring"] if a.client == "uring" else []
    a.load = os.path.join(a.build, "bench", "eddy-load")
    if not os.access(a.load, os.X_OK):
        sys.exit("bench: %s is missing: build with -DEDDY_BENCH=ON" % a.load)
    want = a.servers.split(",") if a.servers else SERVERS
    servers = [s for s in SERVERS if s in want and available(s, a.build)]
    missing = [s for s in want if s not in servers]
    if missing:
        log("bench: not built, left out: %s" % ", ".join(missing))
    if not servers:
        sys.exit("bench: no server to measure")
    log("bench: writing to %s" % out)

    tmpdir = os.path.join(out, "tmp")
    os.makedirs(tmpdir, exist_ok=True)
    if a.check_client:
        try:
            rc = check_client(a, tmpdir)
        finally:
            kill_all()
        if a.micro and not run_micro(a, out):
            rc = 1
        with open(os.path.join(out, "client-check.md")) as f:
            sys.stdout.write(f.read())
        return rc

    if a.cells:
        try:
            matrix = [tuple(int(x) for x in c.split(",")) for c in a.cells.split(";") if c.strip()]
            assert all(len(c) == 4 and min(c) > 0 for c in matrix)
        except (ValueError, AssertionError):
            sys.exit("bench: --cells wants CONNS,SIZE,DEPTH,WORKERS[;...]")
    elif a.quick:
        matrix = QUICK_CELLS
    else:
        # workers innermost: the 1- and 2-worker cells of a load run back to
        # back, so that their ratio is not the machine's drift over minutes
        matrix = [(c, s, d, w) for c in prof["conns"] for s in prof["sizes"] for d in prof["depths"]
                  for w in prof["workers"]]

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(130))
    t0 = time.monotonic()
    loadavg = " ".join(open("/proc/loadavg").read().split()[:3])
    measured = [c for c in matrix if c[0] * c[2] * c[1] <= MAX_IN_FLIGHT]
    plan = sum(sum(cell_plan(c, a)) for c in measured) * a.reps * len(servers)
    if not a.no_idle:
        plan += idle_plan(a) * a.idle_reps * len(servers)
    progress = Progress(plan)
    cells = []
    try:
        for cell in matrix:
            conns, size, depth, workers = cell
            if cell not in measured:
                cells.append({"cell": list(cell), "skipped": "%d MiB in flight > %d MiB" %
                              (conns * depth * size >> 20, MAX_IN_FLIGHT >> 20)})
                continue
            where = "[%d/%d]" % (measured.index(cell) + 1, len(measured))
            res = run_cell(cell, servers, a, tmpdir, progress, where)
            cells.append({"cell": list(cell), "servers": res})
        idle = {}
        if not a.no_idle:
            idle = run_idle(servers, a, tmpdir, progress)
    finally:
        kill_all()

    def sh(cmd):
        try:
            return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                                  timeout=10).stdout.strip()
        except Exception:
            return ""

    cpu = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    meta = {
        "command": a.command,
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": sh(["git", "rev-parse", "--short", "HEAD"]) or "unknown",
        "cpu": cpu,
        "nproc": os.cpu_count(),
        "kernel": platform.release(),
        "reps": a.reps,
        "warmup": a.warmup,
        "duration": a.duration,
        "idle_reps": a.idle_reps,
        "client": a.client,
        "pinned": a.pin,
        "servers": servers,
        "elapsed_s": round(time.monotonic() - t0, 1),
        "loadavg": loadavg,
    }
    # 2 workers vs 1
    scal = []
    by = {tuple(c["cell"]): c for c in cells if not c.get("skipped")}
    for (conns, size, depth, workers), c in sorted(by.items()):
        if workers != 1 or conns != 1000:
            continue
        c2 = by.get((conns, size, depth, 2))
        if not c2:
            continue
        for sname in servers:
            w1 = c["servers"].get(sname, {}).get("summary", {}).get("msgs_per_s")
            w2 = c2["servers"].get(sname, {}).get("summary", {}).get("msgs_per_s")
            scal.append({"cell": cell_name((conns, size, depth, 1)).rsplit(",", 1)[0], "server": sname,
                         "w1": w1, "w2": w2, "factor": ratio(w2, w1)})
    meta["scaling"] = scal
    meta["targets"] = evaluate_targets(cells, idle)

    md = write_results(out, meta, cells, idle, servers)
    rc = 0
    if a.micro and not run_micro(a, out):
        rc = 1
    with open(md) as f:
        sys.stdout.write(f.read())
    log("bench: done in %.0f s: %s/latest.{md,json,png}" % (time.monotonic() - t0, out))
    errors = sum(c["servers"][s]["summary"].get("errors", 0) + c["servers"][s]["summary"].get("failed_runs", 0)
                 for c in cells if not c.get("skipped") for s in c["servers"])
    if errors:
        log("bench: %d errors or failed runs: see latest.json" % errors)
        rc = 1
    return rc


if __name__ == "__main__":
    try:
        sys.exit(main())
    finally:
        kill_all()
