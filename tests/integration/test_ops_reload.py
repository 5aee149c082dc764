#!/usr/bin/env python3
"""integration.ops_reload - SIGHUP re-reads the configuration file.

A file with any error (an unknown directive, a value the handler rejects,
a new listener whose address is taken, a file gone) is reported with
FILE:LINE (or what failed) and "still serving the running one"; the old
configuration then keeps serving unchanged: same prefixes, the listeners it
had, none of the bad file's new ones.

A good file applies without dropping anything: a listener at the same
address keeps its socket (a client connecting in a loop across the reload
is never refused) and new connections get the new handler parameters while
connections opened before keep theirs; a listener added opens, a listener
removed closes (new connections refused).  Reloading back restores the
first set.  systemd's RELOADING/READY pair is checked in ops_daemon.
"""

import errno
import os
import signal
import socket
import threading
import time

import eddytest
import opstest
from eddytest import HOST, log


def conf_text(listeners, stats_path):
    """listeners: [(port, prefix)] echo listeners."""
    out = []
    for port, prefix in listeners:
        out.append('listen tcp %s:%d {\n    handler echo\n    prefix "%s"\n}\n'
                   % (HOST, port, prefix))
    out.append("listen unix %s {\n    handler stats\n}\n" % stats_path)
    return "".join(out)


def ask(port, data=b"ping", timeout=eddytest.IO_TIMEOUT):
    """One connection, one exchange: returns the reply (prefix + data)."""
    s = eddytest.connect(port, timeout=timeout)
    try:
        s.sendall(data)
        s.settimeout(timeout)
        got = b""
        deadline = time.monotonic() + timeout
        while not got.endswith(data) and time.monotonic() < deadline:
            b = s.recv(4096)
            if not b:
                break
            got += b
        return got
    finally:
        s.close()


def exchange(s, data, timeout=eddytest.IO_TIMEOUT):
    s.sendall(data)
    s.settimeout(timeout)
    got = b""
    deadline = time.monotonic() + timeout
    while not got.endswith(data) and time.monotonic() < deadline:
        b = s.recv(4096)
        if not b:
            break
        got += b
    return got


def refused(port):
    s = socket.socket()
    s.settimeout(10)
    try:
        return s.connect_ex((HOST, port)) == errno.ECONNREFUSED
    finally:
        s.close()


class Reload(opstest.OpsTestCase):

    def start_a(self):
        self.p1, self.p2, self.p3 = (opstest.free_port() for _ in range(3))
        self.stats_path = self.path("stats.sock")
        self.conf_a = conf_text([(self.p1, "A1: "), (self.p2, "A2: ")], self.stats_path)
        conf = self.config(self.conf_a)
        d = self.run_conf(conf, listeners=3)
        self.assertEqual(ask(self.p1), b"A1: ping")
        self.assertEqual(ask(self.p2), b"A2: ping")
        return d, conf

    def sighup(self, d, conf, text, want):
        """Write text to conf, SIGHUP, wait for the verdict line; returns
        the stderr lines logged by this reload."""
        with open(conf, "w") as f:
            f.write(text)
        start = d.nlines()
        d.signal(signal.SIGHUP)
        line = d.wait_for_log(r"\] (reload done|reload failed)", start)
        self.assertIsNotNone(line, "no SIGHUP verdict logged; stderr:\n%s" % d.stderr()[-3000:])
        lines = d.stderr().split("\n")[start:]
        if want == "reloaded":
            self.assertIn(" info [main] reload done", line, "\n".join(lines))
        else:
            self.assertIn(" error [main] reload failed, still serving the running "
                          "configuration: ", line, "\n".join(lines))
        self.assert_up(d)
        return lines

    def check_old_serving(self, d, held):
        self.assertEqual(ask(self.p1), b"A1: ping")
        self.assertEqual(ask(self.p2), b"A2: ping")
        self.assertEqual(exchange(held, b"again"), b"A1: again")
        self.assertTrue(refused(self.p3), "port %d of the bad file opened" % self.p3)
        totals, _ = opstest.stats_at(self.stats_path)
        self.assertGreater(totals["accepted"], 0)

    def test_bad_reloads_keep_the_old_config(self):
        d, conf = self.start_a()
        held = eddytest.connect(self.p1)
        self.assertEqual(exchange(held, b"held"), b"A1: held")
        plugins = "plugin_dir %s\nworkers 2\n" % opstest.plugin_dir()
        good_b = conf_text([(self.p1, "B1: "), (self.p3, "B3: ")], self.stats_path)

        # 1. An unknown directive at line 5 (plugin_dir, workers, listen,
        # handler, then this); the rest of the file would change things.
        text = (plugins + "listen tcp %s:%d {\n    handler echo\n    prefx \"B1: \"\n}\n"
                % (HOST, self.p1)) + good_b.split("}\n", 1)[1]
        lines = self.sighup(d, conf, text, "errors")
        self.assertTrue(any("%s:5:" % conf in x for x in lines),
                        "no %s:5: error among:\n%s" % (conf, "\n".join(lines)))
        self.check_old_serving(d, held)

        # 2. A bad value at line 3 (max_connections).
        text = plugins + "max_connections many\n" + good_b
        lines = self.sighup(d, conf, text, "errors")
        self.assertTrue(any("%s:3:" % conf in x for x in lines),
                        "no %s:3: error among:\n%s" % (conf, "\n".join(lines)))
        self.check_old_serving(d, held)

        # 3. A new listener whose address someone else holds: binding fails.
        blocker = socket.socket()
        blocker.bind((HOST, 0))
        blocker.listen(1)
        taken = blocker.getsockname()[1]
        try:
            text = plugins + conf_text([(self.p1, "B1: "), (taken, "X: ")], self.stats_path)
            lines = self.sighup(d, conf, text, "errors")
            log("address in use: %s" % " | ".join(x for x in lines if "reload failed" in x))
            self.check_old_serving(d, held)
        finally:
            blocker.close()

        # 4. The file is gone.
        os.rename(conf, conf + ".away")
        lines = self.sighup_no_write(d)
        self.assertTrue(any(conf in x for x in lines),
                        "the error does not name %s:\n%s" % (conf, "\n".join(lines)))
        os.rename(conf + ".away", conf)
        self.check_old_serving(d, held)

        held.close()
        self.stop(d)

    def sighup_no_write(self, d):
        start = d.nlines()
        d.signal(signal.SIGHUP)
        line = d.wait_for_log(r"\] (reload done|reload failed)", start)
        self.assertIsNotNone(line, "no SIGHUP verdict; stderr:\n%s" % d.stderr()[-3000:])
        self.assertIn("still serving the running configuration", line)
        self.assert_up(d)
        return d.stderr().split("\n")[start:]

    def test_good_reload_applies_without_dropping(self):
        d, conf = self.start_a()
        plugins = "plugin_dir %s\nworkers 2\n" % opstest.plugin_dir()
        held1 = eddytest.connect(self.p1)
        self.assertEqual(exchange(held1, b"one"), b"A1: one")
        held2 = eddytest.connect(self.p2)
        self.assertEqual(exchange(held2, b"two"), b"A2: two")

        # A client connecting to p1 over and over across the reload: the
        # socket is kept, so no attempt may be refused or go unanswered.
        stop = threading.Event()
        seen = {b"A1: ": 0, b"B1: ": 0}
        errors = []

        def hammer():
            deadline = time.monotonic() + 120
            n = 0
            while not stop.is_set() and time.monotonic() < deadline and n < 100000:
                n += 1
                try:
                    got = ask(self.p1, b"h%d" % n)
                except OSError as e:
                    errors.append("attempt %d: %s" % (n, e))
                    return
                if got[:4] not in seen or got[4:] != b"h%d" % n:
                    errors.append("attempt %d: reply %r" % (n, got))
                    return
                seen[got[:4]] += 1
        t = threading.Thread(target=hammer, daemon=True)
        t.start()
        time.sleep(0.3)

        text = plugins + conf_text([(self.p1, "B1: "), (self.p3, "B3: ")], self.stats_path)
        self.sighup(d, conf, text, "reloaded")
        # The new parameters for new connections (a loop: in a threaded
        # server each worker applies the reload on its own loop; the
        # verdict is logged after all did, so the first try must succeed).
        self.assertEqual(ask(self.p1), b"B1: ping")
        time.sleep(0.3)
        stop.set()
        t.join(60)
        self.assertEqual(errors, [], "a connection to the kept listener failed across the reload")
        log("hammer across the reload: %s" % seen)
        self.assertGreater(seen[b"B1: "], 0)

        # Open connections keep their parameters.
        self.assertEqual(exchange(held1, b"still"), b"A1: still")
        # The added listener serves, the removed one refuses new connections.
        self.assertEqual(ask(self.p3), b"B3: ping")
        self.assertTrue(refused(self.p2), "removed listener %d still accepts" % self.p2)
        # A connection of the removed listener: served or closed, never a
        # wrong reply (the issue does not say which; log what eddyd did).
        try:
            got = exchange(held2, b"after")
        except OSError as e:
            got = repr(e)
        log("open connection of the removed listener after the reload: %r" % got)
        if isinstance(got, bytes) and got:
            self.assertEqual(got, b"A2: after")

        # And back: p2 opens again, p3 closes, p1 says A1 again.
        self.sighup(d, conf, self.conf_a_full(plugins), "reloaded")
        self.assertEqual(ask(self.p1), b"A1: ping")
        self.assertEqual(ask(self.p2), b"A2: ping")
        self.assertTrue(refused(self.p3), "removed listener %d still accepts" % self.p3)
        self.assertEqual(exchange(held1, b"end"), b"A1: end")
        held1.close()
        held2.close()
        self.stop(d)

    def conf_a_full(self, plugins):
        return plugins + self.conf_a


if __name__ == "__main__":
    opstest.main()
