#!/usr/bin/env python3
"""Run eddy's integration groups under fault injection or valgrind memcheck.

    run.py --eddyd build/eddyd --shim build/tests/faultinject/faultinject.so MODE [GROUP...]

MODE
  integration  the groups below under the shim with lossless faults only:
               EINTR on socket calls and epoll_wait, transient accept4
               failures.  A correct eddyd loses nothing to these, so the
               groups' own checks apply unchanged: every connection gets
               every byte, in order, eddyd exits 0, no fd leaks.
  lossy        connection resets (every Nth accepted connection's first
               read fails with ECONNRESET) and ENOMEM from malloc on the
               worker threads, on top of the lossless faults.  Connections
               hit by a fault may close; every reply byte any client gets
               must still be right and in order, every other connection
               gets everything, eddyd stays up, ends with no extra fd and
               exits 0.  Closed connections are bounded by the injected
               fault count.
  memcheck     the groups under valgrind memcheck (EDDY_TEST_WRAP):
               0 errors, 0 bytes definitely lost (--error-exitcode=99 turns
               either into exit status 99, which the groups' "exit status
               0" check reports).

Rates can be overridden with EDDY_FI_EINTR, EDDY_FI_ACCEPT, EDDY_FI_MALLOC,
EDDY_FI_RESET and EDDY_FI_SEED in the environment.  The fault counts of
every eddyd started are summed from the shim's EDDY_FI_LOG and printed.
"""

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
INTEGRATION = os.path.join(os.path.dirname(HERE), "integration")

# group -> (script, extra unittest args): as tests/integration/CMakeLists.txt.
GROUPS = {
    "seed": ("test_seed", []),
    "concurrency_1": ("test_concurrency", ["-k", "clients_1_"]),
    "concurrency_64": ("test_concurrency", ["-k", "clients_64_"]),
    "backpressure": ("test_backpressure", []),
    "reset": ("test_reset", []),
    "half_close": ("test_half_close", []),
    "max_connections": ("test_max_connections", []),
    "signals": ("test_signals", []),
    "http": ("test_http", []),
    "resp": ("test_resp", []),
    "emfile": ("test_emfile", []),
    "proxy": ("test_proxy", []),
}

# The groups started through eddytest.Eddyd (the ops_* groups start eddyd
# through opstest.OpsEddyd, which does not honour EDDY_TEST_PRELOAD/WRAP).
FAULT_GROUPS = ["seed", "concurrency_1", "concurrency_64", "backpressure", "reset",
                "half_close", "max_connections", "signals", "emfile", "http", "resp", "proxy"]
# Under valgrind eddyd runs 20-50x slower: the groups (or tests) that keep
# their loads small.  memcheck_concurrency: 1 client x 4 KiB and 64 clients x 64 B only.
MEMCHECK_GROUPS = ["seed", "half_close", "reset", "max_connections", "memcheck_concurrency",
                   "http", "resp"]
GROUPS["memcheck_concurrency"] = ("test_concurrency", ["-k", "clients_1_4KiB", "-k", "clients_64_64B_"])

VALGRIND = ("valgrind --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite "
            "--track-fds=no -q")

DEFAULT_RATES = {
    "integration": {"EDDY_FI_EINTR": "0.05", "EDDY_FI_ACCEPT": "0.05"},
    "lossy": {"EDDY_FI_EINTR": "0.02", "EDDY_FI_ACCEPT": "0.05", "EDDY_FI_MALLOC": "0.02",
              "EDDY_FI_RESET": "7"},
}


def log(msg):
    sys.stderr.write("# %s\n" % msg)
    sys.stderr.flush()


def fault_totals(path):
    tot = {}
    runs = 0
    try:
        with open(path) as f:
            for line in f:
                if not line.startswith("faultinject "):
                    continue
                runs += 1
                for kv in line.split()[1:]:
                    k, _, v = kv.partition("=")
                    if k != "pid":
                        tot[k] = tot.get(k, 0) + int(v)
    except FileNotFoundError:
        pass
    return runs, tot


def run_groups(eddyd, groups, env):
    failed = []
    for g in groups:
        script, extra = GROUPS[g]
        cmd = [sys.executable, os.path.join(INTEGRATION, script + ".py"), eddyd] + extra
        t0 = time.monotonic()
        log("group %s: %s" % (g, " ".join(cmd[1:])))
        p = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        out = p.stdout.decode(errors="replace")
        dt = time.monotonic() - t0
        if p.returncode != 0:
            failed.append(g)
            sys.stderr.write(out[-20000:])
            log("group %s FAILED (exit %d) in %.1f s" % (g, p.returncode, dt))
        else:
            tail = [l for l in out.splitlines() if l.startswith("Ran ")]
            log("group %s ok in %.1f s (%s)" % (g, dt, tail[-1] if tail else ""))
    return failed


# ---------------------------------------------------------------------------
# lossy mode: resets and ENOMEM; only the hit connections may close
# ---------------------------------------------------------------------------

def lossy_rounds(et, d, prefix, rounds, nclients, nmsgs, size, stream0, problems):
    """Rounds of nclients connections at once; each message goes out on
    every connection before any reply is read, so eddyd holds many buffers
    (and allocates them) at the same time.  Returns (complete, closed)."""
    ok = closed = 0
    for r in range(rounds):
        live = []
        for i in range(nclients):
            stream = stream0 + r * nclients + i
            try:
                s = et.connect(d.port, timeout=30)
            except OSError as e:
                problems.append("client %d: connect: %s" % (stream, e))
                continue
            live.append((s, et.EchoChecker(prefix, stream=stream, name="client %d" % stream)))
        for m in range(nmsgs):
            sent = []
            for s, chk in live:
                try:
                    s.sendall(et.payload(size, chk.stream, m * size))
                    sent.append((s, chk))
                except OSError:
                    closed += 1        # reset by a fault before we wrote
                    s.close()
            live = []
            for s, chk in sent:
                try:
                    while not chk.complete((m + 1) * size):
                        b = s.recv(1 << 16)
                        if not b:
                            raise EOFError
                        chk.feed(b)     # raises AssertionError on a wrong byte
                    live.append((s, chk))
                except (OSError, EOFError) as e:
                    if isinstance(e, socket.timeout):
                        problems.append("%s: timeout after %d bytes" % (chk.name, chk.got))
                    closed += 1        # EOF or reset after correct bytes
                    s.close()
                except AssertionError as e:
                    problems.append(str(e))
                    s.close()
        ok += len(live)
        for s, _ in live:
            s.close()
        if not d.alive():
            problems.append("eddyd died in round %d (status %s):\n%s"
                            % (r, d.proc.returncode, d.stderr()[-4000:]))
            break
    return ok, closed


def lossy_phase(et, name, d, prefix, problems):
    base = d.fd_count()
    log("%s: eddyd pid %d on port %d, %d fds" % (name, d.pid, d.port, base))
    ok, closed = lossy_rounds(et, d, prefix, rounds=6, nclients=60, nmsgs=4, size=16 << 10,
                              stream0=0, problems=problems)
    log("%s: %d connections complete, %d closed by a fault" % (name, ok, closed))
    if d.alive():
        deadline = time.monotonic() + 30
        while d.fd_count() > base and time.monotonic() < deadline:
            time.sleep(0.1)
        if d.fd_count() > base:
            problems.append("%s: eddyd holds %d fds, %d at start" % (name, d.fd_count(), base))
        rc = d.stop()
        if rc != 0:
            problems.append("%s: eddyd exit status %s; stderr:\n%s"
                            % (name, rc, d.stderr()[-4000:]))
    if ok == 0:
        problems.append("%s: no connection completed" % name)
    return ok, closed


def lossy(eddyd, env, plugins):
    sys.path.insert(0, INTEGRATION)
    import eddytest as et
    et.EDDYD = eddyd
    et.raise_nofile()
    os.environ.update(env)
    problems = []
    ok = closed = 0
    # 1: the echo inline on two workers.
    d = et.Eddyd(workers=2)
    try:
        d.start()
        a, b = lossy_phase(et, "echo inline", d, et.DEFAULT_PREFIX, problems)
        ok, closed = ok + a, closed + b
    finally:
        d.kill()
    # 2: slow.so (delay 0) on the worker pool: input handed to pool
    # threads and replies handed back, under the same faults.
    if os.path.exists(os.path.join(plugins, "slow.so")):
        tmp = tempfile.mkdtemp(prefix="eddy-fi-")
        conf = os.path.join(tmp, "pool.conf")
        with open(conf, "w") as f:
            f.write("workers 2\npool_threads 4\nplugin_dir %s\n"
                    "listen tcp 127.0.0.1:0 {\n    handler slow\n    dispatch pool\n"
                    "    delay 0\n}\n" % plugins)
        d = et.Eddyd(listen=None, workers=None, extra=["-c", conf])
        try:
            d.start()
            a, b = lossy_phase(et, "slow on the pool", d, b"", problems)
            ok, closed = ok + a, closed + b
        finally:
            d.kill()
            shutil.rmtree(tmp, ignore_errors=True)
    else:
        log("no slow.so in %s: pool phase skipped" % plugins)
    return problems, ok, closed


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--eddyd", required=True)
    ap.add_argument("--shim", required=True)
    ap.add_argument("mode", choices=["integration", "lossy", "memcheck"])
    ap.add_argument("groups", nargs="*")
    a = ap.parse_args()
    eddyd = os.path.abspath(a.eddyd)
    shim = os.path.abspath(a.shim)
    env = dict(os.environ)
    fd, fi_log = tempfile.mkstemp(prefix="eddy-fi-", suffix=".log")
    os.close(fd)
    try:
        if a.mode == "memcheck":
            env["EDDY_TEST_WRAP"] = env.get("EDDY_MEMCHECK_WRAP", VALGRIND)
            # Generous deadlines: every test's own timeouts still bound a hang.
            failed = run_groups(eddyd, a.groups or MEMCHECK_GROUPS, env)
            if failed:
                log("FAILED under memcheck: %s" % " ".join(failed))
                return 1
            log("memcheck: all groups passed (0 errors, 0 bytes definitely lost)")
            return 0
        for k, v in DEFAULT_RATES[a.mode].items():
            env.setdefault(k, v)
        env["EDDY_TEST_PRELOAD"] = shim
        env["EDDY_FI_LOG"] = fi_log
        rates = " ".join("%s=%s" % (k, env[k]) for k in sorted(env) if k.startswith("EDDY_FI_")
                         and k != "EDDY_FI_LOG")
        log("rates: %s" % rates)
        if a.mode == "integration":
            failed = run_groups(eddyd, a.groups or FAULT_GROUPS, env)
            problems = ["group %s failed" % g for g in failed]
        else:
            problems, ok, closed = lossy(eddyd, env, os.path.join(os.path.dirname(eddyd), "plugins"))
        runs, tot = fault_totals(fi_log)
        log("injected over %d eddyd runs: %s" % (runs, " ".join(
            "%s=%d" % kv for kv in sorted(tot.items()))))
        injected = tot.get("eintr", 0) + tot.get("accept", 0) + tot.get("enomem", 0) + \
            tot.get("reset", 0)
        if runs == 0 or injected == 0:
            problems.append("the shim injected nothing (not loaded?)")
        if a.mode == "lossy" and not problems:
            hits = tot.get("reset", 0) + tot.get("enomem", 0)
            if closed > hits:
                problems.append("%d connections closed but only %d resets/ENOMEMs injected"
                                % (closed, hits))
        for p in problems:
            log("FAIL: %s" % p)
        return 1 if problems else 0
    finally:
        os.unlink(fi_log)


if __name__ == "__main__":
    sys.exit(main())
