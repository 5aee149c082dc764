#!/usr/bin/env python3
"""integration.port_in_use - the listening address is taken: eddyd prints
one line naming the address and exits with status 1, without serving."""

import socket

import eddytest
from eddytest import EddyTestCase, run_eddyd, HOST


def held_port(reuseport=False):
    """A plain listening socket on an ephemeral 127.0.0.1 port."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if reuseport:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    s.bind((HOST, 0))
    s.listen(16)
    return s, s.getsockname()[1]


class PortInUse(EddyTestCase):

    def check_refused(self, port, argv):
        rc, out, err = run_eddyd(argv)
        addr = "%s:%d" % (HOST, port)
        cmd = "eddyd " + " ".join(argv)
        self.assertNotIn("listening on", err, "%s: claims to listen" % cmd)
        self.assertIsNone(eddytest.SANITIZER_RE.search(err), "%s: sanitizer report:\n%s" % (cmd, err))
        self.assertEqual(rc, 1, "%s: exit status %s, want 1; stderr:\n%s" % (cmd, rc, err))
        lines = [l for l in err.splitlines() if l.strip()]
        self.assertEqual(len(lines), 1, "%s: want exactly one line on stderr, got:\n%s" % (cmd, err))
        self.assertIn(addr, lines[0], "%s: the line does not name %s" % (cmd, addr))

    def test_port_held_by_a_plain_socket(self):
        s, port = held_port()
        try:
            self.check_refused(port, ["--listen", "%s:%d" % (HOST, port), "--workers", "2"])
            # The holder is undisturbed: it still accepts.
            c = eddytest.connect(port)
            a, _ = s.accept()
            a.close()
            c.close()
        finally:
            s.close()

    def test_port_held_short_form_one_worker(self):
        s, port = held_port()
        try:
            self.check_refused(port, ["-l", "%s:%d" % (HOST, port), "-w", "1"])
        finally:
            s.close()

    def test_port_held_by_another_eddyd(self):
        # A second eddyd on the address of a running one must refuse too.
        # (Each worker's socket uses SO_REUSEPORT; that must not let a second
        # process silently share the port and steal half its connections.)
        first = self.start_eddyd(workers=2)
        self.check_refused(first.port, ["--listen", "%s:%d" % (HOST, first.port), "--workers", "2"])
        eddytest.echo_once(first.port)
        self.stop_eddyd(first)

    def test_port_free_again_after_stop(self):
        # After a clean stop the address can be bound again at once.
        first = self.start_eddyd(workers=2)
        port = first.port
        self.stop_eddyd(first)
        second = self.start_eddyd(workers=2, listen="%s:%d" % (HOST, port))
        self.assertEqual(second.port, port)
        eddytest.echo_once(port)
        self.stop_eddyd(second)


if __name__ == "__main__":
    eddytest.main()
