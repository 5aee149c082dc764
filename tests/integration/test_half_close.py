#!/usr/bin/env python3
"""integration.half_close - the client shuts down its write side
(shutdown(SHUT_WR)): eddyd flushes every reply still queued, then closes.
The client reads all replies, byte-exact, then EOF (not a reset)."""

import select
import socket
import time

import eddytest
from eddytest import EddyTestCase, EchoChecker

KIB = 1024
MIB = 1024 * KIB


class HalfClose(EddyTestCase):

    def setUp(self):
        self.d = self.start_eddyd(workers=2)
        eddytest.echo_once(self.d.port)
        self.base_fds = self.d.fd_count()

    def finish(self):
        self.assert_alive(self.d)
        self.wait_fds(self.d, self.base_fds)
        eddytest.echo_once(self.d.port)
        self.stop_eddyd(self.d)

    def read_all_then_eof(self, s, checker, total):
        data, how = eddytest.read_until_eof(s, timeout=120)
        self.assertEqual(how, "eof", "connection reset instead of closed after the replies "
                         "(%d bytes read)" % len(data))
        checker.feed(data)
        checker.check_final(total)

    def test_small_message_then_shutdown(self):
        s = eddytest.connect(self.d.port)
        s.sendall(b"hello, half-closed")
        s.shutdown(socket.SHUT_WR)
        data, how = eddytest.read_until_eof(s)
        self.assertEqual(how, "eof")
        self.assertEqual(data, b"Received: hello, half-closed")
        s.close()
        self.finish()

    def test_shutdown_without_sending(self):
        s = eddytest.connect(self.d.port)
        s.shutdown(socket.SHUT_WR)
        data, how = eddytest.read_until_eof(s)
        self.assertEqual((data, how), (b"", "eof"))
        s.close()
        self.finish()

    def test_queued_output_is_flushed_before_close(self):
        # A 4 KiB receive window and 512 KiB sent without reading: eddyd
        # reads it all (under the 1 MiB high-water mark) but most replies
        # wait in its output queue when the FIN arrives.
        for i in range(5):
            s = eddytest.connect(self.d.port, rcvbuf=4096)
            s.sendall(eddytest.payload(512 * KIB, i))
            s.shutdown(socket.SHUT_WR)
            eddytest.wait_sent(s)      # eddyd's kernel has data and FIN
            time.sleep(0.2)            # let eddyd see the FIN with output queued
            self.read_all_then_eof(s, EchoChecker(stream=i, name="client %d" % i), 512 * KIB)
            s.close()
        self.finish()

    def test_shutdown_at_high_water_mark(self):
        # Send until eddyd stops reading (output over the mark), shut down
        # the write side, then read: eddyd must resume, read the rest, echo
        # everything, and only then close.
        # A 4 KiB receive window: eddyd's kernel send buffer stays full while
        # we read, so replies are still queued in eddyd when it reads the FIN.
        s = eddytest.connect(self.d.port, rcvbuf=4096, sndbuf=65536)
        s.setblocking(False)
        sent = 0
        limit = 32 * MIB
        deadline = time.monotonic() + 120
        while sent < limit and time.monotonic() < deadline:
            _, w, _ = select.select([], [s], [], 2.0)
            if not w:
                break
            try:
                sent += s.send(eddytest.payload(min(64 * KIB, limit - sent), 3, sent))
            except BlockingIOError:
                pass
        s.setblocking(True)
        eddytest.log("sent %.1f MiB before eddyd stopped reading" % (sent / MIB))
        s.shutdown(socket.SHUT_WR)
        # Read in small steps with pauses, so eddyd's kernel send buffer is
        # full again each time it resumes reading: when it reads the FIN,
        # replies are queued in eddyd itself, and must still all come out.
        # (The pauses only make a wrong eddyd fail more surely; a right one
        # passes whatever the timing.)
        checker = EchoChecker(stream=3)
        s.settimeout(120)
        step_deadline = time.monotonic() + 300
        while True:
            self.assertLess(time.monotonic(), step_deadline, "no EOF within 300s")
            got = 0
            eof = False
            while got < 128 * KIB:
                b = s.recv(min(64 * KIB, 128 * KIB - got))
                if not b:
                    eof = True
                    break
                got += len(b)
                checker.feed(b)
            if eof:
                break
            time.sleep(0.05)
        checker.check_final(sent)
        s.close()
        self.finish()

    def test_many_half_closes_at_once(self):
        # 200 clients each send 16 KiB and shut down at once; each reads its
        # whole echo then EOF.
        socks = []
        for i in range(200):
            s = eddytest.connect(self.d.port)
            s.sendall(eddytest.payload(16 * KIB, i))
            s.shutdown(socket.SHUT_WR)
            socks.append(s)
        for i, s in enumerate(socks):
            self.read_all_then_eof(s, EchoChecker(stream=i, name="client %d" % i), 16 * KIB)
            s.close()
        self.finish()

    def test_pure_echo_half_close(self):
        # With --prefix '' the stream read back equals the stream sent.
        d = self.start_eddyd(workers=1, prefix="")
        s = eddytest.connect(d.port, rcvbuf=4096)
        data = eddytest.payload(300 * KIB, 9)
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)
        got, how = eddytest.read_until_eof(s, timeout=120)
        self.assertEqual(how, "eof")
        self.assertEqual(len(got), len(data))
        self.assertTrue(got == data, "pure echo differs from what was sent")
        s.close()
        self.stop_eddyd(d)
        self.finish()


if __name__ == "__main__":
    eddytest.main()
