#!/usr/bin/env python3
"""integration.emfile - eddyd out of file descriptors.

eddyd runs under `prlimit --nofile=64`; 200 clients connect at once and each
sends one message.  eddyd can hold only ~50 of them (the rest of its fds are
stdio, epoll, listeners).  Expected:
  - the connections it has keep being served (a second round trip each);
  - while accept fails with EMFILE it pauses accepting without a busy loop:
    over a few quiet seconds eddyd's CPU time (utime+stime from
    /proc/PID/stat) stays a small fraction of the wall time;
  - the clients it could not accept wait in the kernel's backlog, they are
    not dropped; once the served clients leave, eddyd accepts again, until
    every one of the 200 got its reply.
"""

import errno
import os
import selectors
import socket
import time

import eddytest
from eddytest import EddyTestCase, EchoChecker, HOST

NOFILE = 64
NCLIENTS = 200
MSG = 64


class Client:
    def __init__(self, i):
        self.i = i
        self.sock = None
        self.connected = False
        self.checker = EchoChecker(stream=i, name="client %d" % i)
        self.expect = 0        # payload bytes sent so far
        self.served_at = None  # time its first reply completed
        self.closed_by_peer = None
        self.gone = False      # we closed it


class Emfile(EddyTestCase):

    def pump(self, sel, until, timeout, what):
        """Run the selector until until() is true; fail after timeout."""
        deadline = time.monotonic() + timeout
        while not until():
            left = deadline - time.monotonic()
            if left <= 0:
                self.fail("timed out after %.0fs waiting for %s" % (timeout, what))
            for key, ev in sel.select(min(left, 0.5)):
                self.handle(sel, key.data, ev)

    def handle(self, sel, c, ev):
        s = c.sock
        if not c.connected:
            err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if err:
                self.fail("client %d: connect failed: %s" % (c.i, os.strerror(err)))
            c.connected = True
            s.send(eddytest.payload(MSG, c.i, 0))
            c.expect = MSG
            sel.modify(s, selectors.EVENT_READ, c)
            return
        try:
            b = s.recv(4096)
        except BlockingIOError:
            return
        except ConnectionResetError:
            b = b""
        if not b:
            c.closed_by_peer = time.monotonic()
            sel.unregister(s)
            return
        c.checker.feed(b)
        if c.checker.complete(c.expect) and c.served_at is None:
            c.served_at = time.monotonic()

    def test_out_of_fds_pauses_then_resumes(self):
        self.assertGreater(eddytest.nofile_soft(), NCLIENTS + 64)
        d = self.start_eddyd(workers=2, nofile=NOFILE)
        with open("/proc/%d/limits" % d.pid) as f:
            limits = f.read()
        self.assertRegex(limits, r"Max open files\s+%d\s" % NOFILE, "prlimit not in effect")
        eddytest.echo_once(d.port)
        base_fds = d.fd_count()
        eddytest.log("eddyd uses %d fds before any client (limit %d)" % (base_fds, NOFILE))

        sel = selectors.DefaultSelector()
        clients = [Client(i) for i in range(NCLIENTS)]
        try:
            for c in clients:
                s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                s.setblocking(False)
                err = s.connect_ex((HOST, d.port))
                self.assertIn(err, (0, errno.EINPROGRESS), os.strerror(err))
                c.sock = s
                sel.register(s, selectors.EVENT_WRITE, c)

            # Phase 1: eddyd serves as many as it can hold.  Wait until the
            # served count has not grown for 3 s (at least one served).
            last = [0, time.monotonic()]

            def settled():
                n = sum(1 for c in clients if c.served_at is not None)
                now = time.monotonic()
                if n != last[0]:
                    last[0], last[1] = n, now
                return n > 0 and now - last[1] > 3.0

            self.pump(sel, settled, 180, "eddyd to serve a first batch of clients")
            served = [c for c in clients if c.served_at is not None]
            dropped = [c.i for c in clients if c.closed_by_peer is not None]
            eddytest.log("phase 1: %d of %d clients served under nofile=%d"
                         % (len(served), NCLIENTS, NOFILE))
            self.assertEqual(dropped, [], "eddyd closed waiting clients instead of pausing accept")
            self.assertLess(len(served), NCLIENTS,
                            "all %d clients served with only %d fds: limit not reached?"
                            % (NCLIENTS, NOFILE))
            self.assertLessEqual(len(served), NOFILE)
            self.assert_alive(d)

            # Phase 2: the ones it has keep being served.
            for c in served:
                c.sock.send(eddytest.payload(MSG, c.i, c.expect))
                c.expect += MSG
            self.pump(sel, lambda: all(c.checker.complete(c.expect) for c in served), 120,
                      "second round trip of the served clients")
            self.assertEqual([c.i for c in clients if c.closed_by_peer is not None], [])

            # Phase 3: paused, not spinning.  Nothing to do for eddyd but
            # the listening sockets that stay readable.
            wall0, cpu0 = time.monotonic(), d.cpu_seconds()
            time.sleep(3.0)
            wall, cpu = time.monotonic() - wall0, d.cpu_seconds() - cpu0
            eddytest.log("phase 3: eddyd used %.2fs CPU in %.2fs wall while accept was paused"
                         % (cpu, wall))
            self.assertLess(cpu, 0.25 * wall,
                            "eddyd burns CPU while out of fds (%.2fs CPU in %.2fs): busy loop"
                            % (cpu, wall))
            self.assert_alive(d)

            # Phase 4: the served clients leave; eddyd accepts again.  Every
            # client is closed as soon as it is served, until all 200 were.
            for c in served:
                sel.unregister(c.sock)
                c.sock.close()
                c.gone = True

            def all_served():
                for c in clients:
                    if c.served_at is not None and not c.gone:
                        sel.unregister(c.sock)
                        c.sock.close()
                        c.gone = True
                return all(c.served_at is not None or c.closed_by_peer is not None
                           for c in clients)

            self.pump(sel, all_served, 300, "eddyd to accept and serve the waiting clients")
            dropped = [c.i for c in clients if c.closed_by_peer is not None and c.served_at is None]
            self.assertEqual(dropped, [], "waiting clients closed unserved")
            eddytest.log("phase 4: all %d clients served" % NCLIENTS)
        finally:
            for c in clients:
                if not c.gone and c.sock is not None:
                    c.sock.close()
            sel.close()

        # Phase 5: back to normal: a fresh batch of 40 concurrent clients
        # (under the fd limit) is served, and no fd leaked.
        self.wait_fds(d, base_fds)
        eddytest.run_clients(d.port, 40, 4096, 10, pipelined=True, timeout=300)
        self.wait_fds(d, base_fds)
        self.stop_eddyd(d)

    def test_repeated_exhaustion(self):
        # Hit the limit three times in a row; each time eddyd recovers.
        d = self.start_eddyd(workers=1, nofile=NOFILE)
        eddytest.echo_once(d.port)
        base_fds = d.fd_count()
        for round_ in range(3):
            socks = []
            for i in range(100):
                s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                s.setblocking(False)
                err = s.connect_ex((HOST, d.port))
                self.assertIn(err, (0, errno.EINPROGRESS), os.strerror(err))
                socks.append(s)
            # Wait until eddyd has run out of fds, then everybody leaves.
            deadline = time.monotonic() + 120
            while d.fd_count() < NOFILE - 4:
                self.assertLess(time.monotonic(), deadline,
                                "eddyd never came near its fd limit (%d fds)" % d.fd_count())
                time.sleep(0.05)
            self.assert_alive(d)
            for s in socks:
                s.close()
            self.wait_fds(d, base_fds, timeout=120)
            eddytest.echo_once(d.port)
            self.assert_alive(d)
        self.stop_eddyd(d)


if __name__ == "__main__":
    eddytest.main()
