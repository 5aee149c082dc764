#!/usr/bin/env python3
"""integration.seed - the seed document's Python client against eddyd.

The seed (shared/seed/000_*.txt) connects a plain socket to the server,
sends bytes and receives `Received: ` followed by what it sent.  Here that
client runs almost verbatim (only the port is eddyd's ephemeral one, and the
recv is repeated until the whole reply is in: TCP may split it), plus the
prefix variants of --prefix.
"""

import socket
import time

import eddytest
from eddytest import EddyTestCase, HOST


def seed_client(port, message):
    """The seed's client: socket, connect, send, recv."""
    HOST = '127.0.0.1'
    PORT = port

    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)  # af_inet is ipv4, sock stream is a port
    s.settimeout(eddytest.IO_TIMEOUT)
    s.connect((HOST, PORT))
    s.send(message)
    data = s.recv(1024)
    # One recv is what the seed does; loop only in case TCP split the reply.
    want = len(b"Received: ") + len(message)
    deadline = time.monotonic() + eddytest.IO_TIMEOUT
    while len(data) < want and time.monotonic() < deadline:
        more = s.recv(1024)
        if not more:
            break
        data += more
    s.close()
    return data


class Seed(EddyTestCase):

    def test_seed_client_gets_received_prefix(self):
        d = self.start_eddyd()
        self.assertEqual(seed_client(d.port, b"Hello, server"), b"Received: Hello, server")
        self.assert_alive(d)
        self.stop_eddyd(d)

    def test_seed_client_many_times(self):
        # The seed's client is one connection per message; do it 200 times,
        # with messages of 1..1000 bytes (all fit one 1024-byte recv).
        d = self.start_eddyd()
        for i in range(200):
            msg = (b"message %d " % i) * (1 + (i * 37) % 80)
            msg = msg[:1000]
            self.assertEqual(seed_client(d.port, msg), b"Received: " + msg, "message %d" % i)
        self.stop_eddyd(d)

    def test_several_messages_on_one_connection(self):
        # Not pipelined: each reply comes back before the next send.
        d = self.start_eddyd()
        s = eddytest.connect(d.port)
        for i in range(100):
            msg = b"line %d\n" % i
            s.sendall(msg)
            want = b"Received: " + msg
            got = b""
            while len(got) < len(want):
                b = s.recv(4096)
                self.assertTrue(b, "EOF after %r" % got)
                got += b
            self.assertEqual(got, want)
        s.close()
        self.stop_eddyd(d)

    def test_binary_bytes_are_echoed_unchanged(self):
        # Every byte value, NUL and newline included, comes back as is.
        d = self.start_eddyd()
        msg = bytes(range(256))
        self.assertEqual(seed_client(d.port, msg), b"Received: " + msg)
        self.stop_eddyd(d)

    def test_empty_prefix_is_pure_echo(self):
        d = self.start_eddyd(prefix="")
        s = eddytest.connect(d.port)
        msg = bytes(range(256)) * 3
        s.sendall(msg)
        got = b""
        while len(got) < len(msg):
            b = s.recv(4096)
            self.assertTrue(b, "EOF after %d bytes" % len(got))
            got += b
        self.assertEqual(got, msg)
        s.close()
        self.stop_eddyd(d)

    def test_custom_prefix(self):
        d = self.start_eddyd(prefix=">> ")
        eddytest.echo_once(d.port, b"hi there", prefix=b">> ")
        self.stop_eddyd(d)

    def test_seed_client_on_default_address(self):
        # eddyd with no --listen serves 127.0.0.1:7777, exactly the seed's
        # HOST and PORT.  Only when 7777 is free on this machine.
        if not eddytest.port_is_free(7777):
            self.skipTest("127.0.0.1:7777 is in use on this machine")
        d = self.start_eddyd(listen=None)
        self.assertEqual((d.address, d.port), (HOST, 7777), d.ready_line)
        self.assertEqual(seed_client(7777, b"Hello"), b"Received: Hello")
        self.stop_eddyd(d)


if __name__ == "__main__":
    eddytest.main()
