#!/usr/bin/env python3
"""integration.ops_proxy - PROXY protocol v1/v2 and max_connections_per_ip.

PROXY (a pure echo with `proxy_protocol on`):
- good v1 (TCP4, TCP6, UNKNOWN) and v2 (PROXY over IPv4 and IPv6, with a
  TLV, and LOCAL), each whole with the payload in the same write and split
  byte by byte: the payload after the header comes back exactly, the
  header never does;
- malformed ones (no header at all, a bad v1 keyword, missing fields, a
  v1 line longer than 107 bytes without CRLF, a bad v2 version, a v2
  length past the limit) close the connection with no reply; errors_proxy
  counts each one exactly, and the log says "malformed PROXY protocol
  header".

max_connections_per_ip:
- direct (limit 3): three connections from 127.0.0.1 are served, a fourth
  is closed at once with no reply, one from 127.0.0.2 is served; closing one
  of the three frees a slot; refused_per_ip counts exactly the refusals.
- behind PROXY (limit 2): many connections all from 127.0.0.1 but naming
  192.0.2.7 or 192.0.2.8 in their headers: two per named client are
  served, the third naming 192.0.2.7 is refused and the log names
  192.0.2.7 — the limit counts the address in the header, not the proxy's.
"""

import socket
import struct
import time

import eddytest
import opstest
from eddytest import HOST, log

V2_SIG = b"\r\n\r\n\x00\r\nQUIT\n"


def v2(cmd=0x1, fam=0x11, body=None, version=0x2, length=None):
    if body is None:
        if fam == 0x11:
            body = (socket.inet_aton("192.0.2.1") + socket.inet_aton("192.0.2.2")
                    + struct.pack("!HH", 5000, 80))
        elif fam == 0x21:
            body = (socket.inet_pton(socket.AF_INET6, "2001:db8::1")
                    + socket.inet_pton(socket.AF_INET6, "2001:db8::2")
                    + struct.pack("!HH", 5000, 80))
        else:
            body = b""
    n = len(body) if length is None else length
    return V2_SIG + bytes([(version << 4) | cmd, fam]) + struct.pack("!H", n) + body


def v2_src(ip, port=40000):
    body = (socket.inet_aton(ip) + socket.inet_aton("192.0.2.200") + struct.pack("!HH", port, 80))
    return v2(body=body)


GOOD = [
    ("v1 TCP4", b"PROXY TCP4 192.0.2.1 192.0.2.2 5000 80\r\n"),
    ("v1 TCP6", b"PROXY TCP6 2001:db8::1 2001:db8::2 5000 80\r\n"),
    ("v1 UNKNOWN", b"PROXY UNKNOWN\r\n"),
    ("v1 UNKNOWN with addresses", b"PROXY UNKNOWN ffff:f::1 ffff:f::2 1 2\r\n"),
    ("v2 PROXY IPv4", v2()),
    ("v2 PROXY IPv6", v2(fam=0x21)),
    ("v2 PROXY IPv4 + TLV", v2(body=socket.inet_aton("192.0.2.1") + socket.inet_aton("192.0.2.2")
                               + struct.pack("!HH", 5000, 80)
                               + b"\x04" + struct.pack("!H", 4) + b"abcd")),
    ("v2 LOCAL", v2(cmd=0x0, fam=0x00)),
]

BAD = [
    ("no header", b"hello there\r\n"),
    ("v1 bad keyword", b"PROXY TCP5 192.0.2.1 192.0.2.2 5000 80\r\n"),
    ("v1 missing port", b"PROXY TCP4 192.0.2.1 192.0.2.2 5000\r\n"),
    ("v1 bad address", b"PROXY TCP4 192.0.2.300 192.0.2.2 5000 80\r\n"),
    ("v1 no CRLF in 108 bytes", b"PROXY TCP4 " + b"1" * 120),
    ("v2 version 3", v2(version=0x3)),
    ("v2 command 0xF", v2(cmd=0xF)),
    ("v2 length past the limit", v2(length=65535, body=b"\0" * 16)),
]


class Proxy(opstest.OpsTestCase):

    def start_proxy(self, extra_global=""):
        self.stats = self.path("stats.sock")
        conf = self.config("%slisten tcp %s:0 {\n    handler echo\n    prefix \"\"\n"
                           "    proxy_protocol on\n}\n"
                           "listen unix %s {\n    handler stats\n}\n"
                           % (extra_global, HOST, self.stats))
        return self.run_conf(conf, listeners=2)

    def test_good_headers(self):
        d = self.start_proxy()
        port = d.port(0)
        for name, header in GOOD:
            for split in (False, True):
                data = b"payload of %s" % name.encode()
                s = eddytest.connect(port)
                if split:
                    for i in range(len(header)):
                        s.sendall(header[i:i + 1])
                        time.sleep(0.001)
                    s.sendall(data)
                else:
                    s.sendall(header + data)
                got = opstest.recv_exact(s, len(data))
                self.assertEqual(got, data, "%s (split %s): reply" % (name, split))
                s.close()
        totals, _ = opstest.stats_at(self.stats)
        self.assertEqual(totals["errors_proxy"], 0, totals)
        self.stop(d)

    def test_malformed_headers(self):
        d = self.start_proxy()
        port = d.port(0)
        for name, data in BAD:
            s = eddytest.connect(port)
            s.sendall(data)
            self.assertTrue(opstest.closed_without_reply(s), "%s: answered" % name)
            s.close()
        totals, _ = opstest.stats_at(self.stats)
        self.assertEqual(totals["errors_proxy"], len(BAD), totals)
        self.assertIsNotNone(d.wait_for_log(r"malformed PROXY protocol header", timeout=5),
                             d.stderr()[-2000:])
        # Still serving good ones.
        s = eddytest.connect(port)
        s.sendall(GOOD[0][1] + b"ok")
        self.assertEqual(opstest.recv_exact(s, 2), b"ok")
        s.close()
        self.stop(d)

    def test_per_ip_direct(self):
        self.stats = self.path("stats.sock")
        conf = self.config("max_connections_per_ip 3\nlisten tcp %s:0 {\n    handler echo\n}\n"
                           "listen unix %s {\n    handler stats\n}\n" % (HOST, self.stats))
        d = self.run_conf(conf, listeners=2)
        port = d.port(0)
        held = []
        for i in range(3):
            s = opstest.connect_from(port, "127.0.0.1")
            eddytest.roundtrip(s, 32, eddytest.EchoChecker(stream=i))
            held.append(s)
        fourth = opstest.connect_from(port, "127.0.0.1")
        try:
            fourth.sendall(b"x")
        except (ConnectionResetError, BrokenPipeError):
            pass               # already closed by eddyd: checked below
        self.assertTrue(opstest.closed_without_reply(fourth), "a 4th connection from 127.0.0.1 "
                        "was answered with max_connections_per_ip 3")
        fourth.close()
        other = opstest.connect_from(port, "127.0.0.2")
        eddytest.roundtrip(other, 32, eddytest.EchoChecker(stream=9))
        # Free a slot: a new one from 127.0.0.1 is served (eddyd may see the
        # close a moment later: bounded retries).
        held.pop().close()
        ok = False
        for attempt in range(100):
            s = opstest.connect_from(port, "127.0.0.1")
            try:
                s.sendall(b"y")
                got = opstest.recv_exact(s, 11, timeout=30)
            except (ConnectionResetError, BrokenPipeError):
                got = b""      # refused: the close not seen yet
            s.close()
            if got == b"Received: y":
                ok = True
                break
            time.sleep(0.05)
        self.assertTrue(ok, "the freed slot was never reused")
        totals, _ = opstest.stats_at(self.stats)
        self.assertEqual(totals["refused_per_ip"], 1 + attempt, totals)
        self.assertIsNotNone(d.wait_for_log(r"max_connections_per_ip \(3\) reached", timeout=5))
        for s in held + [other]:
            s.close()
        self.stop(d)

    def test_per_ip_behind_proxy(self):
        d = self.start_proxy("max_connections_per_ip 2\n")
        port = d.port(0)
        held = []
        for ip in ("192.0.2.7", "192.0.2.8"):
            for k in range(2):
                s = eddytest.connect(port)
                s.sendall(v2_src(ip, 40000 + k) + b"hi")
                self.assertEqual(opstest.recv_exact(s, 2), b"hi", "%s #%d" % (ip, k))
                held.append(s)
        third = eddytest.connect(port)
        third.sendall(b"PROXY TCP4 192.0.2.7 192.0.2.200 40009 80\r\nhi")
        self.assertTrue(opstest.closed_without_reply(third),
                        "a 3rd connection naming 192.0.2.7 was served (limit 2)")
        third.close()
        # A new client name is still served: the 4 held connections all come
        # from 127.0.0.1, which is not what is counted.
        s = eddytest.connect(port)
        s.sendall(b"PROXY TCP4 192.0.2.9 192.0.2.200 40010 80\r\nhi")
        self.assertEqual(opstest.recv_exact(s, 2), b"hi")
        held.append(s)
        line = d.wait_for_log(r"refused .*max_connections_per_ip \(2\)", timeout=5)
        self.assertIsNotNone(line, d.stderr()[-2000:])
        self.assertIn("192.0.2.7", line)
        log("logged: %s" % line)
        totals, _ = opstest.stats_at(self.stats)
        self.assertEqual(totals["refused_per_ip"], 1, totals)
        self.assertEqual(totals["errors_proxy"], 0, totals)
        for s in held:
            s.close()
        self.stop(d)


if __name__ == "__main__":
    opstest.main()
