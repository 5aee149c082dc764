#!/usr/bin/env python3
"""integration.pool - `dispatch pool`: order, connections closed meanwhile,
and a loop that never waits for the pool.

One eddyd from a config file: a pool listener running slow.so
(handlers/examples/slow.c: sleeps `delay` per chunk on a pool thread, then
echoes the chunk) and an echo listener with an empty prefix, pool_threads 4.

- order: one client pipelines 20 distinct chunks (a short pause after each,
  so most arrive as separate reads while the previous one is still in the
  pool; several may also arrive in one read, which changes nothing) and gets
  them back in order, byte-exact; 8 clients at once each get their own.
  Also 2 KiB chunks over 8 clients x 2 rounds, and a half-close after the
  last chunk (every reply, then EOF).
- closed meanwhile: clients send and close at once, or after a few ms, or
  reset (SO_LINGER 0), while their request is in the pool, 300 times; then
  eddyd is up, holds no more fds than before, serves the next client, and
  exits 0 on SIGTERM (the sanitizer builds check for use-after-free and
  leaks).  And a SIGTERM while requests are in the pool: exit 0.
- liveness: with slow at 200ms and every pool thread busy (12 clients
  streaming chunks for seconds, so requests queue), an echo listener on the
  same single worker answers every round trip well under 1 s.

Nothing asserts a speed but the last: 1 s per echo round trip is a bound a
loop that waits for the pool (200 ms x the queue) would cross, and that a
working one (milliseconds; tens of them under sanitizers) never comes near.
"""

import os
import socket
import threading
import time

import eddytest
import opstest
from eddytest import HOST, log

CHUNKS = 20


def fd_count(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def chunk(client, i, size=None):
    """A distinct chunk: client and index in clear, padded to size."""
    head = b"<client %d chunk %02d>" % (client, i)
    if size is None:
        return head
    return (head + b"." * size)[:size - 1] + b"|"


def pipeline(port, client, nchunks=CHUNKS, pause=0.01, size=None, half_close=False,
             timeout=eddytest.IO_TIMEOUT * 2):
    """Send nchunks distinct chunks with `pause` after each, reading
    meanwhile; returns (sent, received) once everything came back (or EOF
    after a half-close)."""
    chunks = [chunk(client, i, size) for i in range(nchunks)]
    want = sum(len(c) for c in chunks)
    s = eddytest.connect(port, timeout=timeout)
    sent = []
    got = []
    err = []

    def reader():
        try:
            total = 0
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                if total >= want and not half_close:
                    return
                b = s.recv(1 << 16)
                if not b:
                    return
                got.append(b)
                total += len(b)
        except Exception as e:  # reported by the caller
            err.append(e)

    t = threading.Thread(target=reader, daemon=True)
    t.start()
    try:
        for c in chunks:
            sent.append(c)
            s.sendall(c)
            if pause:
                time.sleep(pause)
        if half_close:
            s.shutdown(socket.SHUT_WR)
        t.join(timeout + 10)
        if t.is_alive():
            raise AssertionError("client %d: reader still running after %.0fs" % (client, timeout))
        if err:
            raise AssertionError("client %d: %r" % (client, err[0]))
    finally:
        s.close()
    return b"".join(sent), b"".join(got)


class Pool(opstest.OpsTestCase):

    def start(self, delay="50ms", pool_threads=4, workers=2):
        conf = self.config(
            "pool_threads %d\n"
            "listen tcp %s:0 {\n"
            "    handler slow\n"
            "    dispatch pool\n"
            "    delay %s\n"
            "}\n"
            "listen tcp %s:%d {\n"
            "    handler echo\n"
            "    prefix \"\"\n"
            "}\n" % (pool_threads, HOST, delay, HOST, opstest.free_port()),
            workers=workers)
        d = self.run_conf(conf, listeners=2)
        ports = {h: opstest.split_addr(a)[1] for a, h in d.listening}
        self.assertEqual(sorted(ports), ["echo", "slow"], d.listening)
        return d, ports["slow"], ports["echo"]

    def assert_in_order(self, client, sent, got):
        if got != sent:
            n = next((i for i in range(min(len(sent), len(got))) if sent[i] != got[i]),
                     min(len(sent), len(got)))
            self.fail("client %d: replies differ from what was sent at byte %d of %d "
                      "(got %d bytes): sent %r, got %r"
                      % (client, n, len(sent), len(got), sent[n:n + 48], got[n:n + 48]))

    # -- order ----------------------------------------------------------------

    def test_one_client_pipelined_chunks_come_back_in_order(self):
        d, slow, _ = self.start()
        t0 = time.monotonic()
        sent, got = pipeline(slow, 0)
        log("20 chunks through slow (50ms): %.2fs" % (time.monotonic() - t0))
        self.assert_in_order(0, sent, got)
        # Without pauses too: they then arrive in fewer, larger reads.
        sent, got = pipeline(slow, 1, pause=0)
        self.assert_in_order(1, sent, got)
        self.assert_up(d)
        self.stop(d)

    def run_clients(self, port, n, **kw):
        results = [None] * n
        errors = []

        def run(i):
            try:
                results[i] = pipeline(port, i, **kw)
            except BaseException as e:
                errors.append((i, e))

        threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(eddytest.IO_TIMEOUT * 4)
        self.assertFalse([t for t in threads if t.is_alive()], "clients still running")
        self.assertEqual(errors, [])
        for i, (sent, got) in enumerate(results):
            self.assert_in_order(i, sent, got)

    def test_eight_clients_at_once_each_in_order(self):
        d, slow, _ = self.start()
        t0 = time.monotonic()
        self.run_clients(slow, 8)
        log("8 clients x 20 chunks through slow (50ms), 4 pool threads: %.2fs"
            % (time.monotonic() - t0))
        for _ in range(2):
            self.run_clients(slow, 8, size=2048, pause=0.005)
        self.assert_up(d)
        self.stop(d)

    def test_half_close_after_pipelined_chunks(self):
        d, slow, _ = self.start()
        for i in range(4):
            sent, got = pipeline(slow, i, half_close=True, pause=0.01 * (i % 2))
            self.assert_in_order(i, sent, got)
        self.assert_up(d)
        self.stop(d)

    # -- closed while the request is in the pool ----------------------------

    def test_clients_close_or_reset_while_in_the_pool(self):
        d, slow, echo = self.start()
        # Settle: one round trip on each listener (lazily made fds, if any,
        # are made now), then the baseline.
        sent, got = pipeline(slow, 0, nchunks=1)
        self.assert_in_order(0, sent, got)
        s = eddytest.connect(echo)
        self.assertEqual(opstest.echo_request(s, b"x"), b"x")
        s.close()
        time.sleep(0.2)
        base = fd_count(d.pid)
        t0 = time.monotonic()
        n = 0
        for rnd in range(30):
            socks = []
            for k in range(10):
                s = eddytest.connect(slow)
                s.sendall(chunk(rnd, k, 512))
                socks.append((k, s))
            for k, s in socks:
                how = k % 5
                if how == 0:
                    s.close()                          # FIN at once
                elif how == 1:
                    eddytest.set_linger_reset(s)       # RST at once
                    s.close()
                elif how == 2:
                    time.sleep(0.01)                   # mid-sleep in the pool
                    eddytest.set_linger_reset(s)
                    s.close()
                elif how == 3:
                    time.sleep(0.01)
                    s.close()
                else:
                    s.shutdown(socket.SHUT_RDWR)       # FIN, then close
                    s.close()
                n += 1
            if rnd % 10 == 9:
                self.assert_up(d)
        log("%d connections closed or reset while in the pool: %.2fs"
            % (n, time.monotonic() - t0))
        self.assert_up(d)
        # All of them are closed on eddyd's side too, once the pool is done.
        deadline = time.monotonic() + eddytest.IO_TIMEOUT
        now = fd_count(d.pid)
        while now > base and time.monotonic() < deadline:
            time.sleep(0.05)
            now = fd_count(d.pid)
        self.assertLessEqual(now, base, "eddyd holds %d fds, %d before the closes: leaked "
                             "connections" % (now, base))
        # And it serves the next clients.
        sent, got = pipeline(slow, 99, nchunks=5)
        self.assert_in_order(99, sent, got)
        s = eddytest.connect(echo)
        self.assertEqual(opstest.echo_request(s, b"still here"), b"still here")
        s.close()
        self.assert_up(d)
        self.stop(d)

    def test_sigterm_while_requests_are_in_the_pool(self):
        d, slow, _ = self.start(delay="300ms")
        socks = []
        for i in range(12):  # more than the 4 pool threads: some queued
            s = eddytest.connect(slow)
            s.sendall(chunk(i, 0, 256))
            socks.append(s)
        time.sleep(0.1)
        self.stop(d)
        for s in socks:
            # A drained reply or none; then EOF or a reset - never a hang.
            data, how = eddytest.read_until_eof(s)
            self.assertIn(how, ("eof", "reset"))
            s.close()

    # -- the loop never waits for the pool ------------------------------------

    def test_echo_answers_while_every_pool_thread_is_busy(self):
        d, slow, echo = self.start(delay="200ms", pool_threads=4, workers=1)
        stop = threading.Event()
        busy = []
        errors = []

        def keep_busy(i):
            # Stream chunks as long as the test runs; read whatever comes.
            try:
                s = eddytest.connect(slow)
                s.settimeout(0.05)
                n = 0
                deadline = time.monotonic() + 120
                while not stop.is_set() and time.monotonic() < deadline:
                    s.sendall(chunk(i, n % 100, 64))
                    n += 1
                    try:
                        if s.recv(1 << 16):
                            busy.append(i)
                    except socket.timeout:
                        pass
                s.close()
            except BaseException as e:
                errors.append((i, e))

        threads = [threading.Thread(target=keep_busy, args=(i,), daemon=True)
                   for i in range(12)]
        for t in threads:
            t.start()
        try:
            time.sleep(0.5)  # every pool thread is asleep in slow by now
            worst = 0.0
            s = eddytest.connect(echo)
            t_start = time.monotonic()
            for i in range(60):
                msg = b"ping %d" % i
                t0 = time.monotonic()
                got = opstest.echo_request(s, msg, timeout=30)
                dt = time.monotonic() - t0
                self.assertEqual(got, msg)
                worst = max(worst, dt)
                self.assertLess(dt, 1.0, "echo round trip %d took %.3fs while the pool was busy"
                                % (i, dt))
                # A new connection each time too: accept is on the same loop.
                c = eddytest.connect(echo)
                self.assertEqual(opstest.echo_request(c, b"new", timeout=30), b"new")
                c.close()
                time.sleep(0.02)
            s.close()
            span = time.monotonic() - t_start
            log("60 echo round trips beside a busy pool (slow 200ms x 12 clients, "
                "4 threads): worst %.1f ms over %.1fs" % (worst * 1000, span))
        finally:
            stop.set()
            for t in threads:
                t.join(60)
        self.assertEqual(errors, [])
        # The pool really was busy: the slow clients got replies, slowly.
        self.assertTrue(busy, "no slow client got any reply")
        self.assert_up(d)
        self.stop(d)


if __name__ == "__main__":
    eddytest.main()
