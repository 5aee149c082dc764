#!/usr/bin/env python3
"""bench.peers - the hand-written peers that the benchmark compares eddy with
answer as eddyd's echo does, whatever the client does: the epoll floor
(peer-epoll) and the io_uring peer (peer-uring, in each of its modes).

Each test starts the real binary on a free loopback port and talks to it
over real sockets: prefix + each chunk, a pure echo of a pipelined stream on
many connections, a client that sends 24 MiB before reading anything (the
peer must stop reading it, then deliver every byte once it reads), resets,
and running out of file descriptors.  No figure depends on timing.

    python3 bench/test_peers.py BUILD/bench [-k name]
"""

import os
import re
import socket
import struct
import subprocess
import sys
import threading
import time
import unittest

BENCH = None  # the build's bench/ folder (argv[1])


def wait_port(p):
    """The port of a peer's ready line (stderr), within 10 s."""
    deadline = time.monotonic() + 10
    line = b""
    while time.monotonic() < deadline and p.poll() is None:
        line += os.read(p.stderr.fileno(), 4096)
        m = re.search(rb"listening on 127\.0\.0\.1:(\d+)", line)
        if m:
            return int(m.group(1))
    raise AssertionError("peer not ready: %r (exit %s)" % (line, p.poll()))


def pattern(n, seed=1):
    """n bytes that differ from one position to the next."""
    out = bytearray()
    x = seed
    while len(out) < n:
        x = (x * 1103515245 + 12345) & 0x7FFFFFFF
        out += struct.pack("<I", x)
    return bytes(out[:n])


def recv_exact(s, n):
    buf = bytearray()
    while len(buf) < n:
        chunk = s.recv(min(1 << 20, n - len(buf)))
        if not chunk:
            raise AssertionError("EOF after %d of %d bytes" % (len(buf), n))
        buf += chunk
    return bytes(buf)


class Peer:
    """A running peer: `with Peer(exe, args) as port:`."""

    def __init__(self, exe, args=(), preexec=None):
        self.argv = [os.path.join(BENCH, exe), "--port", "0"] + list(args)
        self.preexec = preexec

    def __enter__(self):
        self.p = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.PIPE, preexec_fn=self.preexec)
        try:
            return wait_port(self.p)
        except BaseException:
            self.__exit__()
            raise

    def __exit__(self, *exc):
        alive = self.p.poll() is None
        self.p.kill()
        self.p.wait(timeout=10)
        self.p.stderr.close()
        if exc and exc[0] is None:
            assert alive, "the peer exited during the test: %s" % self.p.returncode


def connect(port):
    s = socket.create_connection(("127.0.0.1", port), timeout=60)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


class Common:
    """Tests every peer passes; subclasses name the binary and its mode."""

    exe = None
    mode = []

    def peer(self, *args, **kw):
        return Peer(self.exe, self.mode + list(args), **kw)

    def test_prefix(self):
        with self.peer("--prefix", "Received: ") as port:
            s = connect(port)
            for msg in (b"hello", b"x", pattern(4096)):
                s.sendall(msg)
                self.assertEqual(recv_exact(s, 10 + len(msg)), b"Received: " + msg)
            s.close()

    def test_pipelined_pure_echo_on_many_connections(self):
        with self.peer() as port:
            socks = [connect(port) for _ in range(50)]
            data = [pattern(200000, seed=i + 1) for i in range(len(socks))]
            writers = [threading.Thread(target=s.sendall, args=(d,)) for s, d in zip(socks, data)]
            for t in writers:
                t.start()
            for s, d in zip(socks, data):
                self.assertEqual(recv_exact(s, len(d)), d)
            for t in writers:
                t.join()
            for s in socks:
                s.close()

    def test_client_that_does_not_read(self):
        """24 MiB sent before a byte is read: the peer queues at most about
        4 MiB of it, stops reading, and delivers all of it in order once the
        client reads."""
        with self.peer("--prefix", "P") as port:
            s = connect(port)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 16)
            data = pattern(24 << 20, seed=7).replace(b"P", b"q")
            w = threading.Thread(target=s.sendall, args=(data,))
            w.start()
            time.sleep(2)  # the writer fills every buffer on the way and blocks
            got = bytearray()
            while len(got) - got.count(b"P") < len(data):
                chunk = s.recv(1 << 20)
                self.assertTrue(chunk, "EOF after %d bytes" % len(got))
                got += chunk
            w.join()
            self.assertEqual(bytes(got).replace(b"P", b""), data)
            s.close()

    def test_resets_leave_the_others_served(self):
        with self.peer() as port:
            keep = connect(port)
            for _ in range(20):
                s = connect(port)
                s.sendall(pattern(100000))
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                s.close()  # RST, replies unread
            keep.sendall(b"still here")
            self.assertEqual(recv_exact(keep, 10), b"still here")
            keep.close()

    def test_out_of_descriptors(self):
        """With 40 descriptors, 60 clients: the first are served; the others
        wait in the backlog and are served once the first ones leave."""
        def low_limit():
            import resource
            resource.setrlimit(resource.RLIMIT_NOFILE, (40, 40))

        with self.peer(preexec=low_limit) as port:
            socks = [connect(port) for _ in range(60)]
            for i, s in enumerate(socks[:20]):
                s.sendall(b"%d" % i)
                self.assertEqual(recv_exact(s, len(b"%d" % i)), b"%d" % i)
            for s in socks[:30]:
                s.close()
            for i, s in enumerate(socks[30:]):
                s.sendall(b"late %d" % i)
                self.assertEqual(recv_exact(s, len(b"late %d" % i)), b"late %d" % i)
                s.close()


def uring_enabled():
    """Whether this kernel lets a process set up an io_uring (a machine
    may switch it off: kernel.io_uring_disabled, since Linux 6.6)."""
    try:
        with open("/proc/sys/kernel/io_uring_disabled") as f:
            return f.read().strip() == "0"
    except FileNotFoundError:
        return True


NO_URING = "io_uring is disabled here (kernel.io_uring_disabled)"


class EpollFloor(Common, unittest.TestCase):
    exe = "peer-epoll"


@unittest.skipUnless(uring_enabled(), NO_URING)
class UringRing(Common, unittest.TestCase):
    exe = "peer-uring"

    def test_bad_mode(self):
        for mode in ("fast", "ring,bufs=3", "ring,bufs=4x", "copy,size=1", "ring,coop,x", ""):
            r = subprocess.run([os.path.join(BENCH, self.exe), "--port", "0", "--mode", mode],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=10)
            self.assertEqual(r.returncode, 2, mode)
            self.assertIn(b"usage", r.stderr)


@unittest.skipUnless(uring_enabled(), NO_URING)
class UringCopy(Common, unittest.TestCase):
    exe = "peer-uring"
    mode = ["--mode", "copy"]


@unittest.skipUnless(uring_enabled(), NO_URING)
class UringSmallRing(Common, unittest.TestCase):
    """Four 4 KiB buffers: receives keep running out of buffers and are
    armed again; COOP_TASKRUN instead of DEFER_TASKRUN, ring fd not
    registered."""
    exe = "peer-uring"
    mode = ["--mode", "ring,bufs=4,size=4096,coop,noreg"]


if __name__ == "__main__":
    if len(sys.argv) < 2 or not os.path.isdir(sys.argv[1]):
        sys.exit("usage: test_peers.py BUILD/bench [unittest args]")
    BENCH = sys.argv.pop(1)
    unittest.main()
