"""opstest - helpers for the operations tests (test_ops_*.py, issue 7).

eddytest starts eddyd from command-line flags; these tests need eddyd run
from a config file, with several listeners, an environment (NOTIFY_SOCKET,
LISTEN_FDS, JOURNAL_STREAM), inherited sockets, and SIGHUP/SIGUSR1 while it
runs.  So this module has its own small process wrapper, OpsEddyd, built
on eddytest's conventions: stderr drained by a thread for the whole life
of the process, every wait bounded by a generous deadline, the stop
checked for exit status 0 and no sanitizer report (OpsTestCase.stop).

Also here: config files in a per-test temporary directory, free loopback
ports, the stats parsers ("name value" lines and Prometheus text), and a
pure-echo request/reply helper.
"""

import os
import shlex
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

import eddytest
from eddytest import HOST, IO_TIMEOUT, STARTUP_TIMEOUT, STOP_TIMEOUT, log

# The ready line, as logged: "TIMESTAMP info [main] listening on ...".
LISTEN_RE = re.compile(r"info \[main\] listening on (\S+), handler (\S+), (\d+) workers?")


def plugin_dir():
    """build/plugins beside the eddyd under test."""
    return os.path.join(os.path.dirname(eddytest.EDDYD), "plugins")


def free_port(kind=socket.SOCK_STREAM):
    """A loopback port free right now (bound to 0, then released).  For the
    tests that must name the same port in two configs (reload)."""
    s = socket.socket(socket.AF_INET, kind)
    try:
        s.bind((HOST, 0))
        return s.getsockname()[1]
    finally:
        s.close()


def refusing_port(test):
    """A loopback port that refuses connections for the rest of test: a
    socket bound to it and not listening, closed at the test's cleanup.
    Unlike free_port's, no other process (a parallel test's listener or an
    outgoing connection) can take it meanwhile.  Returns (port, socket); a
    ThreadedServer made on the socket starts serving the same port."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((HOST, 0))
    test.addCleanup(s.close)
    return s.getsockname()[1], s


def take_path_args(names):
    """Take --NAME PATH off sys.argv for each of names (the test's own
    arguments, before unittest sees the rest): {NAME: absolute PATH}."""
    got = {}
    rest = [sys.argv[0]]
    argv = sys.argv[1:]
    i = 0
    while i < len(argv):
        if argv[i][2:] in names and argv[i].startswith("--") and i + 1 < len(argv):
            got[argv[i][2:]] = os.path.abspath(argv[i + 1])
            i += 2
            continue
        rest.append(argv[i])
        i += 1
    sys.argv[:] = rest
    return got


def wait_until(cond, timeout=IO_TIMEOUT):
    """Poll cond() until true or timeout; returns its last value."""
    deadline = time.monotonic() + timeout
    while True:
        v = cond()
        if v or time.monotonic() >= deadline:
            return v
        time.sleep(0.05)


def split_addr(addr):
    host, _, port = addr.rpartition(":")
    return host.strip("[]"), int(port)


class OpsEddyd(eddytest.Process):
    """One eddyd run as `eddyd -c CONF` (or under a wrapper command).

    start() waits until `listeners` ready lines appeared and parses them into
    self.listening: [(addr, handler)], in order: on stderr, or in log_file
    when the config sends eddyd's log there."""

    def __init__(self, conf, listeners=1, env=None, pass_fds=(), wrap=None, args=(),
                 log_file=None):
        super().__init__()
        self.log_file = log_file
        self.conf = conf
        self.nlisteners = listeners
        self.env = env
        self.pass_fds = tuple(pass_fds)
        self.wrap = list(wrap) if wrap else []
        self.args = list(args)
        self.listening = []

    def start(self, timeout=STARTUP_TIMEOUT):
        # The same EDDY_TEST_WRAP / EDDY_TEST_PRELOAD as eddytest (memcheck,
        # fault injection).
        cmd = (self.wrap + shlex.split(os.environ.get("EDDY_TEST_WRAP", ""))
               + [eddytest.EDDYD, "-c", self.conf] + self.args)
        env = eddytest._environment() or dict(os.environ)
        for k in ("NOTIFY_SOCKET", "LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES",
                  "JOURNAL_STREAM"):
            env.pop(k, None)
        if self.env:
            env.update(self.env)
        self._spawn(cmd, env, self.pass_fds)

        def ready(lines):
            if self.log_file:
                lines = self.log_lines()
            found = [m for m in map(LISTEN_RE.search, lines) if m]
            if len(found) < self.nlisteners:
                return False
            self.listening = [(m.group(1), m.group(2)) for m in found]
            return True
        return self._wait_ready(ready, timeout, "print %d ready lines" % self.nlisteners)

    def log_lines(self):
        """The lines of log_file so far ([] before it exists)."""
        try:
            with open(self.log_file) as f:
                return f.read().splitlines()
        except FileNotFoundError:
            return []

    def port(self, i=0):
        return split_addr(self.listening[i][0])[1]

    def signal(self, sig):
        self.proc.send_signal(sig)

    def wait(self, timeout=STOP_TIMEOUT):
        """Exit status, or None if still running after timeout (then killed)."""
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            return None
        self._join()
        return self.proc.returncode

    def stats(self, timeout=IO_TIMEOUT):
        """`eddyd --stats -c CONF` parsed (needs a unix stats listener)."""
        rc, out, err = eddytest.run_eddyd(["--stats", "-c", self.conf], timeout=timeout)
        if rc != 0:
            raise AssertionError("eddyd --stats -c %s: exit %d: %s" % (self.conf, rc, err))
        return parse_stats(out)


def stats_at(path, timeout=IO_TIMEOUT, samples=None):
    """Ask a unix stats listener directly (what eddyd --stats does):
    "stats\n", read to EOF, parse (handlers' samples into `samples`, as
    parse_stats)."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect(path)
        s.sendall(b"stats\n")
        data, how = eddytest.read_until_eof(s, timeout=timeout)
    finally:
        s.close()
    try:
        return parse_stats(data.decode(), samples)
    except AssertionError as e:
        raise AssertionError("stats answer from %s (%d bytes, ended by %s): %s"
                             % (path, len(data), how, e))


# A handler's sample in the "name value" text: NAME{listener="ADDR",LABEL="VALUE"} VALUE,
# label values escaped as in Prometheus (\\, \" and \n).
LABEL_RE = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\.)*)"')
HANDLER_LINE_RE = re.compile(r"([a-zA-Z_:][a-zA-Z0-9_:]*)\{(%s(?:,%s)*)\} (\d+)"
                             % (LABEL_RE.pattern, LABEL_RE.pattern))


def unescape_label(v):
    return re.sub(r'\\(.)', lambda m: {"n": "\n"}.get(m.group(1), m.group(1)), v)


def parse_stats(text, samples=None):
    """"name value" lines -> (totals {name: int}, workers {n: {name: int}}).
    Handlers' samples (HANDLER_LINE_RE) go into `samples` when given, as
    {(name, sorted labels): int}, as parse_prometheus keys them.  Any other
    line is an error."""
    totals, workers = {}, {}
    lines = text.split("\n")  # not splitlines(): a label value may hold \r
    if lines[-1] == "":
        lines.pop()
    for line in lines:
        m = re.fullmatch(r"(worker\.(\d+)\.)?([a-z][a-z0-9_]*) (\d+)", line)
        h = None if m else HANDLER_LINE_RE.fullmatch(line)
        if not m and not h:
            raise AssertionError("bad stats line %r in:\n%s" % (line, text))
        if h:
            labels = tuple(sorted((k, unescape_label(v))
                                  for k, v in LABEL_RE.findall(h.group(2))))
            key = (h.group(1), labels)
            if samples is not None:
                if key in samples:
                    raise AssertionError("sample %s given twice" % (key,))
                samples[key] = int(h.group(h.lastindex))
        elif m.group(1):
            workers.setdefault(int(m.group(2)), {})[m.group(3)] = int(m.group(4))
        else:
            totals[m.group(3)] = int(m.group(4))
    return totals, workers


def prometheus_parser():
    """prometheus_client's text parser (Debian: python3-prometheus-client,
    installed by scripts/test), also when python3 is not Debian's own."""
    try:
        from prometheus_client.parser import text_string_to_metric_families
    except ImportError:
        import sys
        sys.path.append("/usr/lib/python3/dist-packages")
        from prometheus_client.parser import text_string_to_metric_families
    return text_string_to_metric_families


def parse_prometheus(text):
    """Prometheus text format, read by the real parser (which raises on any
    line it cannot read) -> ({sample name: family type},
    {(sample name, sorted labels): value})."""
    types, samples = {}, {}
    for family in prometheus_parser()(text):
        for sample in family.samples:
            types[sample.name] = family.type
            key = (sample.name, tuple(sorted(sample.labels.items())))
            if key in samples:
                raise AssertionError("sample %s given twice" % (key,))
            samples[key] = sample.value
    return types, samples


def echo_request(s, data, timeout=IO_TIMEOUT):
    """Pure echo: send data, read exactly len(data) bytes back.  Returns the
    bytes read (shorter than data only at EOF)."""
    s.sendall(data)
    got = b""
    deadline = time.monotonic() + timeout
    s.settimeout(timeout)
    while len(got) < len(data) and time.monotonic() < deadline:
        b = s.recv(len(data) - len(got))
        if not b:
            break
        got += b
    return got


def recv_exact(s, n, timeout=IO_TIMEOUT):
    got = b""
    deadline = time.monotonic() + timeout
    s.settimeout(timeout)
    while len(got) < n and time.monotonic() < deadline:
        b = s.recv(n - len(got))
        if not b:
            break
        got += b
    return got


def connect_from(port, src=None, timeout=IO_TIMEOUT):
    """A client socket, optionally bound to loopback source address src."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if src:
        s.bind((src, 0))
    s.settimeout(timeout)
    s.connect((HOST, port))
    return s


def closed_without_reply(s, timeout=IO_TIMEOUT):
    """True when the peer closes (EOF or reset) with no data; False when
    data arrives; an AssertionError when nothing happens within timeout."""
    s.settimeout(timeout)
    try:
        b = s.recv(64)
    except ConnectionResetError:
        return True
    except socket.timeout:
        raise AssertionError("connection neither answered nor closed within %.0fs" % timeout)
    return not b


class OpsTestCase(eddytest.EddyTestCase):
    """A temporary directory per test; eddyd run from config text."""

    def setUp(self):
        super().setUp()
        self.dir = tempfile.mkdtemp(prefix="eddy-ops-")
        os.chmod(self.dir, 0o755)  # readable after a drop to nobody
        self.addCleanup(shutil.rmtree, self.dir, True)

    def path(self, name):
        return os.path.join(self.dir, name)

    def write(self, name, text):
        p = self.path(name)
        with open(p, "w") as f:
            f.write(text)
        return p

    def config(self, body, name="eddyd.conf", workers=2):
        """A config file: plugin_dir beside eddyd, `workers`, then body."""
        text = "plugin_dir %s\nworkers %d\n%s" % (plugin_dir(), workers, body)
        return self.write(name, text)

    def run_conf(self, conf, listeners=1, **kw):
        d = OpsEddyd(conf, listeners=listeners, **kw)
        self.addCleanup(d.kill)
        d.start()
        return d

    def stop(self, d, sig=signal.SIGTERM, timeout=STOP_TIMEOUT, send=True):
        """Stop with sig (unless already sent) and assert exit status 0 and
        no sanitizer report."""
        if send and d.alive():
            d.signal(sig)
        rc = d.wait(timeout)
        report = d.sanitizer_report()
        self.assertIsNone(report, "sanitizer report on eddyd's stderr:\n%s" % report)
        self.assertIsNotNone(rc, "eddyd did not exit within %.0fs of %s; stderr:\n%s"
                             % (timeout, signal.Signals(sig).name, d.stderr()[-4000:]))
        self.assertEqual(rc, 0, "eddyd exit status after %s; stderr:\n%s"
                         % (signal.Signals(sig).name, d.stderr()[-4000:]))
        return rc

    def assert_up(self, d):
        self.assertTrue(d.alive(), "eddyd died (status %s); stderr:\n%s"
                        % (d.proc.returncode, d.stderr()[-4000:]))
        report = d.sanitizer_report()
        self.assertIsNone(report, "sanitizer report on eddyd's stderr:\n%s" % report)


def main():
    eddytest.main()
