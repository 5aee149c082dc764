#!/usr/bin/env python3
"""integration.log - eddyd's own log, as an operator reads it.

- log_file, log_level info: a start, three connections, a good reload, a
  bad one, SIGUSR1 and SIGTERM leave in the file, and nowhere else, the
  start and listening lines, "reload done", the failed reload at error
  level naming FILE:LINE, the reopen, draining and stopped; every line
  "YYYY-MM-DDTHH:MM:SS.mmmZ LEVEL [THREAD] message"; no connection lines.
- log_level debug: each connection's open and close, "#ID CLIENT:PORT:"
  with the client's real port and an id of its own, in its worker's name
  ("[w0]"); a quiet one closed by idle_timeout says so.
- log_level warn: none of the info lines, but the failed reload.
- A failed reload that asked for log_level debug leaves the level alone.
- Before the log is set up, errors stay on stderr as "eddyd: FILE:LINE:
  ...", and no log file is made; a start that fails later (the port is
  taken) is logged at error and also said once on stderr.
- Under journald (JOURNAL_STREAM set, no log_file) each stderr line starts
  with its syslog priority instead of a timestamp: <6> info, <7> debug,
  <3> for the failed reload.
"""

import os
import re
import signal
import socket
import time

import eddytest
import opstest
from eddytest import HOST, IO_TIMEOUT, log

STAMP = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"
LINE_RE = re.compile(r"^%s (error|warn|info|debug) \[(main|w\d+|pool)\] \S" % STAMP)
JOURNAL_RE = re.compile(r"^<([3467])>(error|warn|info|debug) \[(main|w\d+|pool)\] \S")
PRIORITY = {"error": "3", "warn": "4", "info": "6", "debug": "7"}
CONN_RE = r"debug \[w\d+\] #(\d+) 127\.0\.0\.1:%d: "


def ask(s, data):
    """Send data, read the echo's reply to it."""
    s.sendall(data)
    return opstest.recv_exact(s, len(b"Received: ") + len(data))


def rewrite(path, *replacements):
    with open(path) as f:
        text = f.read()
    for old, new in replacements:
        text = text.replace(old, new)
    with open(path, "w") as f:
        f.write(text)


class Log(opstest.OpsTestCase):

    def conf(self, level, port, extra="", name="eddyd.conf", idle="1h"):
        self.logf = self.path("eddyd.log")
        return self.config("log_file %s\nlog_level %s\n%slisten tcp %s:%d {\n    handler echo\n"
                           "    idle_timeout %s\n}\n" % (self.logf, level, extra, HOST, port, idle),
                           name=name)

    def text(self):
        with open(self.logf) as f:
            return f.read()

    def wait_file(self, rx, timeout=IO_TIMEOUT):
        rx = re.compile(rx, re.M)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if os.path.exists(self.logf):
                m = rx.search(self.text())
                if m:
                    return m
            time.sleep(0.05)
        self.fail("%s never got a line matching %r; it holds:\n%s"
                  % (self.logf, rx.pattern, self.text() if os.path.exists(self.logf) else "-"))

    def clients(self, port, n=3):
        """n connections, each answered once, then closed; their ports."""
        ports = []
        for i in range(n):
            s = eddytest.connect(port)
            ports.append(s.getsockname()[1])
            self.assertEqual(ask(s, b"x%d" % i), b"Received: x%d" % i)
            s.close()
        return ports

    def bad_reload(self, d, conf):
        """Append an unknown directive, SIGHUP; returns the line it is on."""
        with open(conf) as f:
            line = f.read().count("\n") + 1
        with open(conf, "a") as f:
            f.write("nonsense 1\n")
        d.signal(signal.SIGHUP)
        return line

    def check_lines(self, text):
        for x in text.splitlines():
            self.assertRegex(x, LINE_RE)

    def test_info_file_holds_the_daemon_lines(self):
        port = opstest.free_port()
        conf = self.conf("info", port)
        d = self.run_conf(conf, log_file=self.path("eddyd.log"))
        self.assertEqual(d.port(), port)
        self.clients(port)
        d.signal(signal.SIGHUP)
        self.wait_file(r"info \[main\] reload done$")
        bad = self.bad_reload(d, conf)
        m = self.wait_file(r"^%s error \[main\] reload failed, still serving the running "
                           r"configuration: (.*):(\d+): unknown directive 'nonsense'$" % STAMP)
        self.assertEqual((m.group(1), int(m.group(2))), (conf, bad))
        eddytest.echo_once(port)
        d.signal(signal.SIGUSR1)
        self.wait_file(r"info \[main\] SIGUSR1: log file reopened$")
        self.stop(d)
        text = self.text()
        log("the log:\n" + text)
        self.check_lines(text)
        for want in (r"info \[main\] eddyd \S+ started, pid %d, configuration %s$"
                     % (d.pid, re.escape(conf)),
                     r"info \[main\] listening on 127\.0\.0\.1:%d, handler echo, 2 workers$" % port,
                     r"info \[main\] SIGHUP: reloading the configuration$",
                     r"info \[main\] SIGTERM: draining \(a second signal stops at once\)$",
                     r"info \[main\] stopped$"):
            self.assertRegex(text, re.compile(want, re.M))
        self.assertEqual(len(re.findall(r"listening on", text)), 2, "start and the good reload")
        self.assertTrue(text.rstrip("\n").endswith("info [main] stopped"), text)
        self.assertNotIn("debug", text)
        self.assertNotIn(" #", text, "a connection line at info")
        self.assertNotRegex(d.stderr(), r"listening|reload|draining|stopped")

    def test_debug_logs_each_connection(self):
        port = opstest.free_port()
        d = self.run_conf(self.conf("debug", port), log_file=self.path("eddyd.log"))
        ports = self.clients(port)
        ids = set()
        for p in ports:
            o = self.wait_file((CONN_RE % p) + r"open on 127\.0\.0\.1:%d$" % port)
            c = self.wait_file((CONN_RE % p) + r"closed by client$")
            self.assertEqual(o.group(1), c.group(1), "one id for open and close")
            ids.add(o.group(1))
        self.assertEqual(len(ids), 3, "each connection its own id")
        self.stop(d)
        self.check_lines(self.text())

    def test_debug_logs_idle_timeout(self):
        port = opstest.free_port()
        d = self.run_conf(self.conf("debug", port, idle="200ms"), log_file=self.path("eddyd.log"))
        s = eddytest.connect(port)
        me = s.getsockname()[1]
        self.wait_file((CONN_RE % me) + r"closed \(idle timeout\)$")
        eddytest.expect_closed(s)
        s.close()
        self.stop(d)

    def test_warn_shows_no_info(self):
        port = opstest.free_port()
        conf = self.conf("warn", port)
        d = self.run_conf(conf, listeners=0)
        deadline = time.monotonic() + IO_TIMEOUT
        while not self.answers(port):
            self.assertLess(time.monotonic(), deadline, "eddyd never served %d" % port)
            self.assert_up(d)
            time.sleep(0.05)
        self.clients(port)
        bad = self.bad_reload(d, conf)
        self.wait_file(r"error \[main\] reload failed, .*: %s:%d: " % (re.escape(conf), bad))
        self.stop(d)
        text = self.text()
        log("the log:\n" + text)
        self.check_lines(text)
        self.assertNotRegex(text, r"\] (info|debug) |Z (info|debug) ")
        self.assertEqual(d.stderr().strip(), "")

    def answers(self, port):
        try:
            s = socket.create_connection((HOST, port), timeout=IO_TIMEOUT)
        except OSError:
            return False
        try:
            return ask(s, b"up") == b"Received: up"
        finally:
            s.close()

    def test_failed_reload_keeps_the_level(self):
        port = opstest.free_port()
        conf = self.conf("info", port)
        d = self.run_conf(conf, log_file=self.path("eddyd.log"))
        # debug asked for, but the file fails further down (a handler that
        # does not exist): nothing of it may apply, the level included.
        rewrite(conf, ("log_level info", "log_level debug"), ("handler echo", "handler no_such_handler"))
        d.signal(signal.SIGHUP)
        self.wait_file(r"reload failed, .*handler 'no_such_handler' not found")
        self.clients(port)
        # The same file without the error: now debug applies.
        rewrite(conf, ("no_such_handler", "echo"))
        d.signal(signal.SIGHUP)
        self.wait_file(r"reload done$")
        after = self.clients(port, 1)[0]
        self.wait_file((CONN_RE % after) + "closed by client$")
        self.stop(d)
        self.assertEqual(len(re.findall(r"\] #\d+ .*: open on", self.text())), 1, self.text())

    def test_errors_before_the_log_stay_on_stderr(self):
        port = opstest.free_port()
        conf = self.conf("info", port, extra="max_connections many\n")
        for mode in (["-t", "-c", conf], ["-c", conf]):
            rc, out, err = eddytest.run_eddyd(mode)
            self.assertEqual(rc, 1, err)
            lines = err.strip().splitlines()
            self.assertEqual(len(lines), 1, err)
            self.assertRegex(lines[0], r"^eddyd: %s:5: max_connections: .*'many'" % re.escape(conf))
            self.assertFalse(os.path.exists(self.logf), "a refused configuration made the log")
        # Applied, then the start fails (the port is taken): in the log at
        # error, and once on stderr for whoever started eddyd.
        holder = socket.socket()
        holder.bind((HOST, port))
        holder.listen(1)
        try:
            conf = self.conf("info", port, name="taken.conf")
            rc, out, err = eddytest.run_eddyd(["-c", conf])
        finally:
            holder.close()
        self.assertEqual(rc, 1, err)
        lines = err.strip().splitlines()
        self.assertEqual(len(lines), 1, err)
        self.assertRegex(lines[0], r"^eddyd: cannot listen on 127\.0\.0\.1:%d: " % port)
        self.assertRegex(self.text(), r"error \[main\] cannot start: cannot listen on "
                                      r"127\.0\.0\.1:%d: " % port)
        self.check_lines(self.text())

    def test_journald_priorities(self):
        port = opstest.free_port()
        conf = self.config("log_level debug\nlisten tcp %s:%d {\n    handler echo\n}\n"
                           % (HOST, port))
        d = self.run_conf(conf, env={"JOURNAL_STREAM": "8:12345"})
        me = self.clients(port, 1)[0]
        d.wait_for_log(r"#\d+ 127\.0\.0\.1:%d: closed by client$" % me)
        bad = self.bad_reload(d, conf)
        line = d.wait_for_log(r"reload failed")
        self.assertRegex(line, r"^<3>error \[main\] reload failed, .*: %s:%d: unknown directive"
                               % (re.escape(conf), bad))
        self.stop(d)
        lines = d.stderr_lines()
        log("stderr:\n" + "\n".join(lines))
        for x in lines:
            m = JOURNAL_RE.match(x)
            self.assertTrue(m, "not a journald line: %r" % x)
            self.assertEqual(m.group(1), PRIORITY[m.group(2)], x)
        text = "\n".join(lines)
        self.assertIn("<6>info [main] listening on 127.0.0.1:%d" % port, text)
        self.assertRegex(text, r"<7>debug \[w\d+\] #\d+ 127\.0\.0\.1:%d: open on" % me)
        self.assertIn("<6>info [main] stopped", text)


if __name__ == "__main__":
    eddytest.main()
