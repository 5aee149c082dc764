#!/usr/bin/env python3
"""soak.py - drive mixed traffic at one eddyd for a while and watch it.

    python3 tests/soak/soak.py --eddyd build-soak/eddyd --duration 60 \
        [--plugins build-soak/plugins] [--out DIR | --publish]

Starts eddyd (loopback only) with a config serving echo over TCP (pure
echo) and UDP, http.so and resp.so when they are in the plugin directory,
and slow.so (delay 5ms) on the worker pool.  Then, for DURATION seconds,
client threads run:

  echo      8 connections doing ping-pong round trips (16 B - 16 KiB), every
            byte checked
  http      4 keep-alive connections doing GETs, every 50th with
            Connection: close (response checked: status, length, body)
  resp      4 connections doing SET/GET over 1,000 keys (value checked)
  udp       datagrams to the UDP echo (a lost datagram is counted, not an
            error)
  churn     connect, one round trip, close, as fast as it goes
  slow      a reader that sends 256 KiB, reads nothing for 2 s, then drains
            and checks everything
  reset     send 64 KiB, read a little, close with SO_LINGER 0 (RST)
  pool      requests to the slow handler on the pool (4 connections)

It samples eddyd's RSS (VmRSS, and its anonymous and file-backed parts),
open fds and CPU time (utime+stime) every 10 s (every 1 s when
DURATION < 120) into OUT/soak.csv, then stops the
load, waits for the fd count to return to its baseline, stops eddyd
(SIGTERM, exit 0 expected), checks that its log has no "error" line, fits
a line to RSS after warm-up (the first fifth of the run, at least 30 s
when the run is long enough) and reports the drift in % per hour, and
plots OUT/soak.png with gnuplot.  OUT is a fresh folder
bench/results/soak-YYYYmmdd-HHMMSS/ (UTC) unless --out DIR names one; only
--publish writes the committed bench/results/soak.* (bench/bench.py's
results_dir() chooses).

Exit status 1 when: a client saw a wrong byte or an unexpected failure,
the fd count did not return to its baseline, the log has an error line,
eddyd did not exit 0, or (only when DURATION >= 600) RSS drifted more
than 1% per hour.
"""

import argparse
import json
import os
import random
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "bench"))
from bench import results_dir  # noqa: E402

HOST = "127.0.0.1"
READY_RE = re.compile(r"listening on (\S+):(\d+)")


def log(msg):
    sys.stderr.write("soak: %s\n" % msg)
    sys.stderr.flush()


def free_port(kind):
    s = socket.socket(socket.AF_INET, kind)
    s.bind((HOST, 0))
    p = s.getsockname()[1]
    s.close()
    return p


def free_ports(n):
    """n ports free for TCP and UDP at once (eddyd binds them right after)."""
    ports = set()
    while len(ports) < n:
        p = free_port(socket.SOCK_STREAM)
        try:
            u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            u.bind((HOST, p))
            u.close()
        except OSError:
            continue
        ports.add(p)
    return sorted(ports)


# ---------------------------------------------------------------------------
# eddyd
# ---------------------------------------------------------------------------

class Proc:
    def __init__(self, pid):
        self.pid = pid

    def rss_parts(self):
        """(VmRSS, RssAnon, RssFile) in kB: RSS and its anonymous part
        (heap, stacks) and file-backed part (code and data pages of eddyd,
        libeddy, the plugins and libc, paged in as paths first run)."""
        got = {}
        with open("/proc/%d/status" % self.pid) as f:
            for line in f:
                key = line.split(":", 1)[0]
                if key in ("VmRSS", "RssAnon", "RssFile"):
                    got[key] = int(line.split()[1])
        return got.get("VmRSS", 0), got.get("RssAnon", 0), got.get("RssFile", 0)

    def fds(self):
        return len(os.listdir("/proc/%d/fd" % self.pid))

    def cpu(self):
        with open("/proc/%d/stat" % self.pid) as f:
            st = f.read()
        fields = st[st.rindex(")") + 2:].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# ---------------------------------------------------------------------------
# workloads: each runs until stop is set; counts ops and failures
# ---------------------------------------------------------------------------

class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.ops = {}
        self.errors = []        # unexpected failures (fail the soak)
        self.udp_lost = 0

    def op(self, name, n=1):
        with self.lock:
            self.ops[name] = self.ops.get(name, 0) + n

    def error(self, name, msg):
        with self.lock:
            if len(self.errors) < 50:
                self.errors.append("%s: %s" % (name, msg))
            self.ops["errors"] = self.ops.get("errors", 0) + 1

    def total(self):
        with self.lock:
            return sum(v for k, v in self.ops.items() if k != "errors")


def recv_exact(s, n):
    buf = bytearray()
    while len(buf) < n:
        b = s.recv(n - len(buf))
        if not b:
            raise EOFError("EOF after %d of %d bytes" % (len(buf), n))
        buf += b
    return bytes(buf)


def connect(port, timeout=10.0):
    s = socket.create_connection((HOST, port), timeout=timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def w_echo(port, stop, st, seed):
    rnd = random.Random(seed)
    while not stop.is_set():
        try:
            s = connect(port)
            try:
                for _ in range(500):
                    if stop.is_set():
                        break
                    data = rnd.randbytes(rnd.choice((16, 64, 512, 4096, 16384)))
                    s.sendall(data)
                    got = recv_exact(s, len(data))
                    if got != data:
                        st.error("echo", "reply differs from request (%d bytes)" % len(data))
                        return
                    st.op("echo")
            finally:
                s.close()
        except (OSError, EOFError) as e:
            if not stop.is_set():
                st.error("echo", repr(e))
                time.sleep(0.2)


HTTP_RESP = re.compile(rb"^HTTP/1\.1 200 OK\r\n(.*?)\r\n\r\n", re.S)


def http_read_response(s, buf):
    while True:
        m = HTTP_RESP.match(buf)
        if m:
            head = m.group(1)
            cl = re.search(rb"Content-Length: (\d+)", head)
            n = int(cl.group(1)) if cl else 0
            end = m.end() + n
            while len(buf) < end:
                b = s.recv(65536)
                if not b:
                    raise EOFError("EOF inside an HTTP body")
                buf += b
            return buf[m.end():end], head, buf[end:]
        if len(buf) > 65536 or (len(buf) >= 12 and not buf.startswith(b"HTTP/1.1 200")):
            raise ValueError("bad HTTP response: %r" % buf[:80])
        b = s.recv(65536)
        if not b:
            raise EOFError("EOF before an HTTP response")
        buf += b


def w_http(port, stop, st, seed):
    i = 0
    while not stop.is_set():
        try:
            s = connect(port)
            buf = b""
            try:
                while not stop.is_set():
                    i += 1
                    close = i % 50 == 0
                    s.sendall(b"GET /soak HTTP/1.1\r\nHost: soak\r\n"
                              + (b"Connection: close\r\n" if close else b"") + b"\r\n")
                    body, head, buf = http_read_response(s, buf)
                    if body != b"hello":
                        st.error("http", "body %r" % body[:40])
                        return
                    st.op("http")
                    if close:
                        if s.recv(16) != b"":
                            st.error("http", "bytes after a Connection: close response")
                        break
            finally:
                s.close()
        except (OSError, EOFError, ValueError) as e:
            if not stop.is_set():
                st.error("http", repr(e))
                time.sleep(0.2)


def resp_cmd(*args):
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


def resp_line(s, buf):
    while b"\r\n" not in buf:
        b = s.recv(65536)
        if not b:
            raise EOFError("EOF in a RESP reply")
        buf += b
    i = buf.index(b"\r\n")
    return buf[:i], buf[i + 2:]


def w_resp(port, stop, st, seed):
    rnd = random.Random(seed)
    while not stop.is_set():
        try:
            s = connect(port)
            buf = b""
            try:
                for _ in range(1000):
                    if stop.is_set():
                        break
                    k = b"soak:%d" % rnd.randrange(1000)
                    v = b"%s=%d" % (k, rnd.randrange(1 << 30))
                    v = v * rnd.choice((1, 4, 32))
                    s.sendall(resp_cmd(b"SET", k, v) + resp_cmd(b"GET", k))
                    line, buf = resp_line(s, buf)
                    if line != b"+OK":
                        st.error("resp", "SET reply %r" % line[:60])
                        return
                    line, buf = resp_line(s, buf)
                    if not line.startswith(b"$"):
                        st.error("resp", "GET reply %r" % line[:60])
                        return
                    n = int(line[1:])
                    while len(buf) < n + 2:
                        b = s.recv(65536)
                        if not b:
                            raise EOFError("EOF in a bulk string")
                        buf += b
                    # Another client may have set the key meanwhile: any
                    # value of this key is right, a value of another is not.
                    if not buf[:n].startswith(k + b"="):
                        st.error("resp", "GET %r returned %r" % (k, buf[:40]))
                        return
                    buf = buf[n + 2:]
                    st.op("resp")
            finally:
                s.close()
        except (OSError, EOFError, ValueError) as e:
            if not stop.is_set():
                st.error("resp", repr(e))
                time.sleep(0.2)


def w_udp(port, stop, st, seed):
    rnd = random.Random(seed)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(1.0)
    try:
        n = 0
        while not stop.is_set():
            n += 1
            data = b"%d:" % n + rnd.randbytes(rnd.choice((8, 64, 400)))
            try:
                s.sendto(data, (HOST, port))
                while True:
                    got, _ = s.recvfrom(65536)
                    if got == data:
                        break
                    # A late reply to an earlier datagram: skip it.
                st.op("udp")
            except socket.timeout:
                with st.lock:
                    st.udp_lost += 1
            except OSError as e:
                if not stop.is_set():
                    st.error("udp", repr(e))
                    time.sleep(0.2)
    finally:
        s.close()


def w_churn(port, stop, st, seed):
    while not stop.is_set():
        try:
            s = connect(port)
            try:
                s.sendall(b"churn")
                if recv_exact(s, 5) != b"churn":
                    st.error("churn", "wrong reply")
                    return
                st.op("churn")
            finally:
                s.close()
        except (OSError, EOFError) as e:
            if not stop.is_set():
                st.error("churn", repr(e))
                time.sleep(0.2)
        time.sleep(0.002)


def w_slow(port, stop, st, seed):
    rnd = random.Random(seed)
    while not stop.is_set():
        try:
            s = connect(port, timeout=30)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
            try:
                data = rnd.randbytes(256 << 10)
                # Send from a helper thread: neither side reads for a while.
                t = threading.Thread(target=s.sendall, args=(data,), daemon=True)
                t.start()
                stop.wait(2.0)
                got = recv_exact(s, len(data))
                t.join(30)
                if got != data:
                    st.error("slow", "slow reader got different bytes")
                    return
                st.op("slow")
            finally:
                s.close()
        except (OSError, EOFError) as e:
            if not stop.is_set():
                st.error("slow", repr(e))
                time.sleep(0.2)


def w_reset(port, stop, st, seed):
    rnd = random.Random(seed)
    while not stop.is_set():
        try:
            s = connect(port)
            try:
                s.sendall(rnd.randbytes(64 << 10))
                s.recv(rnd.choice((1, 1000, 30000)))
            finally:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                s.close()
            st.op("reset")
        except OSError as e:
            if not stop.is_set():
                st.error("reset", repr(e))
                time.sleep(0.2)
        time.sleep(0.02)


def w_pool(port, stop, st, seed):
    rnd = random.Random(seed)
    while not stop.is_set():
        try:
            s = connect(port)
            try:
                for _ in range(100):
                    if stop.is_set():
                        break
                    data = b"pool%d" % rnd.randrange(1 << 20)
                    s.sendall(data)
                    got = recv_exact(s, len(data))
                    if got != data:
                        st.error("pool", "reply %r to %r" % (got, data))
                        return
                    st.op("pool")
            finally:
                s.close()
        except (OSError, EOFError) as e:
            if not stop.is_set():
                st.error("pool", repr(e))
                time.sleep(0.2)


# ---------------------------------------------------------------------------
# analysis
# ---------------------------------------------------------------------------

def drift_pct_per_hour(pts):
    """The slope of a line fitted to (seconds, kB) points, in % of their
    mean per hour; None for fewer than 3 points."""
    if len(pts) < 3:
        return None
    slope, _ = linfit([x for x, _ in pts], [y for _, y in pts])
    return slope * 3600.0 / (sum(y for _, y in pts) / len(pts)) * 100.0


def linfit(xs, ys):
    n = len(xs)
    mx = sum(xs) / n
    my = sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    if sxx == 0:
        return 0.0, my
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sxx
    return slope, my - slope * mx


def plot(csv, png, duration):
    gp = shutil.which("gnuplot")
    if not gp:
        log("gnuplot not found: no plot")
        return False
    script = """
set terminal pngcairo size 1100,800 noenhanced
set output '%s'
set datafile separator ','
set key top left
set multiplot layout 3,1 title 'eddyd soak, %d s of mixed traffic'
set xlabel 'seconds'
set ylabel 'RSS (MiB)'
plot '%s' using 1:($2/1024) skip 1 with linespoints title 'VmRSS', \\
     '' using 1:($7/1024) skip 1 with lines title 'RssAnon', \\
     '' using 1:($8/1024) skip 1 with lines title 'RssFile'
set ylabel 'open fds'
plot '%s' using 1:3 skip 1 with linespoints title 'fds'
set ylabel 'CPU (%% of one core)'
plot '%s' using 1:5 skip 1 with linespoints title 'CPU'
unset multiplot
""" % (png, duration, csv, csv, csv)
    r = subprocess.run([gp], input=script.encode(), stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE)
    if r.returncode != 0 and b"pngcairo" in r.stderr:
        script = script.replace("pngcairo", "png")
        r = subprocess.run([gp], input=script.encode(), stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE)
    if r.returncode != 0:
        log("gnuplot failed: %s" % r.stderr.decode(errors="replace")[-500:])
        return False
    return True


# ---------------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--eddyd", required=True)
    ap.add_argument("--duration", type=float, required=True)
    ap.add_argument("--plugins", help="directory with http.so, resp.so, slow.so")
    ap.add_argument("--out", metavar="DIR",
                    help="results folder (default: a fresh bench/results/soak-YYYYmmdd-HHMMSS)")
    ap.add_argument("--publish", action="store_true", help="write the committed bench/results/soak.*")
    ap.add_argument("--interval", type=float, help="sampling interval (s)")
    ap.add_argument("--workers", type=int, default=2)
    a = ap.parse_args()
    duration = a.duration
    interval = a.interval or (1.0 if duration < 120 else 10.0)
    plugins = a.plugins or os.path.join(os.path.dirname(os.path.abspath(a.eddyd)), "plugins")
    have = {p: os.path.exists(os.path.join(plugins, p + ".so")) for p in ("http", "resp", "slow")}
    try:
        a.out = results_dir(a.out, a.publish, prefix="soak")
    except (ValueError, OSError) as e:
        ap.error(str(e))
    log("writing to %s" % a.out)

    ports = free_ports(5)
    p_echo, p_udp, p_http, p_resp, p_pool = ports
    conf = ["workers %d" % a.workers, "max_connections 10000", "pool_threads 4",
            "log_level info", "plugin_dir %s" % os.path.abspath(plugins),
            "listen tcp %s:%d {\n    handler echo\n    prefix \"\"\n}" % (HOST, p_echo),
            "listen udp %s:%d {\n    handler echo\n    prefix \"\"\n}" % (HOST, p_udp)]
    if have["http"]:
        conf.append("listen tcp %s:%d {\n    handler http\n}" % (HOST, p_http))
    if have["resp"]:
        conf.append("listen tcp %s:%d {\n    handler resp\n}" % (HOST, p_resp))
    if have["slow"]:
        conf.append("listen tcp %s:%d {\n    handler slow\n    dispatch pool\n    delay 5ms\n}"
                    % (HOST, p_pool))
    tmp = tempfile.mkdtemp(prefix="eddy-soak-")
    conf_path = os.path.join(tmp, "soak.conf")
    with open(conf_path, "w") as f:
        f.write("\n".join(conf) + "\n")
    log_path = os.path.join(a.out, "soak-eddyd.log")
    logf = open(log_path, "w")
    proc = subprocess.Popen([os.path.abspath(a.eddyd), "-c", conf_path], stdin=subprocess.DEVNULL,
                            stdout=logf, stderr=subprocess.STDOUT)
    failures = []
    stop = threading.Event()
    threads = []
    try:
        nlisteners = sum(1 for c in conf if c.startswith("listen"))
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with open(log_path) as f:
                ready = len(READY_RE.findall(f.read()))
            if ready >= nlisteners or proc.poll() is not None:
                break
            time.sleep(0.1)
        if proc.poll() is not None or ready < nlisteners:
            with open(log_path) as f:
                raise SystemExit("soak: eddyd did not start:\n" + f.read())
        p = Proc(proc.pid)
        log("eddyd pid %d: echo tcp %d, udp %d%s%s%s; %d s, sample every %g s"
            % (proc.pid, p_echo, p_udp,
               ", http %d" % p_http if have["http"] else " (no http.so)",
               ", resp %d" % p_resp if have["resp"] else " (no resp.so)",
               ", pool/slow %d" % p_pool if have["slow"] else " (no slow.so)",
               duration, interval))
        time.sleep(0.5)
        base_fds = p.fds()
        base_rss, base_anon, base_file = p.rss_parts()
        st = Stats()
        plan = [(w_echo, p_echo, 8), (w_udp, p_udp, 2), (w_churn, p_echo, 2),
                (w_slow, p_echo, 2), (w_reset, p_echo, 2)]
        if have["http"]:
            plan.append((w_http, p_http, 4))
        if have["resp"]:
            plan.append((w_resp, p_resp, 4))
        if have["slow"]:
            plan.append((w_pool, p_pool, 4))
        seed = 0
        for fn, port, n in plan:
            for _ in range(n):
                seed += 1
                t = threading.Thread(target=fn, args=(port, stop, st, seed), daemon=True)
                t.start()
                threads.append(t)

        csv_path = os.path.join(a.out, "soak.csv")
        rows = []  # (seconds, RSS, fds, CPU seconds, RssAnon, RssFile)
        t0 = time.monotonic()
        cpu0 = p.cpu()
        last_t, last_cpu, last_ops = 0.0, cpu0, 0
        with open(csv_path, "w") as csv:
            csv.write("seconds,rss_kib,fds,cpu_seconds,cpu_percent,ops_per_second,"
                      "rss_anon_kib,rss_file_kib\n")
            csv.write("0,%d,%d,%.2f,0,0,%d,%d\n" % (base_rss, base_fds, 0.0, base_anon, base_file))
            rows.append((0.0, base_rss, base_fds, 0.0, base_anon, base_file))
            k = 1
            while True:
                target = t0 + k * interval
                if target - t0 > duration + 1e-6:
                    break
                time.sleep(max(0.0, target - time.monotonic()))
                if proc.poll() is not None:
                    failures.append("eddyd exited during the run (status %s)" % proc.returncode)
                    break
                now = time.monotonic() - t0
                cpu = p.cpu() - cpu0
                ops = st.total()
                (rss, anon, file_), fds = p.rss_parts(), p.fds()
                pct = 100.0 * (cpu - (last_cpu - cpu0)) / max(now - last_t, 1e-9)
                rate = (ops - last_ops) / max(now - last_t, 1e-9)
                csv.write("%.1f,%d,%d,%.2f,%.1f,%.0f,%d,%d\n"
                          % (now, rss, fds, cpu, pct, rate, anon, file_))
                csv.flush()
                rows.append((now, rss, fds, cpu, anon, file_))
                last_t, last_cpu, last_ops = now, cpu + cpu0, ops
                k += 1
                if k % max(1, int(60 / interval)) == 0:
                    log("%4.0f s: RSS %d kB, %d fds, CPU %.1f s, %d ops, %d errors"
                        % (now, rss, fds, cpu, ops, st.ops.get("errors", 0)))
        # Stop the load; every client thread ends within its socket timeouts.
        stop.set()
        for t in threads:
            t.join(40)
        stuck = sum(1 for t in threads if t.is_alive())
        if stuck:
            failures.append("%d client threads did not stop" % stuck)
        time.sleep(3)
        fds_after = p.fds() if proc.poll() is None else -1
        deadline = time.monotonic() + 15
        while proc.poll() is None and fds_after > base_fds and time.monotonic() < deadline:
            time.sleep(0.2)
            fds_after = p.fds()
        rss_end, anon_end, file_end = p.rss_parts() if proc.poll() is None else (0, 0, 0)
        cpu_total = (p.cpu() - cpu0) if proc.poll() is None else 0
        if fds_after != base_fds:
            failures.append("fds after the load: %d, baseline %d" % (fds_after, base_fds))
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            rc = proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            rc = proc.wait()
            failures.append("eddyd did not exit within 30 s of SIGTERM")
        if rc != 0:
            failures.append("eddyd exit status %s" % rc)
        logf.close()
        with open(log_path) as f:
            errlines = [l.rstrip() for l in f if re.search(r"\berror\b", l, re.I)]
        if errlines:
            failures.append("%d error lines in the log, first: %s" % (len(errlines), errlines[0]))
        if st.errors:
            failures.append("%d client failures, first: %s" % (st.ops.get("errors", 0),
                                                              "; ".join(st.errors[:5])))

        # RSS drift after warm-up.
        warm = min(max(duration / 5.0, min(30.0, duration / 2.0)), 600.0)
        after_warm = [row for row in rows if row[0] >= warm]
        pts = [(row[0], row[1]) for row in after_warm]
        drift = drift_pct_per_hour(pts)
        # Also: the growth in kB after warm-up, and the slope over the last
        # half alone (a plateau after a few page-sized steps is retention,
        # e.g. a buffer pool's new high-water mark; a leak keeps climbing).
        growth = (pts[-1][1] - pts[0][1]) if pts else None
        drift_half = drift_pct_per_hour([(t, r) for t, r, *_ in rows if t >= duration / 2.0])
        # RSS in two parts, reported (the judged figure is RSS): the heap
        # and stacks, and file pages, which grow once as code paths first
        # run and which the kernel can drop at will.
        anon_pts = [(row[0], row[4]) for row in after_warm]
        anon_drift = drift_pct_per_hour(anon_pts)
        judged = duration >= 600
        if drift is not None and judged and drift > 1.0:
            failures.append("RSS drift %.2f%%/h after warm-up (limit 1%%/h)" % drift)

        png = os.path.join(a.out, "soak.png")
        plotted = plot(csv_path, png, int(duration))
        rss_vals = [r for _, r, *_ in rows]
        summary = {
            "duration_s": duration, "interval_s": interval, "warmup_s": warm,
            "rss_kib_start": base_rss, "rss_kib_after_warmup": pts[0][1] if pts else None,
            "rss_kib_max": max(rss_vals), "rss_kib_end": rss_end,
            "rss_drift_pct_per_hour": None if drift is None else round(drift, 3),
            "drift_judged": judged,
            "rss_growth_kib_after_warmup": growth,
            "rss_drift_pct_per_hour_last_half": None if drift_half is None else round(drift_half, 3),
            "rss_anon_kib_after_warmup": anon_pts[0][1] if anon_pts else None,
            "rss_anon_kib_end": anon_end,
            "rss_anon_drift_pct_per_hour": None if anon_drift is None else round(anon_drift, 3),
            "rss_file_kib_after_warmup": after_warm[0][5] if after_warm else None,
            "rss_file_kib_end": file_end,
            "fds_baseline": base_fds, "fds_max": max(f for _, _, f, *_ in rows),
            "fds_after": fds_after, "cpu_seconds": round(cpu_total, 2),
            "cpu_percent_avg": round(100.0 * cpu_total / max(duration, 1e-9), 1),
            "ops": dict(st.ops), "udp_lost": st.udp_lost, "error_lines": len(errlines),
            "exit_status": rc, "csv": csv_path, "png": png if plotted else None,
            "failures": failures,
        }
        with open(os.path.join(a.out, "soak.json"), "w") as f:
            json.dump(summary, f, indent=2)
            f.write("\n")
        log("ops: %s; UDP datagrams without reply: %d"
            % (", ".join("%s %d" % kv for kv in sorted(st.ops.items())), st.udp_lost))
        log("RSS %d kB at start, %s kB after warm-up (%.0f s), %d kB max, %d kB at end; "
            "drift %s%% per hour%s"
            % (base_rss, summary["rss_kib_after_warmup"], warm, max(rss_vals), rss_end,
               "n/a" if drift is None else "%.2f" % drift,
               "" if judged else " (reported, not judged: run < 600 s)"))
        log("RSS after warm-up: %s kB growth; drift over the last half alone %s%% per hour"
            % (growth, "n/a" if drift_half is None else "%.2f" % drift_half))
        log("of which anonymous (heap, stacks): %s kB after warm-up, %d kB at the end, drift %s%% "
            "per hour; file pages (code paged in): %s kB after warm-up, %d kB at the end"
            % (summary["rss_anon_kib_after_warmup"], anon_end,
               "n/a" if anon_drift is None else "%.2f" % anon_drift,
               summary["rss_file_kib_after_warmup"], file_end))
        log("fds: baseline %d, max %d, after the load %d; CPU %.1f s (%.1f%% of one core)"
            % (base_fds, summary["fds_max"], fds_after, cpu_total, summary["cpu_percent_avg"]))
        log("wrote %s%s, %s" % (csv_path, ", " + png if plotted else "",
                                os.path.join(a.out, "soak.json")))
        for f_ in failures:
            log("FAIL: %s" % f_)
        log("PASS" if not failures else "FAILED")
        return 1 if failures else 0
    finally:
        stop.set()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
