#!/usr/bin/env python3
"""integration.cli - the good command lines: --version, --help, the short
forms, the ready line on stderr and what it says."""

import os
import re

import eddytest
from eddytest import EddyTestCase, run_eddyd

VERSION_RE = re.compile(r"\b\d+\.\d+\.\d+\b")
USAGE_RE = re.compile(r"(?i)usage")
READY_FULL_RE = re.compile(r"Z info \[main\] listening on 127\.0\.0\.1:(\d+), handler echo, (\d+) workers?\b")


class Cli(EddyTestCase):

    def check_version(self, flag):
        rc, out, err = run_eddyd([flag])
        self.assertEqual(rc, 0, "%s: exit status; stderr: %s" % (flag, err))
        self.assertRegex(out, VERSION_RE, "%s: no version on stdout" % flag)

    def test_version_long(self):
        self.check_version("--version")

    def test_version_short(self):
        self.check_version("-V")

    def check_help(self, flag):
        rc, out, err = run_eddyd([flag])
        self.assertEqual(rc, 0, "%s: exit status; stderr: %s" % (flag, err))
        self.assertRegex(out, USAGE_RE, "%s: no usage on stdout" % flag)
        # Usage names every flag, long and short.
        for long_, short in (("--listen", "-l"), ("--workers", "-w"), ("--prefix", "-p"),
                             ("--max-connections", "-m"), ("--version", "-V"), ("--help", "-h"),
                             ("--dump", "-T")):
            self.assertIn(long_, out, "%s: usage does not mention %s" % (flag, long_))
            self.assertRegex(out, r"(?<![\w-])%s\b" % re.escape(short),
                             "%s: usage does not mention %s" % (flag, short))

    def test_help_long(self):
        self.check_help("--help")

    def test_help_short(self):
        self.check_help("-h")

    def test_version_wins_over_a_server_start(self):
        # --version with other valid flags still only prints and exits.
        rc, out, err = run_eddyd(["--listen", "127.0.0.1:0", "--version"])
        self.assertEqual(rc, 0, err)
        self.assertRegex(out, VERSION_RE)
        self.assertNotIn("listening on", err)

    def test_ready_line(self):
        d = self.start_eddyd(workers=3)
        m = READY_FULL_RE.search(d.ready_line)
        self.assertTrue(m, "ready line %r does not match %s" % (d.ready_line, READY_FULL_RE.pattern))
        self.assertEqual(int(m.group(1)), d.port)
        self.assertNotEqual(d.port, 0, "ready line must name the bound port, not 0")
        self.assertEqual(int(m.group(2)), 3)
        # Three workers really run (plus at least the main thread).
        self.assertGreaterEqual(d.threads(), 3)
        eddytest.echo_once(d.port)
        self.stop_eddyd(d)

    def test_default_workers_one_per_online_cpu(self):
        d = self.start_eddyd(workers=None)
        m = READY_FULL_RE.search(d.ready_line)
        self.assertTrue(m, d.ready_line)
        self.assertEqual(int(m.group(2)), os.cpu_count(), d.ready_line)
        eddytest.echo_once(d.port)
        self.stop_eddyd(d)

    def test_workers_zero_means_one_per_cpu(self):
        # DESIGN.md: "workers N loops (0 = one per online CPU)".
        d = self.start_eddyd(workers=0)
        m = READY_FULL_RE.search(d.ready_line)
        self.assertTrue(m, d.ready_line)
        self.assertEqual(int(m.group(2)), os.cpu_count(), d.ready_line)
        self.stop_eddyd(d)

    def test_short_forms(self):
        d = eddytest.Eddyd(listen=None, workers=None,
                           extra=["-l", "127.0.0.1:0", "-w", "1", "-p", "R> ", "-m", "5"])
        self.addCleanup(d.kill)
        d.start()
        m = READY_FULL_RE.search(d.ready_line)
        self.assertTrue(m, d.ready_line)
        self.assertEqual(int(m.group(2)), 1)
        eddytest.echo_once(d.port, b"short", prefix=b"R> ")
        # -m 5: five connections are served, a sixth is closed at once.
        socks = []
        for i in range(5):
            s = eddytest.connect(d.port)
            socks.append(s)
            c = eddytest.EchoChecker(b"R> ", stream=i)
            eddytest.roundtrip(s, 100, c)
        extra = eddytest.connect(d.port)
        eddytest.expect_closed(extra)
        extra.close()
        for s in socks:
            s.close()
        self.stop_eddyd(d)

    def test_long_forms_with_equals(self):
        # getopt_long also takes --flag=value.
        d = eddytest.Eddyd(listen=None, workers=None,
                           extra=["--listen=127.0.0.1:0", "--workers=2", "--prefix=Got: ",
                                  "--max-connections=100"])
        self.addCleanup(d.kill)
        d.start()
        eddytest.echo_once(d.port, b"eq", prefix=b"Got: ")
        self.stop_eddyd(d)


if __name__ == "__main__":
    eddytest.main()
