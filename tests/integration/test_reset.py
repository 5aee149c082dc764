#!/usr/bin/env python3
"""integration.reset - a client resets its connection (SO_LINGER 0, so close
sends RST) while eddyd has output queued for it or is writing to it.

eddyd's next write gets EPIPE/ECONNRESET (SIGPIPE must be ignored): only
that connection closes.  Other clients keep being served, eddyd stays up,
and the reset connection's fd is released (eddyd's fd count returns to what
it was)."""

import select
import socket
import threading
import time

import eddytest
from eddytest import EddyTestCase, set_linger_reset

KIB = 1024


class Reset(EddyTestCase):

    def setUp(self):
        # One worker: the resets and the bystander share a loop.
        self.d = self.start_eddyd(workers=1)
        self.by = eddytest.connect(self.d.port)
        self.by_checker = eddytest.EchoChecker(stream=1000, name="bystander")
        eddytest.roundtrip(self.by, 4 * KIB, self.by_checker)
        self.base_fds = self.d.fd_count()

    def tearDown(self):
        self.by.close()

    def bystander_ok(self):
        eddytest.roundtrip(self.by, 4 * KIB, self.by_checker)
        self.assert_alive(self.d)

    def finish(self):
        self.bystander_ok()
        eddytest.echo_once(self.d.port)
        self.wait_fds(self.d, self.base_fds)
        self.stop_eddyd(self.d)

    def test_reset_with_output_queued(self):
        # Tiny receive window + 256 KiB sent: eddyd reads it all (under the
        # high-water mark) but can only write a little; the rest is queued
        # in eddyd when the RST arrives.
        for i in range(20):
            s = eddytest.connect(self.d.port, rcvbuf=4096)
            s.sendall(eddytest.payload(256 * KIB, i))
            eddytest.wait_sent(s)
            set_linger_reset(s)
            s.close()
            self.bystander_ok()
        self.finish()

    def test_reset_right_after_sending(self):
        # RST while eddyd is still reading/echoing: its writes race the RST.
        for i in range(50):
            s = eddytest.connect(self.d.port, rcvbuf=4096)
            s.sendall(eddytest.payload(64 * KIB, i))
            set_linger_reset(s)
            s.close()
        self.bystander_ok()
        self.finish()

    def test_reset_at_high_water_mark(self):
        # The client sends until eddyd stops reading it (output above the
        # mark, kernel buffers full), then resets.
        for i in range(3):
            s = eddytest.connect(self.d.port, rcvbuf=65536, sndbuf=65536)
            eddytest.fill_until_stalled(s, i)
            set_linger_reset(s)
            s.close()
            self.bystander_ok()
        self.finish()

    def test_reset_after_half_close(self):
        # eddyd's socket is in CLOSE_WAIT (it got our FIN) with replies
        # queued in eddyd, then we reset: on Linux eddyd's next write fails
        # with EPIPE, which raises SIGPIPE unless eddyd ignores it.
        for i in range(5):
            s = eddytest.connect(self.d.port, rcvbuf=4096, sndbuf=65536)
            sent = eddytest.fill_until_stalled(s, i)
            s.shutdown(socket.SHUT_WR)
            # Read just enough for eddyd to resume and take in the rest of
            # our bytes and the FIN (our socket reaches FIN_WAIT2); most
            # replies are still queued in eddyd.
            deadline = time.monotonic() + 120
            got = 0
            s.settimeout(60)
            while eddytest.tcp_state(s) != eddytest.TCP_FIN_WAIT2:
                self.assertLess(time.monotonic(), deadline, "eddyd never took our FIN")
                r, _, _ = select.select([s], [], [], 0.05)
                if r:
                    b = s.recv(16 * KIB)
                    self.assertTrue(b, "EOF after %d of the replies to %d bytes" % (got, sent))
                    got += len(b)
            set_linger_reset(s)
            s.close()
            self.bystander_ok()
        self.finish()

    def test_reset_after_reading_some(self):
        # The client reads part of the reply, then resets mid-stream.
        for i in range(10):
            s = eddytest.connect(self.d.port, rcvbuf=8192)
            s.sendall(eddytest.payload(200 * KIB, i))
            got = 0
            while got < 50 * KIB:
                b = s.recv(8192)
                self.assertTrue(b, "EOF before any reply")
                got += len(b)
            set_linger_reset(s)
            s.close()
            self.bystander_ok()
        self.finish()

    def test_many_resets_while_others_stream(self):
        # 100 resets from a thread while 8 clients stream 4 KiB messages:
        # none of the 8 sees an error or a wrong byte.
        stop = threading.Event()
        errors = []

        def resetter():
            try:
                for i in range(100):
                    if stop.is_set():
                        return
                    s = eddytest.connect(self.d.port, rcvbuf=4096)
                    s.sendall(eddytest.payload(32 * KIB, 500 + i))
                    set_linger_reset(s)
                    s.close()
            except Exception as e:      # reported below
                errors.append(e)

        t = threading.Thread(target=resetter)
        t.start()
        try:
            eddytest.run_clients(self.d.port, 8, 4 * KIB, 200, pipelined=True, timeout=300)
        finally:
            stop.set()
            t.join(120)
        self.assertFalse(t.is_alive(), "resetter thread hung")
        self.assertEqual(errors, [])
        self.finish()


if __name__ == "__main__":
    eddytest.main()
