#!/usr/bin/env python3
"""integration.ops_check - `eddyd -t` checks what a start needs, durations
carry their unit, too many workers are warned about, and the pidfile is
locked (issue 15, items 8 and 9).

- -t and a start fail alike, exit 1 with `eddyd: FILE:LINE: message`, on: a
  user or group that does not exist; a pidfile or unix socket in a directory
  that does not exist or that eddyd may not write to (run as nobody); a
  unix socket path that is another kind of file; a log_file that cannot be
  opened.  The start binds nothing.
- A duration without its unit (idle_timeout 30, first_byte_timeout,
  shutdown_timeout, slow's delay) is refused: `NAME: add a unit: 30s or
  30ms`; 0 alone is accepted.
- workers above the online CPUs: one warning line on stderr naming both
  numbers, with -t (which still passes) and at start; none at the CPU count.
- pidfile: a second eddyd on the same pidfile exits 1 naming the first's
  pid, before it listens, and leaves the file alone; the first still
  removes it at exit.  A pidfile replaced under a running eddyd (now
  someone else's) is not deleted by its exit.  A stale pidfile (no process
  holds its lock) is taken over.
"""

import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile

import eddytest
import opstest
from eddytest import HOST, run_eddyd


def listen_block(address=None, transport="tcp", body="    handler echo\n"):
    return "listen %s %s {\n%s}\n" % (transport, address or "%s:0" % HOST, body)


class Check(opstest.OpsTestCase):
    """Each bad setting: -t and a start say the same, FILE:LINE, exit 1."""

    def check_refused(self, text, line, message, eddyd=None):
        """eddyd: the command that runs eddyd, when not run_eddyd's."""
        conf = self.write("bad.conf", text)
        want = "eddyd: %s:%d: %s\n" % (conf, line, message)
        for args in (["-t", "-c", conf], ["-c", conf]):
            if eddyd:
                p = subprocess.run(eddyd + args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, timeout=eddytest.STARTUP_TIMEOUT)
                rc, out, err = p.returncode, p.stdout.decode(), p.stderr.decode()
            else:
                rc, out, err = run_eddyd(args)
            self.assertEqual((rc, out, err), (1, "", want), "eddyd %s" % " ".join(args))
        return conf

    def test_user_that_does_not_exist(self):
        self.check_refused("workers 1\nuser no-such-user-eddy\n" + listen_block(), 2,
                           "user: 'no-such-user-eddy' does not exist")

    def test_group_that_does_not_exist(self):
        self.check_refused("workers 1\n\ngroup no-such-group-eddy\n" + listen_block(), 3,
                           "group: 'no-such-group-eddy' does not exist")

    def test_pidfile_in_a_missing_directory(self):
        pidfile = self.path("run/eddyd.pid")
        self.check_refused("workers 1\npidfile %s\n" % pidfile + listen_block(), 2,
                           "pidfile %s: directory %s does not exist"
                           % (pidfile, self.path("run")))

    def test_pidfile_under_a_file(self):
        notdir = self.write("plain", "")
        pidfile = os.path.join(notdir, "eddyd.pid")
        self.check_refused("workers 1\npidfile %s\n" % pidfile + listen_block(), 2,
                           "pidfile %s: %s is not a directory" % (pidfile, notdir))

    def unwritable_dir(self):
        """A directory eddyd may not write to, how to run eddyd so, and as
        which uid: as nobody when we are root (root writes anywhere), from
        a copy of eddyd and libeddy that nobody can reach (the build tree
        may sit in a private folder, such as a mktemp -d clone), else as
        us.  Returns (directory, command, uid)."""
        d = self.path("ro")
        os.mkdir(d, 0o555)
        self.addCleanup(os.chmod, d, 0o755)
        if os.geteuid() != 0:
            return d, None, os.geteuid()
        setpriv = shutil.which("setpriv")
        self.assertIsNotNone(setpriv, "setpriv (util-linux) not found")
        bin_dir = tempfile.mkdtemp(prefix="eddy-nobody-")
        self.addCleanup(shutil.rmtree, bin_dir, True)
        os.chmod(bin_dir, 0o755)
        build = os.path.dirname(os.path.abspath(eddytest.EDDYD))
        for name in ["eddyd"] + [f for f in os.listdir(build) if f.startswith("libeddy.so")]:
            shutil.copy2(os.path.join(build, name), bin_dir)
        return d, [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", "--",
                   "env", "LD_LIBRARY_PATH=" + bin_dir, os.path.join(bin_dir, "eddyd")], 65534

    def test_pidfile_in_a_directory_not_writable(self):
        d, command, uid = self.unwritable_dir()
        pidfile = os.path.join(d, "eddyd.pid")
        self.check_refused("workers 1\npidfile %s\n" % pidfile + listen_block(), 2,
                           "pidfile %s: directory %s is not writable by uid %d: permission denied"
                           % (pidfile, d, uid), eddyd=command)

    def test_unix_socket_in_a_missing_directory(self):
        sock = self.path("sockets/e.sock")
        self.check_refused("workers 1\n" + listen_block() + listen_block(sock, "unix"), 5,
                           "listen unix %s: directory %s does not exist"
                           % (sock, self.path("sockets")))

    def test_unix_socket_in_a_directory_not_writable(self):
        d, command, uid = self.unwritable_dir()
        sock = os.path.join(d, "e.sock")
        self.check_refused("workers 1\n" + listen_block(sock, "unix"), 2,
                           "listen unix %s: directory %s is not writable by uid %d: "
                           "permission denied" % (sock, d, uid), eddyd=command)

    def test_unix_socket_path_is_a_regular_file(self):
        f = self.write("data.txt", "keep me\n")
        self.check_refused("workers 1\n" + listen_block(f, "unix"), 2,
                           "listen unix %s: the file exists and is not a socket" % f)
        with open(f) as fh:
            self.assertEqual(fh.read(), "keep me\n")

    def test_log_file_that_cannot_be_opened(self):
        log = self.path("logs/eddyd.log")
        self.check_refused("workers 1\nlog_file %s\n" % log + listen_block(), 2,
                           "log_file: cannot open %s: no such file or directory" % log)

    def test_the_good_settings_pass(self):
        # The control: the same directives with paths that work, as root a
        # user that exists.
        os.mkdir(self.path("run"))
        text = ("workers 1\npidfile %s\nlog_file %s\n" % (self.path("run/e.pid"),
                                                          self.path("run/e.log")) +
                ("user nobody\n" if os.geteuid() == 0 else "") +
                listen_block() + listen_block(self.path("run/e.sock"), "unix"))
        conf = self.write("good.conf", text)
        rc, out, err = run_eddyd(["-t", "-c", conf])
        self.assertEqual((rc, out, err), (0, "%s: ok\n" % conf, ""))
        self.assertFalse(os.path.exists(self.path("run/e.pid")), "-t wrote the pidfile")
        self.assertFalse(os.path.exists(self.path("run/e.sock")), "-t bound the socket")


class Durations(opstest.OpsTestCase):

    def test_bare_numbers_are_refused(self):
        # A handler's parameter is named with its handler, as every one is.
        for directive, where, line in (("idle_timeout", "block", 5),
                                       ("first_byte_timeout", "block", 5),
                                       ("shutdown_timeout", "top", 3),
                                       ("handler 'slow': delay", "slow", 5)):
            name = directive
            if where == "top":
                body = "%s 30\n" % directive + listen_block()
            elif where == "block":
                body = listen_block(body="    handler echo\n    %s 30\n" % directive)
            else:
                directive, name = "delay", directive
                body = listen_block(body="    handler slow\n    delay 30\n")
            conf = self.config(body)
            rc, out, err = run_eddyd(["-t", "-c", conf])
            self.assertEqual((rc, err), (1, "eddyd: %s:%d: %s: add a unit: 30s or 30ms\n"
                                         % (conf, line, name)), directive)
            # With the unit, or 0 alone, the same file passes.
            for good in ("30s", "30ms", "0"):
                conf = self.config(body.replace("%s 30\n" % directive,
                                                "%s %s\n" % (directive, good)))
                rc, out, err = run_eddyd(["-t", "-c", conf])
                self.assertEqual((rc, out), (0, "%s: ok\n" % conf), err)


class Workers(opstest.OpsTestCase):

    WARN_RE = r"eddyd: warning: (\S+):1: workers (\d+) is more than the (\d+) online CPUs"

    def test_more_workers_than_cpus_is_warned_about(self):
        cpus = os.sysconf("SC_NPROCESSORS_ONLN")
        conf = self.write("many.conf", "workers %d\n" % (cpus + 1) + listen_block())
        rc, out, err = run_eddyd(["-t", "-c", conf])
        self.assertEqual((rc, out), (0, "%s: ok\n" % conf), err)
        m = re.fullmatch(self.WARN_RE + r"[^\n]*\n", err)
        self.assertTrue(m, err)
        self.assertEqual(m.groups(), (conf, str(cpus + 1), str(cpus)))
        d = self.run_conf(conf)
        self.assertRegex(d.stderr(), r"(?m)^\S+ warn \[main\] %s:1: workers %d is more than the "
                                     r"%d online CPUs" % (re.escape(conf), cpus + 1, cpus))
        self.stop(d)

    def test_as_many_workers_as_cpus_is_quiet(self):
        cpus = os.sysconf("SC_NPROCESSORS_ONLN")
        for n in (0, cpus):
            conf = self.write("n.conf", "workers %d\n" % n + listen_block())
            rc, out, err = run_eddyd(["-t", "-c", conf])
            self.assertEqual((rc, out, err), (0, "%s: ok\n" % conf, ""))


class Pidfile(opstest.OpsTestCase):

    def conf(self, pidfile, port=0, name="eddyd.conf"):
        return self.write(name, "workers 1\npidfile %s\n" % pidfile
                          + listen_block("%s:%d" % (HOST, port)))

    def read(self, path):
        with open(path) as f:
            return f.read()

    def test_second_instance_is_refused(self):
        pidfile = self.path("eddyd.pid")
        first = self.run_conf(self.conf(pidfile))
        self.assertEqual(self.read(pidfile), "%d\n" % first.pid)
        port = opstest.free_port()
        rc, out, err = run_eddyd(["-c", self.conf(pidfile, port, "second.conf")])
        self.assertEqual(rc, 1, err)
        self.assertRegex(err, r"(?m)^\S+ error \[main\] cannot start: pidfile %s is locked by pid "
                              r"%d: another eddyd is running with it$"
                         % (re.escape(pidfile), first.pid))
        self.assertNotIn("listening on", err)
        self.assertTrue(eddytest.port_is_free(port), "the second eddyd bound its port")
        self.assertEqual(self.read(pidfile), "%d\n" % first.pid)
        eddytest.echo_once(first.port())
        self.stop(first)
        self.assertFalse(os.path.exists(pidfile), "pidfile left after the first's exit")

    def test_exit_leaves_a_pidfile_it_does_not_own(self):
        pidfile = self.path("eddyd.pid")
        d = self.run_conf(self.conf(pidfile))
        # An operator (or another eddyd after a manual cleanup) replaced it.
        os.unlink(pidfile)
        with open(pidfile, "w") as f:
            f.write("4242\n")
        self.stop(d)
        self.assertEqual(self.read(pidfile), "4242\n")

    def test_stale_pidfile_is_taken_over(self):
        pidfile = self.write("eddyd.pid", "4242\n")
        d = self.run_conf(self.conf(pidfile))
        self.assertEqual(self.read(pidfile), "%d\n" % d.pid)
        self.stop(d)
        self.assertFalse(os.path.exists(pidfile))


if __name__ == "__main__":
    eddytest.main()
