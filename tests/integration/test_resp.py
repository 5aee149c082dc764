#!/usr/bin/env python3
"""integration.resp - the resp handler (build/plugins/resp.so) in the real
eddyd, from a generated config on port 0, driven by Python sockets and by
redis-cli.

Covers: every command with its exact reply bytes (PING, ECHO, SET with
NX/XX/GET/EX/PX/KEEPTTL, GET, DEL, EXISTS, INCR/DECR/INCRBY/DECRBY and their
errors, MSET/MGET, TTL/PTTL, DBSIZE, FLUSHALL, SELECT, HELLO, CLIENT,
COMMAND, CONFIG GET, unknown commands and wrong arity), inline commands with
quotes, 1,000 pipelined commands in one write and a burst sent one byte at a
time, each protocol error answered with Redis's text and then EOF (the 2 GB
bulk declared, a bad multibulk count, a missing '$', a 64 KiB inline line)
with eddyd serving on, an HTTP POST carrying a command closed unrun (as
redis-server does) however it is cut, QUIT, a 400 KiB value, max_memory's OOM reply, the key
space shared by connections on different workers (and INCR from 8 clients
adding up exactly), bad parameters refused by eddyd -t, redis-cli (set, get,
ping, incr), and a clean stop (exit 0, no sanitizer report).

Differential tests send the same commands to a real redis-server and to
eddyd and compare the replies byte for byte: strings (APPEND, STRLEN, GETSET,
GETDEL, MSET/MGET, SET with every option, SETEX/PSETEX, KEYS), expiry
(EXPIRE/PEXPIRE with NX/XX/GT/LT, PERSIST, TTL, deadlines passing, DBSIZE not
counting expired keys), MULTI/EXEC/DISCARD (EXECABORT, errors inside EXEC)
and SCAN (a whole iteration's keys); a transaction is applied at EXEC, all
at once for other clients.

redis-cli (Debian package redis-tools) must be installed (scripts/test
installs it); the test fails, rather than skips, without it.  The
differential tests skip without redis-server (scripts/test installs it).
"""

import os
import re
import shutil
import socket
import subprocess
import tempfile
import threading
import time

import eddytest
from eddytest import EddyTestCase


def recv_exact(s, n):
    got = b""
    while len(got) < n:
        b = s.recv(n - len(got))
        if not b:
            raise AssertionError("EOF after %d of %d bytes: %r" % (len(got), n, got[-200:]))
        got += b
    return got


def expect_eof(test, s):
    try:
        b = s.recv(1)
    except ConnectionResetError:
        return  # closed with request bytes unread: a reset is an end too
    test.assertEqual(b, b"", "expected EOF")


class Replies:
    """Reads whole RESP2 replies from a socket, as raw bytes."""

    def __init__(self, s):
        self.s = s
        self.buf = b""

    def _fill(self):
        b = self.s.recv(1 << 16)
        if not b:
            raise AssertionError("EOF in the middle of replies; have %r" % self.buf[-200:])
        self.buf += b

    def _line(self, at):
        while True:
            i = self.buf.find(b"\r\n", at)
            if i >= 0:
                return i
            self._fill()

    def _end(self, at):
        """Offset just past the reply that starts at `at`."""
        while len(self.buf) <= at:
            self._fill()
        i = self._line(at)
        kind, head = self.buf[at:at + 1], self.buf[at + 1:i]
        if kind in (b"+", b"-", b":"):
            return i + 2
        n = int(head)
        if kind == b"$":
            if n < 0:
                return i + 2
            while len(self.buf) < i + 2 + n + 2:
                self._fill()
            return i + 2 + n + 2
        if kind == b"*":
            at = i + 2
            for _ in range(max(n, 0)):
                at = self._end(at)
            return at
        raise AssertionError("not a RESP2 reply: %r" % self.buf[at:at + 80])

    def one(self):
        end = self._end(0)
        r, self.buf = self.buf[:end], self.buf[end:]
        return r


def command(*args):
    """A multibulk command from str/bytes/int arguments."""
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        if isinstance(a, int):
            a = str(a)
        if isinstance(a, str):
            a = a.encode()
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


def bulk(v):
    return b"$%d\r\n%s\r\n" % (len(v), v)


OK = b"+OK\r\n"
NIL = b"$-1\r\n"


class Resp(EddyTestCase):

    def start_resp(self, params="", workers=2):
        d = tempfile.mkdtemp(prefix="eddy-resp-")
        self.addCleanup(shutil.rmtree, d, True)
        conf = os.path.join(d, "resp.conf")
        with open(conf, "w") as f:
            f.write("workers %d\nlisten tcp 127.0.0.1:0 {\n    handler resp\n%s}\n"
                    % (workers, params))
        eddyd = self.start_eddyd(listen=None, workers=None, extra=["-c", conf])
        self.assertIn("handler resp", eddyd.ready_line)
        return eddyd

    def client(self, d):
        s = eddytest.connect(d.port)
        self.addCleanup(s.close)
        return s, Replies(s)

    def call(self, s, r, *args):
        s.sendall(command(*args))
        return r.one()

    def check(self, s, r, pairs):
        """(command args tuple, expected reply bytes) pairs, one at a time."""
        for args, want in pairs:
            self.assertEqual(self.call(s, r, *args), want, "command %r" % (args,))

    def test_every_command(self):
        d = self.start_resp()
        s, r = self.client(d)
        self.check(s, r, [
            (("PING",), b"+PONG\r\n"),
            (("ping", "hello"), bulk(b"hello")),
            (("PING", "a", "b"), b"-ERR wrong number of arguments for 'ping' command\r\n"),
            (("ECHO", "x y"), bulk(b"x y")),
            (("ECHO", ""), bulk(b"")),
            (("ECHO",), b"-ERR wrong number of arguments for 'echo' command\r\n"),
            (("GET", "k"), NIL),
            (("SET", "k", "v1"), OK),
            (("GET", "k"), bulk(b"v1")),
            (("set", "k", "a longer value"), OK),
            (("get", "k"), bulk(b"a longer value")),
            (("SET", "bin", b"\x00\r\n\xff"), OK),
            (("GET", "bin"), bulk(b"\x00\r\n\xff")),
            (("SET", "k"), b"-ERR wrong number of arguments for 'set' command\r\n"),
            (("GET", "k", "x"), b"-ERR wrong number of arguments for 'get' command\r\n"),
            # SET options
            (("SET", "k", "v2", "NX"), NIL),
            (("SET", "new", "n", "NX"), OK),
            (("SET", "absent", "n", "XX"), NIL),
            (("SET", "k", "v3", "XX", "GET"), bulk(b"a longer value")),
            (("SET", "none", "v", "GET"), NIL),
            (("SET", "k", "v", "NX", "XX"), b"-ERR syntax error\r\n"),
            (("SET", "k", "v", "BOGUS"), b"-ERR syntax error\r\n"),
            (("SET", "k", "v", "EX"), b"-ERR syntax error\r\n"),
            (("SET", "k", "v", "EX", "ten"),
             b"-ERR value is not an integer or out of range\r\n"),
            (("SET", "k", "v", "EX", "0"), b"-ERR invalid expire time in 'set' command\r\n"),
            (("SET", "k", "v", "PX", "-5"), b"-ERR invalid expire time in 'set' command\r\n"),
            (("SET", "t", "v", "EX", "100"), OK),
            (("TTL", "t"), b":100\r\n"),
            (("SET", "t", "w", "KEEPTTL"), OK),
            (("TTL", "t"), b":100\r\n"),
            (("SET", "t", "w"), OK),
            (("TTL", "t"), b":-1\r\n"),
            (("TTL", "nope"), b":-2\r\n"),
            (("PTTL", "nope"), b":-2\r\n"),
            # DEL / EXISTS
            (("EXISTS", "k", "k", "nope", "new"), b":3\r\n"),
            (("DEL", "k", "nope", "new"), b":2\r\n"),
            (("EXISTS", "k"), b":0\r\n"),
            (("DEL",), b"-ERR wrong number of arguments for 'del' command\r\n"),
            # counters
            (("INCR", "n"), b":1\r\n"),
            (("INCR", "n"), b":2\r\n"),
            (("INCRBY", "n", "40"), b":42\r\n"),
            (("DECR", "n"), b":41\r\n"),
            (("DECRBY", "n", "50"), b":-9\r\n"),
            (("GET", "n"), bulk(b"-9")),
            (("INCRBY", "n", "x"), b"-ERR value is not an integer or out of range\r\n"),
            (("SET", "s", "abc"), OK),
            (("INCR", "s"), b"-ERR value is not an integer or out of range\r\n"),
            (("SET", "s", " 1"), OK),
            (("INCR", "s"), b"-ERR value is not an integer or out of range\r\n"),
            (("SET", "max", "9223372036854775807"), OK),
            (("INCR", "max"), b"-ERR increment or decrement would overflow\r\n"),
            (("SET", "big", "9223372036854775808"), OK),
            (("INCR", "big"), b"-ERR value is not an integer or out of range\r\n"),
            (("DECRBY", "n", "-9223372036854775808"), b"-ERR decrement would overflow\r\n"),
            # several keys
            (("MSET", "a", "1", "b", "2"), OK),
            (("MGET", "a", "nope", "b"), b"*3\r\n$1\r\n1\r\n$-1\r\n$1\r\n2\r\n"),
            (("MSET", "a", "1", "b"), b"-ERR wrong number of arguments for 'mset' command\r\n"),
            # server
            (("SELECT", "0"), OK),
            (("SELECT", "1"), b"-ERR DB index is out of range\r\n"),
            (("SELECT", "x"), b"-ERR value is not an integer or out of range\r\n"),
            (("HELLO", "3"), b"-NOPROTO sorry, this protocol version is not supported.\r\n"),
            (("HELLO", "x"), b"-ERR Protocol version is not an integer or out of range\r\n"),
            (("CLIENT", "SETNAME", "tester"), OK),
            (("CLIENT", "GETNAME"), bulk(b"tester")),
            (("CLIENT", "SETNAME", "a b"),
             b"-ERR Client names cannot contain spaces, newlines or special characters.\r\n"),
            (("CLIENT", "SETINFO", "lib-name", "py"), OK),
            (("CLIENT", "SETINFO", "lib-ver", "1.0"), OK),
            (("CLIENT", "SETINFO", "other", "1"), b"-ERR Unrecognized option 'other'\r\n"),
            (("CLIENT", "KILL"), b"-ERR unknown subcommand 'KILL'. Try CLIENT HELP.\r\n"),
            (("CLIENT",), b"-ERR wrong number of arguments for 'client' command\r\n"),
            (("COMMAND", "DOCS"), b"*0\r\n"),
            (("COMMAND",), b"*0\r\n"),
            (("CONFIG", "GET", "save"), b"*2\r\n$4\r\nsave\r\n$0\r\n\r\n"),
            (("CONFIG", "GET", "appendonly"), b"*2\r\n$10\r\nappendonly\r\n$2\r\nno\r\n"),
            (("CONFIG", "GET", "nothing*"), b"*0\r\n"),
            (("CONFIG", "SET", "a", "b"), b"-ERR unknown subcommand 'SET'. Try CONFIG HELP.\r\n"),
            (("FOO", "bar", "baz"),
             b"-ERR unknown command 'FOO', with args beginning with: 'bar' 'baz' \r\n"),
            (("nosuch",), b"-ERR unknown command 'nosuch', with args beginning with: \r\n"),
            (("x\r\ny",), b"-ERR unknown command 'x  y', with args beginning with: \r\n"),
        ])
        # replies that depend on the server: checked by shape
        count = self.call(s, r, "COMMAND", "COUNT")
        self.assertRegex(count, rb"^:\d+\r\n$")
        hello = self.call(s, r, "HELLO", "2", "SETNAME", "h")
        self.assertTrue(hello.startswith(b"*14\r\n$6\r\nserver\r\n$4\r\neddy\r\n"), hello)
        self.assertIn(b"$5\r\nproto\r\n:2\r\n", hello)
        self.assertEqual(self.call(s, r, "CLIENT", "GETNAME"), bulk(b"h"))
        cid = self.call(s, r, "CLIENT", "ID")
        self.assertIn(b"$2\r\nid\r\n" + cid, hello)
        self.assertRegex(self.call(s, r, "PTTL", "x"), rb"^:-2\r\n$")
        info = self.call(s, r, "INFO")
        self.assertIn(b"redis_version:", info)
        self.assertRegex(self.call(s, r, "DBSIZE"), rb"^:\d+\r\n$")
        self.assertEqual(self.call(s, r, "FLUSHALL"), OK)
        self.assertEqual(self.call(s, r, "DBSIZE"), b":0\r\n")
        self.assert_alive(d)
        self.stop_eddyd(d)

    def test_inline_commands(self):
        d = self.start_resp()
        s, r = self.client(d)
        s.sendall(b"PING\r\nset greeting \"hello world\"\r\nget greeting\n"
                  b"set q 'it\\'s'\r\nget q\r\nset hex \"\\x41\\x42\"\r\nget hex\r\n"
                  b"\r\n   \r\nexists greeting q hex\r\n")
        for want in [b"+PONG\r\n", OK, bulk(b"hello world"), OK, bulk(b"it's"), OK, bulk(b"AB"),
                     b":3\r\n"]:
            self.assertEqual(r.one(), want)
        self.stop_eddyd(d)

    def test_pipelining(self):
        d = self.start_resp()
        s, r = self.client(d)
        burst = []
        want = []
        for i in range(1000):
            k = "key:%d" % (i % 37)
            if i % 3 == 0:
                burst.append(command("SET", k, "v%d" % i))
                want.append(OK)
            elif i % 3 == 1:
                burst.append(command("INCR", "counter"))
                want.append(b":%d\r\n" % (i // 3 + 1))
            else:
                burst.append(b"PING\r\n")
                want.append(b"+PONG\r\n")
        s.sendall(b"".join(burst))
        for i, w in enumerate(want):
            self.assertEqual(r.one(), w, "reply %d" % i)
        # the same burst of mixed commands one byte at a time
        burst = (command("SET", "x", "1") + b"GET x\r\n" + command("INCR", "x") +
                 command("MGET", "x", "y") + b"PING\r\n")
        for i in range(len(burst)):
            s.send(burst[i:i + 1])
        for w in [OK, bulk(b"1"), b":2\r\n", b"*2\r\n$1\r\n2\r\n$-1\r\n", b"+PONG\r\n"]:
            self.assertEqual(r.one(), w)
        self.stop_eddyd(d)

    def protocol_error(self, d, before, bad, text):
        """Commands `before`, then `bad`: their replies, then the error text,
        then EOF; eddyd serves a new client afterwards."""
        s, r = self.client(d)
        s.sendall(before + bad)
        replies = []
        while True:
            rep = r.one()
            if rep.startswith(b"-ERR Protocol error"):
                break
            replies.append(rep)
        self.assertEqual(rep, b"-" + text + b"\r\n")
        self.assertEqual(r.buf, b"")
        expect_eof(self, s)
        self.assert_alive(d)
        t, tr = self.client(d)
        self.assertEqual(self.call(t, tr, "PING"), b"+PONG\r\n")
        return replies

    def test_protocol_errors_close(self):
        d = self.start_resp()
        # the case: 2 GB declared, refused before anything is read
        replies = self.protocol_error(
            d, command("SET", "a", "1"),
            b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$2147483648\r\n",
            b"ERR Protocol error: invalid bulk length")
        self.assertEqual(replies, [OK])
        self.protocol_error(d, b"", b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$2147483648",
                            b"ERR Protocol error: invalid bulk length")
        self.protocol_error(d, b"PING\r\n", b"*1x\r\n",
                            b"ERR Protocol error: invalid multibulk length")
        self.protocol_error(d, b"", b"*65537\r\n",
                            b"ERR Protocol error: invalid multibulk length")
        self.protocol_error(d, b"", b"*1\r\nfoo\r\n",
                            b"ERR Protocol error: expected '$', got 'f'")
        self.protocol_error(d, b"", b"*1\r\n$-1\r\n", b"ERR Protocol error: invalid bulk length")
        self.protocol_error(d, b"", b"*1\r\n$3\r\nfooXY",
                            b"ERR Protocol error: expected CRLF after bulk data")
        self.protocol_error(d, b"", b"x" * (64 * 1024 + 2),
                            b"ERR Protocol error: too big inline request")
        self.protocol_error(d, b"", b"set \"a b\r\n",
                            b"ERR Protocol error: unbalanced quotes in request")
        # nothing of the key k was stored by the refused SET
        s, r = self.client(d)
        self.assertEqual(self.call(s, r, "EXISTS", "k"), b":0\r\n")
        self.assertEqual(self.call(s, r, "GET", "a"), bulk(b"1"))
        self.stop_eddyd(d)

    def test_cross_protocol_attack(self):
        # The request: an HTTP POST whose body is a command.  As
        # redis-server: the connection closes at "POST" (or "Host:") with no
        # reply at all, and nothing after it runs, however the bytes are cut.
        d = self.start_resp()
        req = (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\n"
               b"Content-Length: 13\r\n\r\nSET pwned 1\r\n")
        post_line = len(b"POST / HTTP/1.1\r\n")
        cases = [[req], [command("post", "x") + command("SET", "pwned", "1")],
                 [b"GET x\r\nhost: x\r\nSET pwned 1\r\n"],
                 [command("PING") + command("HOST:", "x") + command("SET", "pwned", "1")]]
        cases += [[req[:i], req[i:]] for i in range(1, post_line + 1)]
        for parts in cases:
            s = eddytest.connect(d.port)
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            for part in parts:
                try:
                    s.sendall(part)
                except (BrokenPipeError, ConnectionResetError):
                    break  # already closed: that is the point
                time.sleep(0.01)  # best effort at separate reads; the replies do not depend on it
            try:
                s.shutdown(socket.SHUT_WR)  # so that an eddyd that waits for more answers now
            except OSError:
                pass
            got = b""
            try:
                while True:
                    b = s.recv(4096)
                    if not b:
                        break
                    got += b
            except ConnectionResetError:
                pass
            s.close()
            self.assertEqual(got, b"", "parts %r" % (parts,))
        s, r = self.client(d)
        self.assertEqual(self.call(s, r, "GET", "pwned"), NIL)
        info = self.call(s, r, "INFO")
        self.assertIn(b"security_attacks_refused:%d\r\n" % len(cases), info)
        # Redis's warning, at most once a minute: one line for all these
        line = d.wait_for_log(r"Possible SECURITY ATTACK detected")
        self.assertIsNotNone(line, d.stderr())
        self.assertIn("Connection aborted. (client 127.0.0.1:", line)
        self.assertEqual(d.stderr().count("SECURITY ATTACK"), 1, d.stderr())
        self.assert_alive(d)
        self.stop_eddyd(d)

    def test_quit(self):
        d = self.start_resp()
        s, r = self.client(d)
        s.sendall(b"PING\r\n" + command("QUIT") + command("SET", "after", "quit"))
        self.assertEqual(r.one(), b"+PONG\r\n")
        self.assertEqual(r.one(), OK)
        expect_eof(self, s)
        t, tr = self.client(d)
        self.assertEqual(self.call(t, tr, "EXISTS", "after"), b":0\r\n")
        self.stop_eddyd(d)

    def test_large_value_and_limits(self):
        d = self.start_resp(params="    max_bulk 512k\n")
        s, r = self.client(d)
        value = bytes(range(256)) * 1600  # 400 KiB
        self.assertEqual(self.call(s, r, "SET", "big", value), OK)
        self.assertEqual(self.call(s, r, "GET", "big"), bulk(value))
        # 16 large GETs pipelined: 6.4 MiB of replies
        s.sendall(command("GET", "big") * 16)
        for _ in range(16):
            self.assertEqual(r.one(), bulk(value))
        self.protocol_error(d, b"", b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$524289\r\n",
                            b"ERR Protocol error: invalid bulk length")
        self.stop_eddyd(d)

    def test_default_limits_fit_client_libraries(self):
        # redis-py's set() of a 1 MB value and delete() of 2,000 keys: the
        # defaults (max_bulk 8m, max_args 65536) take them, although the
        # listener's max_message is the core's 1m.
        d = self.start_resp()
        s, r = self.client(d)
        for size in (1 << 20, 5 << 20, 8 << 20):
            value = bytes(range(256)) * (size // 256)
            self.assertEqual(self.call(s, r, "SET", "big", value), OK)
            self.assertEqual(self.call(s, r, "GET", "big"), bulk(value))
        keys = ["k%d" % i for i in range(2000)]
        self.assertEqual(self.call(s, r, "MSET", *[x for k in keys for x in (k, "v")]), OK)
        self.assertEqual(self.call(s, r, "DEL", *keys), b":2000\r\n")
        # a 1 MB SET in 4 KiB pieces, with a command after it
        value = b"x" * (1 << 20)
        msg = command("SET", "pieces", value) + command("GET", "k1")
        for i in range(0, len(msg), 4096):
            s.sendall(msg[i:i + 4096])
        self.assertEqual(r.one(), OK)
        self.assertEqual(r.one(), NIL)
        self.assertEqual(self.call(s, r, "GET", "pieces"), bulk(value))
        # past the limits: refused from the declared lengths
        self.protocol_error(d, b"", b"*2\r\n$3\r\nGET\r\n$8388609\r\n",
                            b"ERR Protocol error: invalid bulk length")
        self.protocol_error(d, b"", b"*65537\r\n", b"ERR Protocol error: invalid multibulk length")
        self.stop_eddyd(d)
        # max_query bounds a whole command
        d = self.start_resp(params="    max_query 1m\n")
        self.protocol_error(d, command("SET", "a", "1"),
                            b"*5\r\n$4\r\nMSET\r\n$1\r\na\r\n$600000\r\n" + b"v" * 600000 + b"\r\n" +
                            b"$1\r\nb\r\n$600000\r\n",
                            b"ERR Protocol error: too big multibulk request")
        self.stop_eddyd(d)

    def test_max_memory(self):
        d = self.start_resp(params="    max_memory 1m\n")
        s, r = self.client(d)
        value = b"v" * 10000
        oom = b"-OOM command not allowed when used memory > 'maxmemory'.\r\n"
        got = None
        for i in range(200):
            got = self.call(s, r, "SET", "k%d" % i, value)
            if got != OK:
                break
        self.assertEqual(got, oom)
        self.assertGreater(i, 50)
        # deleting makes room again; reads and DEL always work
        self.assertEqual(self.call(s, r, "DEL", "k0", "k1"), b":2\r\n")
        self.assertEqual(self.call(s, r, "SET", "again", value), OK)
        self.assertEqual(self.call(s, r, "GET", "k2"), bulk(value))
        self.stop_eddyd(d)

    def test_shared_key_space(self):
        # Many connections, two workers: each key written by one connection
        # is seen by all the others, whichever worker serves them.
        d = self.start_resp(workers=2)
        clients = [self.client(d) for _ in range(16)]
        for i, (s, r) in enumerate(clients):
            self.assertEqual(self.call(s, r, "SET", "from:%d" % i, "v%d" % i), OK)
        for s, r in clients:
            for i in range(len(clients)):
                self.assertEqual(self.call(s, r, "GET", "from:%d" % i), bulk(b"v%d" % i))
        # INCR from 8 threads, 500 each: nothing lost
        errors = []

        def incr(n):
            try:
                s = eddytest.connect(d.port)
                rr = Replies(s)
                for _ in range(n // 50):
                    s.sendall(command("INCR", "shared") * 50)
                    for _ in range(50):
                        rep = rr.one()
                        if not rep.startswith(b":"):
                            errors.append(rep)
                s.close()
            except Exception as e:  # reported below
                errors.append(repr(e))

        threads = [threading.Thread(target=incr, args=(500,)) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(eddytest.IO_TIMEOUT)
        self.assertEqual(errors, [])
        s, r = clients[0]
        self.assertEqual(self.call(s, r, "GET", "shared"), bulk(b"4000"))
        self.stop_eddyd(d)

    def start_redis(self):
        """A real redis-server on a Unix socket in a temporary directory (no
        TCP port), or skip the test when it is not installed."""
        server = shutil.which("redis-server")
        if not server:
            self.skipTest("redis-server not found: install redis-server (scripts/test does)")
        d = tempfile.mkdtemp(prefix="eddy-redis-")
        self.addCleanup(shutil.rmtree, d, True)
        path = os.path.join(d, "redis.sock")
        p = subprocess.Popen([server, "--port", "0", "--unixsocket", path, "--save", "",
                              "--appendonly", "no", "--dir", d, "--proto-max-bulk-len", "8mb"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.addCleanup(p.wait, 30)
        self.addCleanup(p.terminate)
        deadline = time.monotonic() + eddytest.STARTUP_TIMEOUT
        while True:
            s = socket.socket(socket.AF_UNIX)
            try:
                s.connect(path)
                break
            except OSError:
                s.close()
                if time.monotonic() > deadline or p.poll() is not None:
                    self.fail("redis-server did not start")
                time.sleep(0.05)
        s.settimeout(eddytest.IO_TIMEOUT)
        self.addCleanup(s.close)
        return s, Replies(s)

    def differ(self, steps):
        """Each step to redis-server and to eddyd: the replies byte for byte.
        A step is a command tuple, ("sleep", seconds) to let deadlines pass,
        or ("sorted", command...) for replies whose order is the table's
        (KEYS): compared as sorted lists of elements."""
        rs, rr = self.start_redis()
        d = self.start_resp()
        es, er = self.client(d)
        for both in ((rs, rr), (es, er)):
            self.assertEqual(self.call(*both, "FLUSHALL"), OK)
        for step in steps:
            if step[0] == "sleep":
                time.sleep(step[1])
                continue
            order = step[0] == "sorted"
            args = step[1:] if order else step
            want, got = self.call(rs, rr, *args), self.call(es, er, *args)
            if order:
                want, got = sorted(want.split(b"\r\n")), sorted(got.split(b"\r\n"))
            self.assertEqual(got, want, "command %r" % (args,))
        self.stop_eddyd(d)

    def test_same_replies_as_redis_strings(self):
        self.differ([
            ("SET", "s", "hello"), ("APPEND", "s", " world"), ("GET", "s"), ("STRLEN", "s"),
            ("STRLEN", "nope"), ("APPEND", "new", ""), ("EXISTS", "new"), ("APPEND", "new", "x"),
            ("APPEND", "s"), ("STRLEN",), ("STRLEN", "a", "b"),
            ("GETSET", "s", "v2"), ("GETSET", "fresh", "v"), ("GET", "fresh"), ("GETSET", "s"),
            ("GETDEL", "s"), ("GETDEL", "s"), ("EXISTS", "s"), ("GETDEL",), ("GETDEL", "a", "b"),
            ("MSET", "a", "1", "b", "2", "c", "3"), ("MGET", "a", "b", "nope", "c"),
            ("MSET", "a"), ("MSET", "a", "1", "b"), ("MSET",), ("MGET",),
            ("DBSIZE",), ("DBSIZE", "x"),
            ("INCR", "s2"), ("APPEND", "s2", "5"), ("INCR", "s2"), ("APPEND", "s2", "x"),
            ("INCR", "s2"), ("INCRBY", "s2", "1.5"), ("INCRBY", "n", "99999999999999999999"),
            ("DECRBY", "n", ""), ("INCR", "a", "b"),
            ("SET", "k", "v", "GET", "NX"), ("SET", "k", "w", "NX", "GET"), ("GET", "k"),
            ("SET", "k", "v", "XX", "NX"), ("SET", "k", "v", "EX", "10", "PX", "10"),
            ("SET", "k", "v", "EX", "10", "EX", "20"), ("TTL", "k"),
            ("SET", "k", "v", "KEEPTTL", "EX", "10"), ("SET", "k", "v", "EX", "10", "KEEPTTL"),
            ("SET", "k", "v", "EXAT", "abc"), ("SET", "k", "v", "PXAT", "0"),
            ("SET", "k", "v", "EXAT", "-1"), ("SET", "k", "v", "EX", "9223372036854775"),
            ("SET", "k", "v", "EX", "9223372036854776"), ("SET", "k", "v", "PX", "9223372036854775807"),
            ("SET", "k", "v", "EXAT", "4102444800"), ("EXISTS", "k"),
            ("SET", "k", "v", "PXAT", "1"), ("GET", "k"), ("EXISTS", "k"),
            ("SET", "k", "v", "EXAT", "1", "GET"), ("SET", "k", "v", "EX"), ("SET", "k", "v", "GET", "GET"),
            ("SETEX", "e", "100", "v"), ("TTL", "e"), ("GET", "e"), ("SETEX", "e", "0", "v"),
            ("SETEX", "e", "-5", "v"), ("SETEX", "e", "x", "v"), ("SETEX", "e", "10"),
            ("PSETEX", "e", "100000", "w"), ("TTL", "e"), ("PSETEX", "e", "0", "w"),
            ("PSETEX", "e", "9223372036854775807", "w"),
            ("SETEX", "e", "9223372036854775", "w"), ("SETEX", "e", "9223372036854776", "w"),
            ("sorted", "KEYS", "*"), ("sorted", "KEYS", "[a-b]"), ("sorted", "KEYS", "?"),
            ("sorted", "KEYS", "*e*"), ("sorted", "KEYS", "[^a]"), ("sorted", "KEYS", "\\a"),
            ("KEYS", "nomatch*"), ("KEYS",), ("KEYS", "a", "b"),
            ("FLUSHALL", "bogus"), ("FLUSHALL", "SYNC", "x"), ("FLUSHALL", "async"), ("DBSIZE",),
        ])

    def test_same_replies_as_redis_expiry(self):
        self.differ([
            ("SET", "k", "v"), ("TTL", "k"), ("PTTL", "k"), ("EXPIRE", "k", "100"), ("TTL", "k"),
            ("EXPIRE", "k", "50", "GT"), ("TTL", "k"), ("EXPIRE", "k", "200", "GT"), ("TTL", "k"),
            ("EXPIRE", "k", "300", "LT"), ("TTL", "k"), ("EXPIRE", "k", "100", "LT"), ("TTL", "k"),
            ("EXPIRE", "k", "100", "NX"), ("EXPIRE", "k", "150", "XX"), ("TTL", "k"),
            ("EXPIRE", "k", "1", "NX", "XX"), ("EXPIRE", "k", "1", "GT", "LT"),
            ("EXPIRE", "k", "1", "NX", "GT"), ("EXPIRE", "k", "1", "BAD"),
            ("EXPIRE", "k", "x"), ("EXPIRE", "k", "x", "BAD"), ("EXPIRE", "k"), ("EXPIRE",),
            ("EXPIRE", "k", "9223372036854776"), ("EXPIRE", "k", "-9223372036854776"),
            ("PEXPIRE", "k", "9223372036854775807"), ("PEXPIRE", "k", "1.5"),
            ("PERSIST", "k"), ("PERSIST", "k"), ("TTL", "k"), ("PERSIST", "nope"),
            ("PERSIST",), ("PERSIST", "a", "b"),
            ("EXPIRE", "k", "100", "XX"), ("EXPIRE", "k", "100", "GT"), ("EXPIRE", "k", "100", "LT"),
            ("TTL", "k"), ("EXPIRE", "nope", "100"), ("PEXPIRE", "nope", "100"),
            ("EXPIRE", "k", "0"), ("EXISTS", "k"), ("SET", "k", "v"), ("EXPIRE", "k", "-1"),
            ("GET", "k"), ("SET", "k", "v"), ("PEXPIRE", "k", "-100", "NX"), ("EXISTS", "k"),
            ("SET", "k", "v", "PX", "100000"), ("PEXPIRE", "k", "-1", "GT"), ("EXISTS", "k"),
            ("TTL", "nope"), ("PTTL", "nope"), ("TTL",), ("PTTL", "a", "b"),
            # deadlines passing: gone for every command, and not counted
            ("SET", "a", "1", "PX", "30"), ("SET", "b", "2", "PX", "30"),
            ("SETEX", "c", "1000", "3"), ("SET", "d", "4"),
            ("PSETEX", "e", "30", "5"), ("SET", "f", "6"), ("PEXPIRE", "f", "30"),
            ("sleep", 0.2),
            ("DBSIZE",), ("GET", "a"), ("EXISTS", "b"), ("TTL", "e"), ("STRLEN", "f"),
            ("APPEND", "a", "x"), ("TTL", "a"), ("INCR", "b"), ("TTL", "b"),
            ("sorted", "KEYS", "*"), ("DBSIZE",), ("PERSIST", "c"), ("TTL", "c"),
            # APPEND, INCR and SET KEEPTTL keep a deadline; SET and GETSET clear it
            ("SET", "t", "1", "EX", "100"), ("APPEND", "t", "2"), ("TTL", "t"), ("INCR", "t"),
            ("TTL", "t"), ("SET", "t", "x", "KEEPTTL"), ("TTL", "t"), ("GETSET", "t", "y"),
            ("TTL", "t"), ("SET", "t", "1", "EX", "100"), ("SET", "t", "2"), ("TTL", "t"),
            ("SET", "t", "1", "EX", "100"), ("GETDEL", "t"), ("TTL", "t"),
        ])

    def test_same_replies_as_redis_transactions(self):
        self.differ([
            ("MULTI",), ("SET", "a", "1"), ("INCR", "a"), ("GET", "a"), ("EXEC",),
            ("EXEC",), ("DISCARD",), ("MULTI", "x"), ("EXEC", "x"),
            ("MULTI",), ("MULTI",), ("PING",), ("EXEC",),
            ("MULTI",), ("SET", "a"), ("GET", "a"), ("EXEC",), ("GET", "a"),
            ("MULTI",), ("NOSUCH", "x"), ("SET", "a", "9"), ("EXEC",), ("GET", "a"),
            ("MULTI",), ("SET", "a", "2"), ("EXEC", "x"), ("EXEC",), ("GET", "a"),
            ("MULTI",), ("SET", "s", "abc"), ("INCR", "s"), ("SET", "k", "v", "EX", "0"),
            ("APPEND", "s", "d"), ("GET", "s"), ("EXEC",),
            ("MULTI",), ("SET", "d", "1"), ("DISCARD",), ("GET", "d"), ("DISCARD",),
            ("MULTI",), ("EXEC",),
            ("MULTI",), ("PING",), ("ECHO", "hi"), ("MSET", "x", "1", "y", "2"),
            ("MGET", "x", "y"), ("DEL", "x", "y"), ("DBSIZE",), ("EXPIRE", "a", "100"),
            ("TTL", "a"), ("KEYS", "s"), ("FLUSHALL",), ("EXEC",), ("DBSIZE",),
        ])

    def mget_readers(self, d, keys, n):
        """n threads, each on its own connection, MGET keys 50 times; each
        reply's set of values goes to the list returned with them."""
        seen = []

        def reader():
            s = eddytest.connect(d.port)
            r = Replies(s)
            for _ in range(50):
                s.sendall(command("MGET", *keys))
                seen.append(set(re.findall(rb"\$\d+\r\n(\d+)\r\n|\$-1", r.one())))
            s.close()

        readers = [threading.Thread(target=reader) for _ in range(n)]
        for t in readers:
            t.start()
        return readers, seen

    def assert_never_mixed(self, readers, seen):
        for t in readers:
            t.join(eddytest.IO_TIMEOUT)
        self.assertEqual(len(seen), 50 * len(readers))
        for values in seen:
            self.assertEqual(len(values), 1, values)

    def test_transaction_applied_at_exec(self):
        # redis-py's pipeline(): nothing inside MULTI runs before EXEC, and
        # another client never sees half of a transaction.
        d = self.start_resp()
        a, ar = self.client(d)
        b, br = self.client(d)
        self.assertEqual(self.call(a, ar, "MULTI"), OK)
        self.assertEqual(self.call(a, ar, "SET", "t", "1"), b"+QUEUED\r\n")
        self.assertEqual(self.call(a, ar, "INCR", "n"), b"+QUEUED\r\n")
        self.assertEqual(self.call(b, br, "GET", "t"), NIL)
        self.assertEqual(self.call(b, br, "EXISTS", "n"), b":0\r\n")
        self.assertEqual(self.call(a, ar, "EXEC"), b"*2\r\n+OK\r\n:1\r\n")
        self.assertEqual(self.call(b, br, "GET", "t"), bulk(b"1"))
        # a transaction of 200 INCRs on 100 keys, while another client reads:
        # every read sees the keys all before or all after each EXEC
        keys = ["c%d" % i for i in range(100)]
        txn = command("MULTI") + b"".join(command("INCR", k) for k in keys) + command("EXEC")
        readers, seen = self.mget_readers(d, keys, 1)
        for i in range(20):
            a.sendall(txn)
            for _ in range(102):
                ar.one()
        self.assert_never_mixed(readers, seen)
        self.assertEqual(self.call(b, br, "GET", "c99"), bulk(b"20"))
        self.stop_eddyd(d)

    def test_multi_key_commands_are_atomic(self):
        # MSET of 100 keys while other clients MGET them: every MGET sees
        # one MSET's values, never a mix (as in Redis, where each command is
        # atomic); the key space is striped across threads, so this is not
        # free.
        d = self.start_resp()
        a, ar = self.client(d)
        keys = ["m%d" % i for i in range(100)]
        # several readers, so that some run on the other worker than the writer
        readers, seen = self.mget_readers(d, keys, 4)
        for i in range(1, 101):
            args = []
            for k in keys:
                args += [k, str(i)]
            self.assertEqual(self.call(a, ar, "MSET", *args), OK)
        self.assert_never_mixed(readers, seen)
        self.stop_eddyd(d)

    def test_scan_like_redis(self):
        # SCAN's chunks follow each server's table: compared by what a whole
        # iteration returns, with redis-server's answer as the reference.
        rs, rr = self.start_redis()
        d = self.start_resp()
        es, er = self.client(d)
        for s, r in ((rs, rr), (es, er)):
            self.call(s, r, "FLUSHALL")
            for i in range(0, 3000, 100):
                self.call(s, r, "MSET", *[x for k in range(i, i + 100)
                                         for x in ("key:%d" % k, "v")])
            self.call(s, r, "SET", "other", "1", "PX", "1")
        time.sleep(0.05)

        def scan_all(s, r, *opts):
            cursor, keys, calls = b"0", [], 0
            while True:
                rep = self.call(s, r, "SCAN", cursor, *opts)
                m = re.match(rb"^\*2\r\n\$\d+\r\n(\d+)\r\n\*(\d+)\r\n", rep)
                self.assertIsNotNone(m, rep[:200])
                cursor = m.group(1)
                keys += rep[m.end():].split(b"\r\n")[1::2]
                calls += 1
                if cursor == b"0":
                    return sorted(set(keys)), calls

        for opts in [(), ("COUNT", "1000"), ("MATCH", "key:1?"), ("MATCH", "*9*", "COUNT", "50"),
                     ("TYPE", "string"), ("TYPE", "hash"), ("MATCH", "*")]:
            want, _ = scan_all(rs, rr, *opts)
            got, calls = scan_all(es, er, *opts)
            self.assertEqual(got, want, opts)
            if not opts:
                self.assertGreater(calls, 10)  # COUNT 10: in chunks, not all at once
        for args in [("SCAN", "x"), ("SCAN", " 1"), ("SCAN", "1x"), ("SCAN", "99999999999999999999"),
                     ("SCAN", "0", "COUNT", "0"), ("SCAN", "0", "COUNT", "x"),
                     ("SCAN", "0", "MATCH"), ("SCAN", "0", "BOGUS", "1"), ("SCAN",)]:
            self.assertEqual(self.call(es, er, *args), self.call(rs, rr, *args), args)
        self.stop_eddyd(d)

    def test_bad_parameters(self):
        tmp = tempfile.mkdtemp(prefix="eddy-resp-")
        self.addCleanup(shutil.rmtree, tmp, True)
        for line, what in [("max_bulk 2g", "max_bulk"), ("max_args 0", "max_args"),
                           ("max_inline 2m", "max_inline"), ("max_memory 1k", "max_memory"),
                           ("max_bulk lots", "max_bulk"), ("max_arg 10", "max_arg")]:
            conf = os.path.join(tmp, "bad.conf")
            with open(conf, "w") as f:
                f.write("listen tcp 127.0.0.1:0 {\n    handler resp\n    %s\n}\n" % line)
            rc, out, err = eddytest.run_eddyd(["-t", "-c", conf])
            self.assertNotEqual(rc, 0, line)
            self.assertIn("bad.conf:3", err, line)
            self.assertIn(what, err, line)

    def test_redis_cli(self):
        cli = shutil.which("redis-cli")
        self.assertIsNotNone(cli, "redis-cli not found: install redis-tools (scripts/test does)")
        d = self.start_resp()

        def run(*args):
            p = subprocess.run([cli, "-h", "127.0.0.1", "-p", str(d.port)] + list(args),
                               stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, timeout=60)
            self.assertEqual(p.returncode, 0, "redis-cli %s: %s" % (args, p.stderr.decode()))
            return p.stdout.decode()

        self.assertEqual(run("set", "a", "b"), "OK\n")
        self.assertEqual(run("get", "a"), "b\n")
        self.assertEqual(run("ping"), "PONG\n")
        self.assertEqual(run("incr", "n"), "1\n")
        self.assertEqual(run("incr", "n"), "2\n")
        self.assertEqual(run("get", "nope"), "\n")
        self.assertIn("unknown command", run("nosuch", "x"))
        # interactive mode, commands on stdin
        p = subprocess.run([cli, "-h", "127.0.0.1", "-p", str(d.port)],
                           input=b"set x 1\nincr x\nget x\n", stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stdout.decode().split(), ["OK", "2", "2"])
        self.stop_eddyd(d)


if __name__ == "__main__":
    eddytest.main()
