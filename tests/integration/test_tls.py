#!/usr/bin/env python3
"""integration.tls - TLS listeners, driven by real clients.

A test CA and certificates are made at start with the `openssl` command
(ECDSA P-256, and RSA beside it for the same names).  One eddyd serves
every TLS listener of the group; the tests talk to it with openssl
s_client, curl, redis-cli and Python's ssl module (OpenSSL too), and
check what eddyd counted through its stats listener.  Nothing waits on a
clock to pass: each wait is bounded by a generous deadline.
"""

import os
import re
import selectors
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
import unittest

import eddytest
import opstest
from eddytest import HOST, IO_TIMEOUT, log

CA_CONF = """[ ca ]
default_ca = the_ca
[ the_ca ]
dir = {d}
database = {d}/index.txt
new_certs_dir = {d}
serial = {d}/serial
default_md = sha256
policy = any
copy_extensions = copy
[ any ]
commonName = supplied
"""


def openssl(*args, cwd=None):
    p = subprocess.run(["openssl"] + list(args), cwd=cwd, capture_output=True, text=True)
    if p.returncode != 0:
        raise AssertionError("openssl %s: %s" % (" ".join(args), p.stderr))
    return p.stdout


class PKI:
    """A test CA in dir, and certificates it signs."""

    def __init__(self, d, name="ca"):
        self.dir = d
        self.ca_key = os.path.join(d, name + ".key")
        self.ca = os.path.join(d, name + ".crt")
        openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                "-keyout", self.ca_key, "-out", self.ca, "-days", "30", "-subj", "/CN=eddy test " + name)

    def cert(self, name, sans=(), kind="ec", days=100, start=None, end=None):
        """name.crt and name.key for CN=name and DNS sans; start/end
        (YYYYMMDDHHMMSSZ) instead of days make it from `openssl ca`."""
        key, csr = os.path.join(self.dir, name + ".key"), os.path.join(self.dir, name + ".csr")
        crt, ext = os.path.join(self.dir, name + ".crt"), os.path.join(self.dir, name + ".ext")
        newkey = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"] if kind == "ec" \
            else ["-newkey", "rsa:2048"]
        san = ",".join(["DNS:" + s for s in (sans or (name,))] + ["IP:127.0.0.1"])
        openssl("req", *newkey, "-nodes", "-keyout", key, "-out", csr, "-subj", "/CN=" + name,
                "-addext", "subjectAltName=" + san)
        if start:
            conf = os.path.join(self.dir, "ca.conf")
            with open(conf, "w") as f:
                f.write(CA_CONF.format(d=self.dir))
            open(os.path.join(self.dir, "index.txt"), "w").close()
            with open(os.path.join(self.dir, "serial"), "w") as f:
                f.write("%02X\n" % (abs(hash(name)) % 200 + 16))
            openssl("ca", "-batch", "-config", conf, "-cert", self.ca, "-keyfile", self.ca_key,
                    "-in", csr, "-out", crt, "-startdate", start, "-enddate", end, "-notext")
        else:
            with open(ext, "w") as f:
                f.write("subjectAltName=%s\n" % san)
            openssl("x509", "-req", "-in", csr, "-CA", self.ca, "-CAkey", self.ca_key,
                    "-CAcreateserial", "-out", crt, "-days", str(days), "-extfile", ext)
        return crt, key


def tls_block(crt, key, extra=""):
    return "    tls_certificate %s\n    tls_certificate_key %s\n%s" % (crt, key, extra)


def client_context(ca, version=None, cert=None):
    ctx = ssl.create_default_context(cafile=ca)
    if version:
        ctx.minimum_version = ctx.maximum_version = version
    if cert:
        ctx.load_cert_chain(*cert)
    return ctx


def tls_connect(port, ctx, name="localhost", timeout=IO_TIMEOUT, ragged=True):
    s = socket.create_connection((HOST, port), timeout=timeout)
    return ctx.wrap_socket(s, server_hostname=name, suppress_ragged_eofs=ragged)


def read_exact(s, n, timeout=IO_TIMEOUT):
    got = b""
    deadline = time.monotonic() + timeout
    while len(got) < n and time.monotonic() < deadline:
        b = s.recv(min(n - len(got), 1 << 16))
        if not b:
            break
        got += b
    return got


class TLS(unittest.TestCase):
    """One eddyd, its listeners named in `self.port[...]`."""

    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="eddy-tls-")
        os.chmod(cls.dir, 0o755)
        cls.pki = PKI(cls.dir)
        cls.crt, cls.key = cls.pki.cert("localhost")
        cls.stats_path = os.path.join(cls.dir, "stats.sock")
        cls.port = {}
        body = ""
        for name, handler, extra in cls.listeners():
            cls.port[name] = opstest.free_port()
            body += "listen tcp %s:%d {\n    handler %s\n%s}\n" % (HOST, cls.port[name], handler,
                                                                 extra)
        body += "listen unix %s {\n    handler stats\n}\n" % cls.stats_path
        cls.conf = os.path.join(cls.dir, "eddyd.conf")
        with open(cls.conf, "w") as f:
            f.write("plugin_dir %s\nworkers 2\n%s" % (opstest.plugin_dir(), body))
        cls.eddyd = opstest.OpsEddyd(cls.conf, listeners=len(cls.port) + 1)
        cls.eddyd.start()

    @classmethod
    def listeners(cls):
        return [("echo", "echo", tls_block(cls.crt, cls.key))]

    @classmethod
    def tearDownClass(cls):
        d = cls.eddyd
        if d.alive():
            d.signal(signal.SIGTERM)
        rc = d.wait()
        report = d.sanitizer_report()
        shutil.rmtree(cls.dir, True)
        assert report is None, "sanitizer report on eddyd's stderr:\n%s" % report
        assert rc == 0, "eddyd exit status %s; stderr:\n%s" % (rc, d.stderr()[-4000:])

    def tearDown(self):
        self.assertTrue(self.eddyd.alive(), "eddyd died; stderr:\n%s" % self.eddyd.stderr()[-4000:])

    def stats(self):
        return opstest.stats_at(self.stats_path)[0]

    def ctx(self, **kw):
        return client_context(self.pki.ca, **kw)

    def s_client(self, port, data, expect, args=()):
        """openssl s_client: send data, read until expect shows in its
        output; returns the output."""
        p = subprocess.Popen(["openssl", "s_client", "-quiet", "-verify_return_error", "-CAfile",
                              self.pki.ca, "-servername", "localhost", "-connect",
                              "%s:%d" % (HOST, port)] + list(args),
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT)
        try:
            p.stdin.write(data)
            p.stdin.flush()
            out = b""
            os.set_blocking(p.stdout.fileno(), False)
            deadline = time.monotonic() + IO_TIMEOUT
            while expect not in out and time.monotonic() < deadline and p.poll() is None:
                sel = selectors.DefaultSelector()
                sel.register(p.stdout, selectors.EVENT_READ)
                sel.select(0.2)
                sel.close()
                out += p.stdout.read() or b""
            return out
        finally:
            p.kill()
            p.wait()

    # -- echo -----------------------------------------------------------

    def test_s_client_echo_tls13_and_tls12(self):
        before = self.stats()
        out = self.s_client(self.port["echo"], b"hello\n", b"Received: hello\n", ["-tls1_3"])
        self.assertIn(b"Received: hello\n", out)
        out = self.s_client(self.port["echo"], b"twelve\n", b"Received: twelve\n", ["-tls1_2"])
        self.assertIn(b"Received: twelve\n", out)
        after = self.stats()
        self.assertEqual(after["tls_handshakes_v13"] - before["tls_handshakes_v13"], 1)
        self.assertEqual(after["tls_handshakes_v12"] - before["tls_handshakes_v12"], 1)

    def test_large_echo_nothing_stranded(self):
        """4 MiB sent while reading: every byte comes back, in order, though
        a record holds more than one read asks for (nothing left in the
        session waiting for an edge that does not come)."""
        s = tls_connect(self.port["echo"], self.ctx())
        total = 4 << 20
        data = eddytest.payload(total)
        check = eddytest.EchoChecker()
        s.setblocking(False)
        sent = 0
        deadline = time.monotonic() + IO_TIMEOUT * 4
        sel = selectors.DefaultSelector()
        sel.register(s, selectors.EVENT_READ | selectors.EVENT_WRITE)
        while check.got < total and time.monotonic() < deadline:
            for _, ev in sel.select(1):
                if ev & selectors.EVENT_WRITE and sent < total:
                    try:
                        sent += s.send(data[sent:sent + 65536])
                    except ssl.SSLWantWriteError:
                        pass
                    if sent == total:
                        sel.modify(s, selectors.EVENT_READ)
                if ev & selectors.EVENT_READ:
                    try:
                        while True:
                            b = s.recv(1 << 16)
                            if not b:
                                break
                            check.feed(b)
                    except (ssl.SSLWantReadError, BlockingIOError):
                        pass
        sel.close()
        s.close()
        self.assertEqual(check.got, total)

    def test_small_messages_one_at_a_time(self):
        s = tls_connect(self.port["echo"], self.ctx())
        for i in range(200):
            msg = b"m%d" % i
            s.sendall(msg)
            self.assertEqual(read_exact(s, 10 + len(msg)), b"Received: " + msg)
        s.close()


def main():
    eddytest.main()


if __name__ == "__main__":
    main()
