#!/usr/bin/env python3
"""integration.examples - every config in config/ checked, each example served.

    python3 test_examples.py PATH/TO/eddyd [--source DIR] [unittest args]

- `eddyd -t -c FILE` prints `FILE: ok` and exits 0 for every file in
  config/ and config/examples/, except the ones in NOT_EDDYD (named, with
  the reason; and they must still exist, so the list cannot go stale).
- `eddyd -T -c FILE` prints every directive of the README's reference, and
  is a fixpoint: piped to `eddyd -t -c /dev/stdin` it is ok, and -T of it
  is the same text.
- Each eddyd config there is then served by the real eddyd: a copy in a
  temporary directory with every TCP/UDP address moved to port 0 (or a free
  loopback port where two blocks would name the same address) and every
  unix socket into the temporary directory; nothing else changed.  Each
  answers as its comments document:

    eddyd.conf        echo with "Received: ", several messages per connection
    seed.conf         "Received: " + one recv, then the connection closes
    lines.conf        "> " + each line, CRLF stripped, a line of 4k ok, one
                      over it: "ERR line too long (max 4096 bytes)" + close
    pool.conf         slow (100ms) echoes unchanged; the echo beside it is a
                      pure echo and answers while slow sleeps
    transports.conf   echo over TCP IPv4, TCP IPv6, UDP and a unix socket
                      (mode 0660)
    timeouts.conf     a silent client is closed by first_byte_timeout 5s; a
                      talking one is served
    ops-haproxy-backend.conf
                      PROXY v1 and v2 headers then a pure echo; no header:
                      closed; its unix stats socket answers, and
                      `eddyd --stats -c` finds it
    proxy.conf        the proxy, its upstream list on two lines, round robin
                      over the echo listeners beside it: "A: ", "B: ", "C: "
                      in the order listed, then A again

A listen address that an `upstream` line names is moved to a free port
(or the temporary directory), and the upstream line with it.

A new example config without a serving test here fails
test_every_example_is_served, so none is skipped silently.
"""

import os
import re
import socket
import stat
import struct
import sys
import time

import eddytest
import opstest
from eddytest import HOST, IO_TIMEOUT, log

SOURCE = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))

# Files in config/ and config/examples/ that are not eddyd configs.
NOT_EDDYD = {
    # HAProxy's own config (in front of two eddyd running
    # ops-haproxy-backend.conf); test_ops_haproxy.py runs it with haproxy.
    "config/examples/haproxy.cfg": "HAProxy's config, not eddyd's",
    # The systemd units and the script that writes the service at install
    # (test_ops_systemd.py checks them).
    "config/eddyd.service.in": "a systemd unit template, not an eddyd config",
    "config/eddyd.socket": "a systemd socket unit, not an eddyd config",
    "config/eddyd-units.cmake": "CMake code run by cmake --install",
}

# Every eddyd config, and the test that serves it.
SERVED = {
    "config/eddyd.conf": "test_serves_eddyd",
    "config/examples/seed.conf": "test_serves_seed",
    "config/examples/lines.conf": "test_serves_lines",
    "config/examples/pool.conf": "test_serves_pool",
    "config/examples/transports.conf": "test_serves_transports",
    "config/examples/timeouts.conf": "test_serves_timeouts",
    "config/examples/ops-haproxy-backend.conf": "test_serves_ops_haproxy_backend",
    "config/examples/proxy.conf": "test_serves_proxy",
}

LISTEN_RE = re.compile(r"^(\s*listen\s+)(tcp|udp|unix)(\s+)(\S+)(\s*\{.*)$")
UPSTREAM_RE = re.compile(r"^(\s*upstream\s+)([^#]*?)(\s*(#.*)?)$")
READY_RE = re.compile(r"info \[main\] listening on (\S+), handler (\S+), (\d+) workers?")


def config_files():
    """Every file in config/ and config/examples/, relative to SOURCE."""
    out = []
    for d in ("config", os.path.join("config", "examples")):
        for name in sorted(os.listdir(os.path.join(SOURCE, d))):
            rel = os.path.join(d, name)
            if os.path.isfile(os.path.join(SOURCE, rel)):
                out.append(rel)
    return out


def readme_directives():
    """The directive names of README.md's reference (its Directives section)."""
    with open(os.path.join(SOURCE, "README.md")) as f:
        text = f.read()
    section = text.split(README_BEGIN, 1)[1].split(README_END, 1)[0]
    return re.findall(r"(?m)^\| `([a-z_0-9]+)` \|", section)


README_BEGIN = "<!-- directives: begin -->"
README_END = "<!-- directives: end -->"


def eddyd_configs():
    return [f for f in config_files() if f not in NOT_EDDYD]


def split_ready(addr):
    """'127.0.0.1:5', '[::1]:5', 'udp:127.0.0.1:5', 'unix:/p' ->
    (transport, host or path, port or None)."""
    if addr.startswith("unix:"):
        return "unix", addr[5:], None
    transport = "tcp"
    if addr.startswith("udp:"):
        transport, addr = "udp", addr[4:]
    host, port = opstest.split_addr(addr)
    return transport, host, port


def ipv6_loopback():
    if not socket.has_ipv6:
        return False
    try:
        s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        try:
            s.bind(("::1", 0))
        finally:
            s.close()
        return True
    except OSError:
        return False


def free_port6():
    s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    try:
        s.bind(("::1", 0))
        return s.getsockname()[1]
    finally:
        s.close()


def recv_until_closed(s, timeout=IO_TIMEOUT):
    return eddytest.read_until_eof(s, timeout=timeout)


def exchange(s, data, nreply, timeout=IO_TIMEOUT):
    s.sendall(data)
    return opstest.recv_exact(s, nreply, timeout)


class Examples(opstest.OpsTestCase):

    # -- eddyd -t on every file ------------------------------------------------

    def test_every_config_passes_test_mode(self):
        for rel in NOT_EDDYD:
            self.assertTrue(os.path.isfile(os.path.join(SOURCE, rel)),
                            "NOT_EDDYD names %s, which no longer exists: update the list" % rel)
        files = eddyd_configs()
        self.assertIn("config/eddyd.conf", files)
        self.assertGreaterEqual(len([f for f in files if f.startswith("config/examples/")]), 6)
        for rel in files:
            path = os.path.join(SOURCE, rel)
            rc, out, err = eddytest.run_eddyd(["-t", "-c", path])
            self.assertEqual((rc, out.strip(), err.strip()), (0, "%s: ok" % path, ""),
                             "eddyd -t -c %s" % rel)
            # --test --config, the long forms, too.
            rc, out, err = eddytest.run_eddyd(["--test", "--config", path])
            self.assertEqual((rc, out.strip()), (0, "%s: ok" % path), err)
            log("%s: ok" % rel)
        for rel, why in sorted(NOT_EDDYD.items()):
            log("not checked with eddyd -t: %s (%s)" % (rel, why))

    # -- eddyd -T: the effective configuration, a fixpoint ----------------------

    def test_dump_is_a_fixpoint_for_every_config(self):
        # -T prints every directive of the README's reference (with its value,
        # or as a comment when it has none); the dump piped to -t is ok and
        # dumps to itself.
        names = readme_directives()
        self.assertGreaterEqual(len(names), 20)
        for rel in eddyd_configs():
            path = os.path.join(SOURCE, rel)
            rc, first, err = eddytest.run_eddyd(["-T", "-c", path])
            self.assertEqual((rc, err), (0, ""), "eddyd -T -c %s" % rel)
            for name in names:
                self.assertRegex(first, r"(?m)^\s*(# )?%s[ :]" % name,
                                 "eddyd -T -c %s does not say %s" % (rel, name))
            rc, out, err = eddytest.run_eddyd(["-t", "-c", "/dev/stdin"], stdin=first.encode())
            self.assertEqual((rc, out, err), (0, "/dev/stdin: ok\n", ""),
                             "eddyd -T -c %s | eddyd -t -c /dev/stdin" % rel)
            rc, second, err = eddytest.run_eddyd(["-T", "-c", "/dev/stdin"], stdin=first.encode())
            self.assertEqual((rc, err), (0, ""))
            self.assertEqual(second, first, "eddyd -T of eddyd -T -c %s differs" % rel)
            log("%s: -T is a fixpoint" % rel)

    def test_dump_says_the_flags_and_only_the_configuration(self):
        rc, out, err = eddytest.run_eddyd(["--dump", "-w", "1", "-p", "a \"b\"", "-l",
                                           "127.0.0.1:0"])
        self.assertEqual((rc, err), (0, ""))
        self.assertIn("\nworkers 1\n", out)
        self.assertIn("\nlisten tcp 127.0.0.1:0 {\n    handler echo\n", out)
        self.assertIn('\n    prefix "a \\"b\\""\n}\n', out)
        self.assertNotIn(": ok", out)
        # A configuration that -t refuses is not dumped.
        bad = self.write("bad.conf", "listen tcp 127.0.0.1:0 {\n    handler echo\n    prefx x\n}\n")
        rc, out, err = eddytest.run_eddyd(["-T", "-c", bad])
        self.assertEqual((rc, out), (1, ""))
        self.assertIn("bad.conf:3: handler 'echo': prefx: unknown parameter", err)

    def test_every_example_is_served(self):
        # Each eddyd config needs its serving test below: a new example
        # without one fails here instead of going untested.
        self.assertEqual(sorted(eddyd_configs()), sorted(SERVED),
                         "config files vs. their serving tests (SERVED)")
        for rel, method in SERVED.items():
            self.assertTrue(callable(getattr(self, method, None)), method)

    # -- serving ---------------------------------------------------------------

    def serve(self, rel):
        """Copy config `rel` with its addresses moved to port 0 / the temp
        dir; check it; run it.  Returns (eddyd, {(transport, handler):
        (host or path, port)}, copy's path)."""
        with open(os.path.join(SOURCE, rel)) as f:
            text = f.read()
        # The proxy's upstreams, as eddy_addr_parse spells them: a listener
        # they name needs a port known before eddyd starts.
        upstreams = set()
        for line in text.splitlines():
            m = UPSTREAM_RE.match(line)
            if m:
                upstreams.update(m.group(2).split())
        used = set()
        moved = {}  # an upstream's address -> where its listener went
        out = []
        nlisten = 0
        for line in text.splitlines(True):
            m = LISTEN_RE.match(line.rstrip("\n"))
            if m:
                nlisten += 1
                lead, transport, sp, addr, rest = m.groups()
                if transport == "unix":
                    new = self.path(os.path.basename(addr))
                    moved["unix:" + addr] = "unix:" + new
                else:
                    host, _ = opstest.split_addr(addr)
                    if (transport, host) in used or addr in upstreams:
                        # Two blocks on one host (eddyd takes two `HOST:0`
                        # blocks for the same address), or an upstream's:
                        # a free port.
                        kind = socket.SOCK_DGRAM if transport == "udp" else socket.SOCK_STREAM
                        port = free_port6() if ":" in host else opstest.free_port(kind)
                    else:
                        port = 0
                    used.add((transport, host))
                    new = ("[%s]:%d" if ":" in host else "%s:%d") % (host, port)
                    moved[addr] = new
                line = lead + transport + sp + new + rest + "\n"
            out.append(line)
        for i, line in enumerate(out):
            m = UPSTREAM_RE.match(line.rstrip("\n"))
            if m:
                lead, words, rest = m.group(1), m.group(2).split(), m.group(3)
                for w in words:
                    self.assertIn(w, moved, "%s: upstream %s is none of its listeners" % (rel, w))
                out[i] = lead + " ".join(moved[w] for w in words) + rest + "\n"
        self.assertGreater(nlisten, 0, "%s has no listen block" % rel)
        conf = self.write(os.path.basename(rel), "".join(out))
        rc, stdout, err = eddytest.run_eddyd(["-t", "-c", conf])
        self.assertEqual((rc, stdout.strip()), (0, "%s: ok" % conf), err)
        d = self.run_conf(conf, listeners=nlisten)
        where = {}
        for addr, handler in d.listening:
            transport, host, port = split_ready(addr)
            key = (transport, handler) if (transport, handler) not in where else \
                (transport, handler, host)
            where[key] = (host, port)
            if port is not None:
                self.assertNotEqual(port, 0, "ready line with port 0: %s" % addr)
        log("%s: %s" % (rel, ", ".join("%s %s" % x for x in d.listening)))
        return d, where, conf

    def test_serves_eddyd(self):
        d, where, _ = self.serve("config/eddyd.conf")
        _, port = where[("tcp", "echo")]
        s = eddytest.connect(port)
        for i in range(5):  # close_after_reply off: the connection stays
            msg = b"message %d" % i
            self.assertEqual(exchange(s, msg, 10 + len(msg)), b"Received: " + msg)
        s.close()
        self.assert_up(d)
        self.stop(d)

    def test_serves_seed(self):
        d, where, _ = self.serve("config/examples/seed.conf")
        _, port = where[("tcp", "echo")]
        for i in range(3):
            s = eddytest.connect(port)
            s.sendall(b"Hello, server")
            data, how = recv_until_closed(s)
            self.assertEqual(data, b"Received: Hello, server")
            self.assertEqual(how, "eof", "close_after_reply: an orderly close, not a reset")
            s.close()
        self.assert_up(d)
        self.stop(d)

    def test_serves_lines(self):
        d, where, _ = self.serve("config/examples/lines.conf")
        _, port = where[("tcp", "lines")]
        s = eddytest.connect(port)
        self.assertEqual(exchange(s, b"hello\r\nworld\n", 16), b"> hello\n> world\n")
        s.sendall(b"no newline yet")
        time.sleep(0.1)
        self.assertEqual(exchange(s, b"...\n", 20), b"> no newline yet...\n")
        line = b"L" * 4096  # exactly max_line 4k: fine
        self.assertEqual(exchange(s, line + b"\n", len(line) + 3), b"> " + line + b"\n")
        s.sendall(b"M" * 4097 + b"\n")  # one byte over
        data, how = recv_until_closed(s)
        self.assertEqual(data, b"ERR line too long (max 4096 bytes)\n")
        s.close()
        # Caught without a newline, as soon as 4097 bytes are in.
        s = eddytest.connect(port)
        s.sendall(b"ok\n" + b"N" * 5000)
        data, how = recv_until_closed(s)
        self.assertEqual(data, b"> ok\nERR line too long (max 4096 bytes)\n")
        s.close()
        s = eddytest.connect(port)  # still serving
        self.assertEqual(exchange(s, b"again\n", 8), b"> again\n")
        s.close()
        self.assert_up(d)
        self.stop(d)

    def test_serves_pool(self):
        d, where, _ = self.serve("config/examples/pool.conf")
        _, slow = where[("tcp", "slow")]
        _, echo = where[("tcp", "echo")]
        s = eddytest.connect(slow)
        t0 = time.monotonic()
        self.assertEqual(exchange(s, b"slow chunk", 10), b"slow chunk")
        dt = time.monotonic() - t0
        self.assertGreaterEqual(dt, 0.09, "slow answered in %.3fs: delay 100ms not applied" % dt)
        # While slow sleeps on 8 connections (one per pool thread), the echo
        # listener on the same single worker answers.
        busy = [eddytest.connect(slow) for _ in range(8)]
        for i, b in enumerate(busy):
            b.sendall(b"busy %d" % i)
        e = eddytest.connect(echo)
        for i in range(5):
            msg = b"echo %d" % i
            t0 = time.monotonic()
            self.assertEqual(exchange(e, msg, len(msg)), msg)  # prefix "": pure echo
            self.assertLess(time.monotonic() - t0, 1.0)
        for i, b in enumerate(busy):
            want = b"busy %d" % i
            self.assertEqual(opstest.recv_exact(b, len(want)), want)
            b.close()
        e.close()
        s.close()
        self.assert_up(d)
        self.stop(d)

    def test_serves_transports(self):
        if not ipv6_loopback():
            self.skipTest("transports.conf listens on [::1], and this machine has no IPv6 "
                          "loopback")
        d, where, conf = self.serve("config/examples/transports.conf")
        self.assertEqual(len(d.listening), 4, d.listening)
        want = b"Received: hello"
        # TCP over IPv4 and IPv6.
        for key, family in ((("tcp", "echo"), socket.AF_INET),
                            (("tcp", "echo", "::1"), socket.AF_INET6)):
            host, port = where[key]
            self.assertEqual(host, "127.0.0.1" if family == socket.AF_INET else "::1")
            s = socket.socket(family, socket.SOCK_STREAM)
            s.settimeout(IO_TIMEOUT)
            s.connect((host, port))
            self.assertEqual(exchange(s, b"hello", len(want)), want)
            s.close()
        # UDP: one datagram, one reply (10+5 bytes: within 3x amplification).
        host, port = where[("udp", "echo")]
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        u.settimeout(2.0)
        got = None
        for attempt in range(10):  # UDP may drop; bounded retries
            u.sendto(b"hello", (host, port))
            try:
                got, src = u.recvfrom(2048)
                break
            except socket.timeout:
                continue
        u.close()
        self.assertEqual(got, want, "no UDP reply after 10 datagrams")
        # The unix socket, in the temporary directory, mode 0660.
        path, _ = where[("unix", "echo")]
        self.assertEqual(os.path.dirname(path), self.dir)
        self.assertEqual(stat.S_IMODE(os.stat(path).st_mode), 0o660)
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(IO_TIMEOUT)
        s.connect(path)
        self.assertEqual(exchange(s, b"hello", len(want)), want)
        s.close()
        self.assert_up(d)
        self.stop(d)

    def test_serves_timeouts(self):
        d, where, _ = self.serve("config/examples/timeouts.conf")
        _, port = where[("tcp", "echo")]
        t0 = time.monotonic()
        silent = eddytest.connect(port)
        talker = eddytest.connect(port)
        self.assertEqual(exchange(talker, b"hi", 12), b"Received: hi")
        self.assertTrue(opstest.closed_without_reply(silent, timeout=60),
                        "data on a silent connection")
        dt = time.monotonic() - t0
        log("silent client closed after %.2fs (first_byte_timeout 5s)" % dt)
        self.assertGreater(dt, 4.0, "closed long before first_byte_timeout 5s")
        # The one that talked is under idle_timeout 30s only: still served.
        self.assertEqual(exchange(talker, b"still", 15), b"Received: still")
        silent.close()
        talker.close()
        self.assert_up(d)
        self.stop(d)

    def test_serves_ops_haproxy_backend(self):
        d, where, conf = self.serve("config/examples/ops-haproxy-backend.conf")
        _, port = where[("tcp", "echo")]
        # PROXY v1 then a pure echo.
        s = eddytest.connect(port)
        s.sendall(b"PROXY TCP4 192.0.2.7 127.0.0.1 40000 7801\r\n")
        self.assertEqual(exchange(s, b"hello v1", 8), b"hello v1")
        s.close()
        # PROXY v2, then the same.
        sig = b"\r\n\r\n\x00\r\nQUIT\n"
        addrs = socket.inet_aton("192.0.2.8") + socket.inet_aton("127.0.0.1") + \
            struct.pack("!HH", 40001, 7801)
        header = sig + bytes([0x21, 0x11]) + struct.pack("!H", len(addrs)) + addrs
        s = eddytest.connect(port)
        s.sendall(header)
        self.assertEqual(exchange(s, b"hello v2", 8), b"hello v2")
        s.close()
        # No header: closed, nothing echoed.
        s = eddytest.connect(port)
        s.sendall(b"GET / HTTP/1.0\r\n\r\n")
        data, how = recv_until_closed(s)
        self.assertEqual(data, b"")
        s.close()
        # The stats socket, directly and through eddyd --stats -c.
        path, _ = where[("unix", "stats")]
        self.assertEqual(stat.S_IMODE(os.stat(path).st_mode), 0o600)
        totals, _ = opstest.stats_at(path)
        self.assertGreaterEqual(totals.get("errors_proxy", 0), 1, totals)
        rc, out, err = eddytest.run_eddyd(["--stats", "-c", conf])
        self.assertEqual(rc, 0, err)
        totals2, _ = opstest.parse_stats(out)
        self.assertGreaterEqual(totals2["accepted"], 3, totals2)
        self.assertEqual(totals2["errors_proxy"], totals["errors_proxy"], totals2)
        self.assert_up(d)
        self.stop(d)

    def test_serves_proxy(self):
        d, where, conf = self.serve("config/examples/proxy.conf")
        self.assertEqual(len(d.listening), 4, d.listening)
        with open(conf) as f:
            self.assertEqual(len(re.findall(r"(?m)^\s*upstream ", f.read())), 2)
        _, port = where[("tcp", "proxy")]
        # round robin, in the order the two upstream lines give
        for want in (b"A: ", b"B: ", b"C: ", b"A: "):
            s = eddytest.connect(port)
            s.sendall(b"hello")
            s.shutdown(socket.SHUT_WR)
            data, how = recv_until_closed(s)
            self.assertEqual((data, how), (want + b"hello", "eof"))
            s.close()
        self.assert_up(d)
        self.stop(d)


if __name__ == "__main__":
    # --source DIR: the source tree (default: this script's).
    if "--source" in sys.argv:
        i = sys.argv.index("--source")
        SOURCE = os.path.abspath(sys.argv[i + 1])
        del sys.argv[i:i + 2]
    eddytest.main()
