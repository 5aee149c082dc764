#!/usr/bin/env python3
"""integration.bad_args - every bad flag or value: exit status 2, a message
on stderr naming what is wrong, the usage, and no server started.

Each case passes --listen 127.0.0.1:0 unless --listen is what is under test,
so that an eddyd that wrongly starts does not take port 7777; such an eddyd
is killed after the timeout and the case fails."""

import re

import eddytest
from eddytest import EddyTestCase, run_eddyd

USAGE_RE = re.compile(r"(?i)usage")
SAFE = ["--listen", "127.0.0.1:0"]

# (name, argv, words of which at least one must appear in the message)
CASES = [
    ("workers_negative", SAFE + ["--workers", "-1"], ["-1"]),
    ("workers_not_a_number", SAFE + ["--workers", "abc"], ["abc"]),
    ("workers_too_many", SAFE + ["--workers", "100000"], ["100000"]),
    ("workers_trailing_junk", SAFE + ["--workers", "3x"], ["3x"]),
    ("workers_empty", SAFE + ["--workers", ""], ["workers", "-w"]),
    ("workers_overflow", SAFE + ["--workers", "99999999999999999999"], ["99999999999999999999"]),
    ("workers_short_form_bad", SAFE + ["-w", "abc"], ["abc"]),
    ("max_connections_zero", SAFE + ["--max-connections", "0"], ["max-connections", "-m"]),
    ("max_connections_negative", SAFE + ["--max-connections", "-5"], ["-5"]),
    ("max_connections_not_a_number", SAFE + ["--max-connections", "ten"], ["ten"]),
    ("max_connections_overflow", SAFE + ["--max-connections", "99999999999999999999"],
     ["99999999999999999999"]),
    ("max_connections_short_form_bad", SAFE + ["-m", "0"], ["max-connections", "-m"]),
    ("listen_hostname_no_port", ["--listen", "nohost"], ["nohost"]),
    ("listen_port_out_of_range", ["--listen", "1.2.3.4:99999"], ["1.2.3.4:99999", "99999"]),
    ("listen_no_port", ["--listen", "127.0.0.1"], ["127.0.0.1"]),
    ("listen_empty_port", ["--listen", "127.0.0.1:"], ["127.0.0.1:"]),
    ("listen_port_not_a_number", ["--listen", "127.0.0.1:12ab"], ["12ab"]),
    ("listen_negative_port", ["--listen", "127.0.0.1:-1"], ["127.0.0.1:-1", "-1"]),
    ("listen_bad_ipv4", ["--listen", "999.1.1.1:80"], ["999.1.1.1"]),
    ("listen_empty", ["--listen", ""], ["listen", "-l"]),
    ("listen_short_form_bad", ["-l", "nohost"], ["nohost"]),
    ("unknown_long_flag", SAFE + ["--bogus"], ["bogus"]),
    ("unknown_short_flag", SAFE + ["-x"], ["'x'", "-x"]),
    ("missing_argument_workers", SAFE + ["--workers"], ["workers"]),
    ("missing_argument_w", SAFE + ["-w"], ["'w'", "-w"]),
    ("missing_argument_listen", ["--listen"], ["listen"]),
    ("missing_argument_prefix", SAFE + ["--prefix"], ["prefix"]),
    ("missing_argument_max_connections", SAFE + ["--max-connections"], ["max-connections"]),
    ("stray_operand", SAFE + ["8080"], ["8080"]),
]


class BadArgs(EddyTestCase):

    def check(self, argv, words):
        rc, out, err = run_eddyd(argv, timeout=eddytest.STARTUP_TIMEOUT)
        cmd = "eddyd " + " ".join(repr(a) if (a == "" or " " in a) else a for a in argv)
        self.assertNotIn("listening on", err, "%s: started a server" % cmd)
        report = eddytest.SANITIZER_RE.search(err)
        self.assertIsNone(report, "%s: sanitizer report:\n%s" % (cmd, err))
        self.assertEqual(rc, 2, "%s: exit status %s, want 2; stderr:\n%s" % (cmd, rc, err))
        self.assertRegex(err, USAGE_RE, "%s: no usage on stderr:\n%s" % (cmd, err))
        # The message is more than the usage: it names the flag or the value.
        self.assertTrue(any(w in err for w in words),
                        "%s: stderr does not name what is wrong (any of %r):\n%s"
                        % (cmd, words, err))


def _make(argv, words):
    def test(self):
        self.check(argv, words)
    return test


for _name, _argv, _words in CASES:
    setattr(BadArgs, "test_" + _name, _make(_argv, _words))


if __name__ == "__main__":
    eddytest.main()
