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

        # Signal, then read every client at once until eddyd closes it:
        # whether eddyd closes at once or first drains what it owes
        # (answers what arrived, sends what is queued), every client ends
        # with EOF or a reset and eddyd exits with status 0.
        d.send_signal(sig)
        eddytest.read_all_until_closed(clients)
        for s in clients:
            s.close()
        self.stop_eddyd(d, sig, send=False)

    def test_sigterm_with_connections_open(self):
        self.check_busy(signal.SIGTERM)

    def test_sigint_with_connections_open(self):
        self.check_busy(signal.SIGINT)

    def test_stop_with_a_client_that_never_reads(self):
        # A client at the high-water mark that never reads cannot hold up
        # the stop forever: eddyd exits with status 0 within the (generous)
        # stop deadline, whether it closes at once or drains first with a
        # bounded timeout; the client then finds its connection closed.
        for sig in (signal.SIGTERM, signal.SIGINT):
            d = self.start_eddyd(workers=1)
            hw = eddytest.connect(d.port, rcvbuf=4096, sndbuf=65536)
            eddytest.fill_until_stalled(hw, 98)
            t0 = time.monotonic()
            self.stop_eddyd(d, sig)
            eddytest.log("%s with a non-reading client: exit after %.1fs"
                         % (signal.Signals(sig).name, time.monotonic() - t0))
            eddytest.expect_closed(hw)
            hw.close()

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
        d.send_signal(signal.SIGTERM)
        eddytest.read_all_until_closed(socks)
        for s in socks:
            s.close()
        self.stop_eddyd(d, signal.SIGTERM, send=False)

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
