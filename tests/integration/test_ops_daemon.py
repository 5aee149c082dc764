#!/usr/bin/env python3
"""integration.ops_daemon - what a service manager and an operator see.

- systemd notify: NOTIFY_SOCKET names a unix datagram socket this test
  owns (a path, then an abstract "@name").  eddyd sends
  "READY=1\\nSTATUS=serving" once it serves (a connection made right after
  it arrives is answered), "RELOADING=1\\nMONOTONIC_USEC=N" (N within a
  minute of CLOCK_MONOTONIC now) then "READY=1" around each SIGHUP, good
  or bad, and "STOPPING=1" on SIGTERM, in that order, nothing else.
- socket activation, faked as systemd does it: our bound listening socket
  at fd 3, LISTEN_FDS=1 and LISTEN_PID=eddyd's pid (sh -c '... exec').
  eddyd serves that socket (the port it prints is ours, it still answers
  after we closed our copy, its fd 3 is the same socket inode) and binds
  nothing else.  A socket that matches no listen block (a UDP socket for a
  tcp block) is refused: exit 1 naming fd 3.  LISTEN_PID of another process
  is ignored (eddyd binds its own).
- pidfile: written (and flock-ed) before binding, mode 0644, "PID\\n"; removed at exit.
- log_file and SIGUSR1: warn lines (a malformed PROXY header) go to the
  file as "YYYY-MM-DDTHH:MM:SS.mmmZ warn [wN] #ID ADDR: ..."; after the
  file is renamed (logrotate) and SIGUSR1 sent, a new file appears at
  log_file and takes the next lines.  Under JOURNAL_STREAM the lines on
  stderr start with "<4>warn" and carry no timestamp.  (More in
  test_log.py.)
- user/group (run as root): user nobody, group nogroup: after start
  /proc/PID/status shows Uid and Gid 65534 (all four fields), no
  supplementary groups, and eddyd still serves, reloads and stops with 0.
  With a pidfile in a root-owned directory too, the pidfile must still be
  written (before the drop, as nginx does).
"""

import fcntl
import os
import re
import signal
import socket
import stat
import time

import eddytest
import opstest
from eddytest import HOST, log


class Notify:
    """A unix datagram socket standing in for systemd's notify socket."""

    def __init__(self, path=None, abstract=None):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        if abstract:
            self.sock.bind("\0" + abstract)
            self.env = "@" + abstract
        else:
            self.sock.bind(path)
            self.env = path

    def next(self, timeout=eddytest.IO_TIMEOUT):
        self.sock.settimeout(timeout)
        try:
            return self.sock.recv(4096).decode()
        except socket.timeout:
            return None

    def pending(self):
        self.sock.setblocking(False)
        try:
            return self.sock.recv(4096).decode()
        except BlockingIOError:
            return None
        finally:
            self.sock.setblocking(True)

    def close(self):
        self.sock.close()


class Daemon(opstest.OpsTestCase):

    def echo_conf(self, extra="", listen=None, name="eddyd.conf"):
        # A fixed free port where the config is reloaded: a port-0 block is
        # a new socket on a new port after each reload (never matched).
        if listen is None:
            listen = "%s:%d" % (HOST, opstest.free_port())
        return self.config('%slisten tcp %s {\n    handler echo\n    prefix "D: "\n}\n'
                           % (extra, listen), name=name)

    def check_notify(self, n):
        conf = self.echo_conf()
        d = self.run_conf(conf, env={"NOTIFY_SOCKET": n.env})
        msg = n.next()
        self.assertEqual(msg, "READY=1\nSTATUS=serving")
        eddytest.echo_once(d.port(), prefix=b"D: ")
        for good in (True, False):
            if not good:
                with open(conf, "a") as f:
                    f.write("nonsense 1\n")
            d.signal(signal.SIGHUP)
            msg = n.next()
            self.assertIsNotNone(msg, "nothing after SIGHUP")
            m = re.fullmatch(r"RELOADING=1\nMONOTONIC_USEC=(\d+)", msg)
            self.assertTrue(m, "after SIGHUP: %r" % msg)
            now = time.clock_gettime(time.CLOCK_MONOTONIC) * 1e6
            self.assertLess(abs(int(m.group(1)) - now), 60e6,
                            "MONOTONIC_USEC %s is not CLOCK_MONOTONIC (now %d)" % (m.group(1), now))
            self.assertEqual(n.next(), "READY=1")
            eddytest.echo_once(d.port(), prefix=b"D: ")
        self.assertIsNone(n.pending())
        d.signal(signal.SIGTERM)
        self.assertEqual(n.next(), "STOPPING=1")
        self.stop(d, send=False)
        self.assertIsNone(n.pending(), "more messages after STOPPING=1")

    def test_notify_path(self):
        n = Notify(path=self.path("notify.sock"))
        self.addCleanup(n.close)
        self.check_notify(n)

    def test_notify_abstract(self):
        n = Notify(abstract="eddy-ops-test-%d" % os.getpid())
        self.addCleanup(n.close)
        self.check_notify(n)

    def activated(self, sock, conf, listeners=1, pid_expr="$$"):
        """eddyd under bash -c (dash takes only fds 0-9) with sock at fd 3,
        LISTEN_FDS=1 and LISTEN_PID=pid_expr."""
        # A high copy of the socket, so that moving it to fd 3 in the shell
        # never closes what is already at 3.
        fd = fcntl.fcntl(sock.fileno(), fcntl.F_DUPFD, 100)
        self.addCleanup(os.close, fd)
        # OpsEddyd runs wrap + [eddyd, "-c", conf]: "$0" "$1" "$2" here.
        script = ('exec 3<&%d %d<&-; LISTEN_PID=%s LISTEN_FDS=1 exec "$0" "$1" "$2"'
                  % (fd, fd, pid_expr))
        d = opstest.OpsEddyd(conf, listeners=listeners, pass_fds=(fd,),
                             wrap=["bash", "-c", script])
        self.addCleanup(d.kill)
        return d

    def test_socket_activation(self):
        sock = socket.socket()
        sock.bind((HOST, 0))
        sock.listen(128)
        port = sock.getsockname()[1]
        inode = os.fstat(sock.fileno()).st_ino
        conf = self.echo_conf(listen="%s:0" % HOST)   # port 0 matches any
        d = self.activated(sock, conf)
        d.start()
        self.assertEqual(d.port(), port, "eddyd did not serve the socket it was given")
        sock.close()   # only eddyd's copy is left
        eddytest.echo_once(port, prefix=b"D: ")
        fd3 = os.readlink("/proc/%d/fd/3" % d.pid)
        self.assertEqual(fd3, "socket:[%d]" % inode)
        # It bound nothing else: its listening TCP sockets are all that inode.
        inodes = set()
        for f in os.listdir("/proc/%d/fd" % d.pid):
            try:
                inodes.add(os.readlink("/proc/%d/fd/%s" % (d.pid, f)))
            except OSError:
                pass
        listening = listening_inodes()
        mine = {x for x in inodes if x.startswith("socket:") and int(x[8:-1]) in listening}
        self.assertEqual(mine, {"socket:[%d]" % inode}, "eddyd listens on other sockets too")
        self.stop(d)

    def test_socket_activation_mismatch(self):
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind((HOST, 0))
        conf = self.echo_conf(listen="%s:0" % HOST)   # port 0 matches any
        d = self.activated(sock, conf)
        with self.assertRaises(eddytest.EddydError):
            d.start(timeout=30)
        sock.close()
        self.assertEqual(d.proc.returncode, 1, d.stderr())
        self.assertIn("socket activation: fd 3", d.stderr())
        log("mismatch: %s" % d.stderr().strip())

    def test_socket_activation_for_another_pid(self):
        sock = socket.socket()
        sock.bind((HOST, 0))
        sock.listen(16)
        conf = self.echo_conf(listen="%s:0" % HOST)   # port 0 matches any
        d = self.activated(sock, conf, pid_expr="1")
        d.start()
        self.assertNotEqual(d.port(), sock.getsockname()[1])
        eddytest.echo_once(d.port(), prefix=b"D: ")
        sock.close()
        self.stop(d)

    def test_pidfile(self):
        pidfile = self.path("run/eddyd.pid")
        os.mkdir(self.path("run"))
        d = self.run_conf(self.echo_conf("pidfile %s\n" % pidfile))
        with open(pidfile) as f:
            self.assertEqual(f.read(), "%d\n" % d.pid)
        self.assertEqual(stat.S_IMODE(os.stat(pidfile).st_mode), 0o644)
        self.assertEqual(os.listdir(self.path("run")), ["eddyd.pid"])   # no .tmp left
        self.stop(d)
        self.assertFalse(os.path.exists(pidfile), "pidfile left after exit")

    def proxy_conf(self, extra):
        return self.config('%slisten tcp %s:0 {\n    handler echo\n    proxy_protocol on\n}\n'
                           % (extra, HOST))

    def malformed(self, port):
        s = eddytest.connect(port)
        s.sendall(b"NOT A PROXY HEADER\r\n")
        eddytest.expect_closed(s)
        s.close()

    def test_log_file_and_sigusr1(self):
        logf = self.path("eddyd.log")
        d = self.run_conf(self.proxy_conf("log_file %s\n" % logf), log_file=logf)
        port = d.port()
        line_re = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z warn \[w\d+\] #\d+ "
                             r"127\.0\.0\.1:\d+: closing: malformed PROXY protocol header")
        self.malformed(port)
        text = self.wait_file(logf, line_re)
        self.assertTrue(all(re.match(r"\d{4}-\d\d-\d\dT", x) for x in text.splitlines()), text)
        os.rename(logf, logf + ".1")
        d.signal(signal.SIGUSR1)
        # Bounded: the line is rate-limited to one a second, and eddyd may
        # take the signal a moment after we sent it.
        deadline = time.monotonic() + 60
        found = False
        while time.monotonic() < deadline and not found:
            self.malformed(port)
            time.sleep(0.25)
            if os.path.exists(logf):
                with open(logf) as f:
                    found = bool(line_re.search(f.read()))
        self.assertTrue(found, "no new %s with the next warn line after SIGUSR1" % logf)
        with open(logf + ".1") as f:
            self.assertTrue(line_re.search(f.read()))
        self.assertNotIn("malformed", d.stderr(), "library lines went to stderr too")
        self.stop(d)

    def wait_file(self, path, rx, timeout=60):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if os.path.exists(path):
                with open(path) as f:
                    text = f.read()
                if rx.search(text):
                    return text
            time.sleep(0.05)
        self.fail("%s never got a line matching %s" % (path, rx.pattern))

    def test_journal_stream_format(self):
        d = self.run_conf(self.proxy_conf(""), env={"JOURNAL_STREAM": "8:12345"})
        self.malformed(d.port())
        line = d.wait_for_log(r"malformed PROXY")
        self.assertIsNotNone(line, d.stderr())
        self.assertRegex(line, r"^<4>warn \[w\d+\] #\d+ 127\.0\.0\.1:\d+: closing: malformed PROXY")
        self.stop(d)


class Privileges(opstest.OpsTestCase):
    """user/group (a separate ctest group: integration.ops_privileges)."""

    def echo_conf(self, extra=""):
        return self.config('%slisten tcp %s:%d {\n    handler echo\n    prefix "D: "\n}\n'
                           % (extra, HOST, opstest.free_port()))

    def proc_ids(self, pid):
        ids = {}
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                k, _, v = line.partition(":")
                if k in ("Uid", "Gid", "Groups"):
                    ids[k] = v.split()
        return ids

    def test_user_group_drop(self):
        if os.geteuid() != 0:
            self.skipTest("needs root")
        stats = self.path("stats.sock")
        conf = self.echo_conf("user nobody\ngroup nogroup\n"
                              "listen unix %s {\n    handler stats\n}\n" % stats)
        d = self.run_conf(conf, listeners=2)
        ids = self.proc_ids(d.pid)
        self.assertEqual(ids["Uid"], ["65534"] * 4, ids)
        self.assertEqual(ids["Gid"], ["65534"] * 4, ids)
        self.assertEqual(ids["Groups"], [], ids)
        # Every thread, not only the main one.
        for tid in os.listdir("/proc/%d/task" % d.pid):
            self.assertEqual(self.proc_ids(int(tid))["Uid"], ["65534"] * 4, "thread %s" % tid)
        eddytest.echo_once(d.port(1), prefix=b"D: ")
        totals, _ = opstest.stats_at(stats)
        self.assertGreaterEqual(totals["accepted"], 1)
        d.signal(signal.SIGHUP)
        self.assertIsNotNone(d.wait_for_log(r"info \[main\] reload done"), d.stderr()[-2000:])
        eddytest.echo_once(d.port(1), prefix=b"D: ")
        self.stop(d)

    def test_user_drop_with_pidfile_in_a_root_directory(self):
        if os.geteuid() != 0:
            self.skipTest("needs root")
        rundir = self.path("run")
        os.mkdir(rundir, 0o755)        # root's, like /run
        pidfile = os.path.join(rundir, "eddyd.pid")
        conf = self.echo_conf("user nobody\ngroup nogroup\npidfile %s\n" % pidfile)
        d = opstest.OpsEddyd(conf)
        self.addCleanup(d.kill)
        try:
            d.start(timeout=30)
        except eddytest.EddydError:
            self.fail("eddyd with user nobody and pidfile %s (a root-owned directory) did not "
                      "start: exit %s: %s" % (pidfile, d.proc.returncode, d.stderr().strip()))
        with open(pidfile) as f:
            self.assertEqual(f.read(), "%d\n" % d.pid)
        self.stop(d)
        log("pidfile after exit: %s" % ("left (nobody cannot remove it)"
                                        if os.path.exists(pidfile) else "removed"))


def listening_inodes():
    out = set()
    for name in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(name) as f:
            next(f)
            for line in f:
                parts = line.split()
                if parts[3] == "0A":        # TCP_LISTEN
                    out.add(int(parts[9]))
    return out


if __name__ == "__main__":
    opstest.main()
