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
raw per-run JSON under OUT/tmp/.
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

SERVERS = ["eddy", "epoll", "libevent", "libuv", "libev"]
LABEL = {
    "eddy": "eddy",
    "epoll": "epoll floor",
    "libevent": "libevent",
    "libuv": "libuv",
    "libev": "libev",
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
           "libev": "peer-libev"}[name]
    return [os.path.join(b, exe), "--port", str(port), "--workers", str(workers)]


def available(name, build):
    return os.access(server_argv(name, build, 1, 1)[0], os.X_OK)


def start_server(name, build, workers, tmpdir, cpus=None):
    """Start a server (on the CPUs `cpus`, e.g. "0", when given), wait (at
    most 10 s) for its ready line naming the address on stderr.  Returns
    (Popen, port)."""
    for attempt in range(3):
        port = free_port()
        argv = server_argv(name, build, port, workers)
        if cpus is not None:
            argv = ["taskset", "-c", cpus] + argv
        errpath = os.path.join(tmpdir, "%s.stderr" % name)
        errf = open(errpath, "w")
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                             stderr=errf)
        errf.close()
        p.name, p.port, p.argv = name, port, argv
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


def cell_name(c):
    conns, size, depth, workers = c
    sz = "%d B" % size if size < 1024 else "%d KiB" % (size // 1024)
    return "%d conns, %s, depth %d, %d worker%s" % (conns, sz, depth, workers,
                                                  "" if workers == 1 else "s")


def run_cell(cell, servers, a, tmpdir):
    conns, size, depth, workers = cell
    threads = 1 if conns == 1 else min(2, workers)
    # 10,000 connections take a while to go round once: longer warm-up and window
    warmup = max(a.warmup, 1.0) if conns >= 10000 else a.warmup
    duration = a.duration * 2 if conns >= 10000 else a.duration
    # --pin: with one worker and one client thread, the server on CPU 0 and
    # eddy-load on CPU 1 (cells with two of either run unpinned)
    pin = a.pin and workers == 1 and threads == 1
    procs = {}
    try:
        for name in servers:
            procs[name] = start_server(name, a.build, workers, tmpdir, "0" if pin else None)
        runs = {name: [] for name in servers}
        for rep in range(a.reps):
            k = rep % len(servers)
            order = servers[k:] + servers[:k]
            if rep % 2:
                order = order[::-1]
            for name in order:
                p, port = procs[name]
                if p.poll() is not None:
                    runs[name].append({"failed": "server exited with %s" % p.returncode})
                    continue
                args = ["-c", conns, "-t", threads, "-s", size, "-d", depth, "-D", duration,
                        "-w", warmup, "-p", port, "--pid", p.pid] + a.engine_args
                r = run_load(a.load, args, timeout=warmup + duration + 60, cpus="1" if pin else None)
                r["rep"] = rep
                runs[name].append(r)
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


def run_idle(servers, a, tmpdir):
    res = {}
    for name in servers:
        vals, runs = [], []
        for rep in range(a.idle_reps):
            p, port = start_server(name, a.build, 1, tmpdir)
            try:
                time.sleep(0.1)
                r = run_load(a.load, ["--idle", IDLE_CONNS, "-w", a.idle_warmup, "-D", 0.5, "-p", port,
                                      "--pid", p.pid], timeout=90)
                runs.append(r)
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


def write_plot(path, tmpdir, meta, cells, servers):
    """Two panels: msgs/s and server CPU per message, each relative to the
    epoll floor (1.0), one cluster of bars per cell."""
    peers = [s for s in servers]
    rows = []
    for c in cells:
        if c.get("skipped") or "epoll" not in c["servers"]:
            continue
        f = c["servers"]["epoll"]["summary"]
        conns, size, depth, workers = c["cell"]
        sz = "%dB" % size if size < 1024 else "%dK" % (size // 1024)
        label = "%dc %s d%d w%d" % (conns, sz, depth, workers)
        vals = []
        for s in peers:
            sm = c["servers"].get(s, {}).get("summary", {})
            vals.append(ratio(sm.get("msgs_per_s"), f.get("msgs_per_s")))
            vals.append(ratio(sm.get("cpu_us_per_msg"), f.get("cpu_us_per_msg")))
        rows.append((label, vals))
    if not rows:
        return False
    dat = os.path.join(tmpdir, "plot.dat")
    with open(dat, "w") as fh:
        fh.write("# cell " + " ".join("%s_tp %s_cpu" % (s, s) for s in peers) + "\n")
        for label, vals in rows:
            fh.write('"%s" %s\n' % (label, " ".join("NaN" if v is None else "%.4f" % v for v in vals)))
    width = max(900, 120 + 70 * len(rows))
    title = "eddy vs peers (1.0 = epoll floor; median of %d reps)  %s  -  %s" % (
        meta["reps"], meta["date"], meta["command"])
    gp = []
    gp.append("set terminal pngcairo size %d,760 font 'sans,9'" % width)
    gp.append("set output '%s'" % path)
    gp.append("set multiplot layout 2,1 title \"%s\" font 'sans,10'" % title.replace('"', "'"))
    gp.append("set style data histogram")
    gp.append("set style histogram clustered gap 1")
    gp.append("set style fill solid 0.85 border -1")
    gp.append("set boxwidth 0.9")
    gp.append("set grid ytics")
    gp.append("set key outside right top")
    gp.append("set xtics rotate by 30 right scale 0")
    gp.append("set xrange [-0.6:%f]" % (len(rows) - 0.4))
    gp.append("set yrange [0:*]")
    gp.append("set arrow from graph 0, first 1 to graph 1, first 1 nohead dt 2 lw 1.5 front")
    gp.append("set ylabel 'msgs/s / floor (higher is better)'")
    plots = ["'%s' using %d:xtic(1) title '%s'" % (dat, 2 + 2 * i, LABEL[s]) for i, s in enumerate(peers)]
    gp.append("plot " + ", ".join(plots))
    gp.append("set ylabel 'server CPU us/msg / floor (lower is better)'")
    plots = ["'%s' using %d:xtic(1) title '%s'" % (dat, 3 + 2 * i, LABEL[s]) for i, s in enumerate(peers)]
    gp.append("plot " + ", ".join(plots))
    gp.append("unset multiplot")
    script = os.path.join(tmpdir, "plot.gp")
    with open(script, "w") as fh:
        fh.write("\n".join(gp) + "\n")
    r = subprocess.run(["gnuplot", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                       timeout=60)
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


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", required=True, help="build directory (with eddyd and bench/)")
    ap.add_argument("--out", required=True, help="results directory")
    ap.add_argument("--quick", action="store_true")
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
    a = ap.parse_args()

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

    if a.check_client:
        tmpdir = os.path.join(a.out, "tmp")
        os.makedirs(tmpdir, exist_ok=True)
        try:
            return check_client(a, tmpdir)
        finally:
            kill_all()

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

    tmpdir = os.path.join(a.out, "tmp")
    os.makedirs(tmpdir, exist_ok=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(130))
    t0 = time.monotonic()
    loadavg = " ".join(open("/proc/loadavg").read().split()[:3])
    cells = []
    try:
        for i, cell in enumerate(matrix):
            conns, size, depth, workers = cell
            if conns * depth * size > MAX_IN_FLIGHT:
                cells.append({"cell": list(cell), "skipped": "%d MiB in flight > %d MiB" %
                              (conns * depth * size >> 20, MAX_IN_FLIGHT >> 20)})
                continue
            log("bench: [%d/%d] %s  (%.0f s so far)" % (i + 1, len(matrix), cell_name(cell),
                                                       time.monotonic() - t0))
            res = run_cell(cell, servers, a, tmpdir)
            cells.append({"cell": list(cell), "servers": res})
        idle = {}
        if not a.no_idle:
            log("bench: idle connections (%d)" % IDLE_CONNS)
            idle = run_idle(servers, a, tmpdir)
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

    os.makedirs(a.out, exist_ok=True)
    with open(os.path.join(a.out, "latest.json"), "w") as f:
        json.dump({"meta": meta, "cells": cells, "idle": idle}, f, indent=1)
    write_md(os.path.join(a.out, "latest.md"), meta, cells, idle, servers)
    if not write_plot(os.path.join(a.out, "latest.png"), tmpdir, meta, cells, servers):
        log("bench: no plot written")
    log("bench: done in %.0f s: %s/latest.{md,json,png}" % (time.monotonic() - t0, a.out))
    errors = sum(c["servers"][s]["summary"].get("errors", 0) + c["servers"][s]["summary"].get("failed_runs", 0)
                 for c in cells if not c.get("skipped") for s in c["servers"])
    if errors:
        log("bench: %d errors or failed runs: see latest.json" % errors)
        return 1
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    finally:
        kill_all()
