#!/usr/bin/env python3
"""integration.signals - SIGINT and SIGTERM stop eddyd cleanly (exit status
0, no sanitizer or leak report), idle or with connections open: idle ones,
one with output queued for a client that does not read, one stopped at the
high-water mark, one mid-message.  Every client then sees EOF or a reset."""

import signal
import socket
import time

import eddytest
from eddytest import EddyTestCase


class Signals(EddyTestCase):

    def check_idle(self, sig):
        d = self.start_eddyd()
        eddytest.echo_once(d.port)
        self.stop_eddyd(d, sig)

    def test_sigterm_idle(self):
        self.check_idle(signal.SIGTERM)

    def test_sigint_idle(self):
        self.check_idle(signal.SIGINT)

    def test_sigterm_right_after_start(self):
        # No connection ever made.
        d = self.start_eddyd()
        self.stop_eddyd(d, signal.SIGTERM)

    def check_busy(self, sig):
        d = self.start_eddyd(workers=2)
        clients = []
        # Idle connections that each did one exchange (so each holds no
        # buffer, but is registered).
        for i in range(20):
            s = eddytest.connect(d.port)
            eddytest.roundtrip(s, 64, eddytest.EchoChecker(stream=i))
            clients.append(s)
        # Output queued in eddyd: a tiny receive window, 256 KiB sent, not read.
        q = eddytest.connect(d.port, rcvbuf=4096)
        q.sendall(eddytest.payload(256 << 10, 50))
        eddytest.wait_sent(q)
        clients.append(q)
        # Stopped at the high-water mark: sends until eddyd stops reading.
        hw = eddytest.connect(d.port, rcvbuf=65536, sndbuf=65536)
        eddytest.fill_until_stalled(hw, 99)
        clients.append(hw)
        # Mid-message: connected, sent half a line, waiting.
        m = eddytest.connect(d.port)
        m.sendall(b"half a mess")
        clients.append(m)
        self.assert_alive(d)

        self.stop_eddyd(d, sig)
        for i, s in enumerate(clients):
            how = eddytest.expect_closed(s, timeout=eddytest.IO_TIMEOUT)
            self.assertIn(how, ("eof", "reset"), "client %d" % i)
            s.close()

    def test_sigterm_with_connections_open(self):
        self.check_busy(signal.SIGTERM)

    def test_sigint_with_connections_open(self):
        self.check_busy(signal.SIGINT)

    def test_sigterm_during_load(self):
        # A signal while many clients are mid-transfer.
        d = self.start_eddyd(workers=2)
        socks = []
        for i in range(50):
            s = eddytest.connect(d.port)
            s.setblocking(False)
            socks.append(s)
        data = eddytest.payload(1 << 16, 7)
        end = time.monotonic() + 1.0
        while time.monotonic() < end:
            for s in socks:
                try:
                    s.send(data)
                    s.recv(1 << 16)
                except (BlockingIOError, ConnectionError):
                    pass
        self.stop_eddyd(d, signal.SIGTERM)
        for s in socks:
            s.setblocking(True)
            eddytest.expect_closed(s)
            s.close()

    def test_port_is_closed_after_stop(self):
        d = self.start_eddyd()
        port = d.port
        self.stop_eddyd(d, signal.SIGINT)
        s = socket.socket()
        s.settimeout(10)
        with self.assertRaises(ConnectionRefusedError):
            s.connect((eddytest.HOST, port))
        s.close()


if __name__ == "__main__":
    eddytest.main()
