"""eddytest - shared helpers for eddy's integration tests.

Every test script is run as

    python3 tests/integration/test_<group>.py PATH/TO/eddyd [unittest args]

and calls eddytest.main(), which takes the eddyd path off argv, raises this
process's RLIMIT_NOFILE, and hands the rest to unittest.

What is here:
  Eddyd           starts the real eddyd (never a mock) on 127.0.0.1:0, waits
                  for its "listening on ADDR:PORT" line, keeps draining its
                  stderr, reads its RSS / CPU time / fd count from /proc, and
                  stops it (SIGTERM or SIGINT), checking exit status 0 and
                  that no sanitizer report appeared on stderr.
  EddyTestCase    unittest.TestCase with start_eddyd() (killed at cleanup
                  whatever happens) and helpers for sockets.
  payload()/EchoChecker
                  deterministic payload bytes that never contain b'R' (the
                  first byte of the default prefix "Received: "), and a
                  streaming parser that checks a reply stream is
                  (prefix + chunk)* with the chunks concatenating exactly to
                  what was sent.  Chunk boundaries are whatever eddyd's
                  reads deliver; the checker does not care where they fall.
  run_clients()   many concurrent clients on one selector (no threads), each
                  sending fixed-size messages pipelined or one at a time,
                  every byte checked.

Nothing here depends on timing to pass: every wait is a loop bounded by a
generous deadline (sanitizer builds are 2-10x slower), and no throughput is
ever asserted.  Only 127.0.0.1 is used.
"""

import errno
import fcntl
import os
import random
import re
import resource
import select
import selectors
import shlex
import shutil
import signal
import socket
import struct
import subprocess
import sys
import termios
import threading
import time
import unittest

HOST = "127.0.0.1"
DEFAULT_PREFIX = b"Received: "

# Set by main(): absolute path of the eddyd under test.
EDDYD = None

# Generous default deadlines (seconds).  They bound a hang, they are not
# performance targets.
STARTUP_TIMEOUT = 60.0
STOP_TIMEOUT = 60.0
IO_TIMEOUT = 60.0

READY_RE = re.compile(r"listening on (\S+):(\d+)")
SANITIZER_RE = re.compile(
    r"(ERROR|WARNING): (Address|Leak|Thread|Memory|UndefinedBehavior)Sanitizer"
    r"|runtime error:"
    r"|SUMMARY: \w+Sanitizer")


def log(msg):
    """Progress to stderr (ctest shows it with --output-on-failure / -V)."""
    sys.stderr.write("# %s\n" % msg)
    sys.stderr.flush()


def raise_nofile(want=16384):
    """Raise this process's fd limit (the 1,000-client tests need > 1,024).

    eddyd inherits the limit from us, which is what it needs too.  Root may
    also raise the hard limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < want:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, want))
            return
        except (ValueError, OSError):
            want = hard
    if soft == resource.RLIM_INFINITY or soft >= want:
        return
    resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))


def nofile_soft():
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def main():
    """Entry point of every test script: argv[1] is the eddyd binary."""
    global EDDYD
    if len(sys.argv) < 2 or sys.argv[1].startswith("-"):
        sys.stderr.write("usage: %s PATH/TO/eddyd [unittest options]\n" % sys.argv[0])
        sys.exit(2)
    EDDYD = os.path.abspath(sys.argv.pop(1))
    if not os.access(EDDYD, os.X_OK):
        sys.stderr.write("%s: not an executable: %s\n" % (sys.argv[0], EDDYD))
        sys.exit(2)
    raise_nofile()
    # ctest runs scripts with the source tree as their home: never leave
    # __pycache__ behind.
    sys.dont_write_bytecode = True
    unittest.main(verbosity=2)


# ---------------------------------------------------------------------------
# eddyd process
# ---------------------------------------------------------------------------

def foreign_allocator():
    """True when eddyd's malloc is not the C library's: a sanitizer build
    (its runtime linked in) or a valgrind wrapper."""
    if "valgrind" in os.environ.get("EDDY_TEST_WRAP", ""):
        return True
    with open(EDDYD, "rb") as f:
        image = f.read()
    return b"__asan_init" in image or b"__tsan_init" in image


class EddydError(Exception):
    pass


def run_eddyd(args, timeout=STARTUP_TIMEOUT, nofile=None, stdin=None):
    """Run eddyd to completion (for --help, bad flags, port in use...),
    with the bytes stdin on its standard input (else /dev/null).

    Returns (returncode, stdout, stderr) as str.  A run that does not exit
    within timeout is killed and reported as an error: a bad-value eddyd
    that starts serving instead of exiting must not hang the suite."""
    cmd = _command(args, nofile)
    p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL if stdin is None else subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=_environment())
    try:
        out, err = p.communicate(input=stdin, timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        out, err = p.communicate()
        raise EddydError("%s did not exit within %.0fs (killed); stderr:\n%s"
                         % (" ".join(cmd), timeout, err.decode(errors="replace")))
    return p.returncode, out.decode(errors="replace"), err.decode(errors="replace")


def _command(args, nofile):
    # EDDY_TEST_WRAP: a command prefix for eddyd (e.g. valgrind ...), split
    # with shlex; it must exec eddyd in the same process, as prlimit does.
    cmd = shlex.split(os.environ.get("EDDY_TEST_WRAP", "")) + [EDDYD] + list(args)
    if nofile is not None:
        prlimit = shutil.which("prlimit")
        if prlimit:
            # prlimit execs eddyd: the child's pid is eddyd's pid.
            cmd = [prlimit, "--nofile=%d" % nofile, "--"] + cmd
        else:
            raise EddydError("prlimit (util-linux) not found")
    return cmd


def _environment():
    """eddyd's environment: ours, plus EDDY_TEST_PRELOAD (a shared object,
    e.g. tests/faultinject's shim) in LD_PRELOAD for eddyd only."""
    preload = os.environ.get("EDDY_TEST_PRELOAD")
    if not preload:
        return None
    env = dict(os.environ)
    env["LD_PRELOAD"] = " ".join(x for x in (preload, env.get("LD_PRELOAD")) if x)
    return env


class Process:
    """An eddyd child process with both pipes drained by threads for its
    whole life (so a chatty eddyd never blocks on a full pipe, and tests can
    look at what it logged); every wait is bounded.  Eddyd and opstest's
    OpsEddyd differ only in how they build the command and when they call
    the process ready."""

    def __init__(self):
        self.proc = None
        self.cmd = None
        self._lines = []
        self._lock = threading.Condition()
        self._eof = False
        self._threads = []
        self._stdout = []

    def _spawn(self, cmd, env, pass_fds=()):
        self.cmd = cmd
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, env=env, pass_fds=tuple(pass_fds))
        for f in (self._drain_stderr, self._drain_stdout):
            t = threading.Thread(target=f, daemon=True)
            t.start()
            self._threads.append(t)

    def _wait_ready(self, ready, timeout, what):
        """Wait until ready(lines) is true; if stderr ends or the deadline
        passes first, kill eddyd and raise EddydError naming what."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while True:
                if ready(self._lines):
                    return self
                left = deadline - time.monotonic()
                if self._eof or left <= 0:
                    break
                self._lock.wait(min(left, 0.5))
        self.kill()
        raise EddydError("eddyd did not %s (%s); exit %s; stderr:\n%s"
                         % (what, " ".join(self.cmd), self.proc.returncode, self.stderr()))

    def _drain_stderr(self):
        for raw in iter(self.proc.stderr.readline, b""):
            line = raw.decode(errors="replace").rstrip("\n")
            with self._lock:
                self._lines.append(line)
                self._lock.notify_all()
        with self._lock:
            self._eof = True
            self._lock.notify_all()

    def _drain_stdout(self):
        for raw in iter(self.proc.stdout.readline, b""):
            self._stdout.append(raw.decode(errors="replace"))

    @property
    def pid(self):
        return self.proc.pid

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._join()

    def _join(self):
        for t in self._threads:
            t.join(timeout=10)
        if self.proc is not None and self.proc.poll() is not None:
            for f in (self.proc.stdout, self.proc.stderr):
                if f is not None and not f.closed:
                    try:
                        f.close()
                    except OSError:
                        pass

    def stderr(self):
        with self._lock:
            return "\n".join(self._lines)

    def stderr_lines(self):
        with self._lock:
            return list(self._lines)

    def nlines(self):
        with self._lock:
            return len(self._lines)

    def stdout(self):
        return "".join(self._stdout)

    def sanitizer_report(self):
        """The stderr text from the first sanitizer report on, or None."""
        text = self.stderr()
        m = SANITIZER_RE.search(text)
        if not m:
            return None
        start = text.rfind("\n", 0, m.start()) + 1
        return text[start:start + 6000]

    def wait_for_log(self, regex, start=0, timeout=IO_TIMEOUT):
        """Wait until a stderr line at index >= start matches; returns it or None."""
        rx = re.compile(regex)
        deadline = time.monotonic() + timeout
        with self._lock:
            while True:
                for line in self._lines[start:]:
                    if rx.search(line):
                        return line
                left = deadline - time.monotonic()
                if left <= 0 or self._eof:
                    return None
                self._lock.wait(min(left, 0.5))

    def fd_count(self):
        return len(os.listdir("/proc/%d/fd" % self.pid))


class Eddyd(Process):
    """One running eddyd.

    Eddyd(workers=2, prefix=None, max_connections=None, extra=(), nofile=None)

    listen defaults to 127.0.0.1:0 (an ephemeral port); prefix None keeps
    eddyd's default.  start() waits for the ready line and parses the port.
    """

    def __init__(self, workers=2, prefix=None, max_connections=None, listen="127.0.0.1:0",
                 extra=(), nofile=None):
        super().__init__()
        args = []
        if listen is not None:
            args += ["--listen", listen]
        if workers is not None:
            args += ["--workers", str(workers)]
        if prefix is not None:
            args += ["--prefix", prefix.decode() if isinstance(prefix, bytes) else prefix]
        if max_connections is not None:
            args += ["--max-connections", str(max_connections)]
        args += list(extra)
        self.args = args
        self.nofile = nofile
        self.port = None
        self.address = None
        self.ready_line = None

    # -- lifecycle ----------------------------------------------------------

    def start(self, timeout=STARTUP_TIMEOUT):
        self._spawn(_command(self.args, self.nofile), _environment())

        def ready(lines):
            for line in lines:
                m = READY_RE.search(line)
                if m:
                    self.ready_line = line
                    self.address = m.group(1)
                    self.port = int(m.group(2))
                    return True
            return False
        return self._wait_ready(ready, timeout, "become ready")

    def send_signal(self, sig):
        self.proc.send_signal(sig)

    def stop(self, sig=signal.SIGTERM, timeout=STOP_TIMEOUT, send=True):
        """Send sig (unless send is False: it was sent already) and wait for
        exit; returns the exit status (negative: killed by a signal; None:
        did not exit within timeout, then killed)."""
        if self.proc.poll() is None:
            if send:
                self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill()
                self._join()
                return None
        self._join()
        return self.proc.returncode

    # -- /proc ----------------------------------------------------------------

    def _status_field(self, name):
        with open("/proc/%d/status" % self.pid) as f:
            for line in f:
                if line.startswith(name + ":"):
                    return line.split()[1]
        raise EddydError("no %s in /proc/%d/status" % (name, self.pid))

    def rss_kib(self):
        return int(self._status_field("VmRSS"))

    def threads(self):
        return int(self._status_field("Threads"))

    def cpu_seconds(self):
        """utime + stime of the whole process (all threads), in seconds."""
        with open("/proc/%d/stat" % self.pid) as f:
            stat = f.read()
        fields = stat[stat.rindex(")") + 2:].split()
        # fields[0] is field 3 (state); utime and stime are fields 14 and 15.
        ticks = int(fields[11]) + int(fields[12])
        return ticks / os.sysconf("SC_CLK_TCK")

    def socket_fd_count(self):
        n = 0
        d = "/proc/%d/fd" % self.pid
        for name in os.listdir(d):
            try:
                if os.readlink(os.path.join(d, name)).startswith("socket:"):
                    n += 1
            except OSError:
                pass
        return n


# ---------------------------------------------------------------------------
# sockets
# ---------------------------------------------------------------------------

def connect(port, timeout=IO_TIMEOUT, rcvbuf=None, sndbuf=None):
    """A blocking client socket with a timeout; buffer sizes set before
    connect (so the TCP window is really small)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf is not None:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    if sndbuf is not None:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, sndbuf)
    s.settimeout(timeout)
    try:
        s.connect((HOST, port))
    except OSError:
        s.close()
        raise
    return s


def set_linger_reset(s):
    """close() will then send RST and discard anything queued."""
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


def unsent_bytes(s):
    """Bytes in this socket's send queue not yet acknowledged (SIOCOUTQ)."""
    buf = fcntl.ioctl(s.fileno(), termios.TIOCOUTQ, b"\0\0\0\0")
    return struct.unpack("i", buf)[0]


TCP_ESTABLISHED, TCP_FIN_WAIT1, TCP_FIN_WAIT2 = 1, 4, 5


def tcp_state(s):
    """This socket's TCP state (tcpi_state from TCP_INFO)."""
    return s.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 8)[0]


def fill_until_stalled(s, stream, limit=64 << 20, stall=1.0, timeout=120.0):
    """Send payload(stream) without reading until the socket has not been
    writable for `stall` seconds (eddyd stopped reading us: high-water
    mark) or `limit` bytes went out.  Returns bytes sent.  A slow machine
    only makes it stop earlier, which no caller depends on."""
    s.setblocking(False)
    sent = 0
    deadline = time.monotonic() + timeout
    try:
        while sent < limit and time.monotonic() < deadline:
            _, w, _ = select.select([], [s], [], stall)
            if not w:
                break
            try:
                sent += s.send(payload(min(1 << 16, limit - sent), stream, sent))
            except BlockingIOError:
                pass
    finally:
        s.setblocking(True)
    return sent


def wait_sent(s, timeout=IO_TIMEOUT):
    """Wait until the peer (eddyd's kernel) acknowledged all we sent."""
    deadline = time.monotonic() + timeout
    while unsent_bytes(s) > 0:
        if time.monotonic() > deadline:
            raise AssertionError("peer did not take our %d queued bytes within %.0fs"
                                 % (unsent_bytes(s), timeout))
        time.sleep(0.01)


class ThreadedServer:
    """A TCP server on HOST for a test to talk to through eddyd: a thread
    accepts (counting `opened`) and hands each connection to a thread of
    its own running self.conn(c), which a subclass writes.  sock: a
    socket already bound (opstest.refusing_port's), listened on here."""

    def __init__(self, port=0, backlog=64, sock=None):
        if sock is None:
            sock = socket.socket()
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((HOST, port))
        self.sock = sock
        self.sock.listen(backlog)
        self.port = self.sock.getsockname()[1]
        self.opened = 0
        self.ended = 0
        self.lock = threading.Lock()
        self.stop = False
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        self.sock.settimeout(0.2)
        while not self.stop:
            try:
                c, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            with self.lock:
                self.opened += 1
            threading.Thread(target=self.conn, args=(c,), daemon=True).start()

    def conn(self, c):
        raise NotImplementedError

    def close(self):
        self.stop = True
        self.thread.join(5)
        self.sock.close()


def read_until_eof(s, timeout=IO_TIMEOUT, limit=1 << 30):
    """Read until EOF; returns (data, how) with how 'eof' or 'reset'."""
    s.settimeout(timeout)
    deadline = time.monotonic() + timeout
    parts = []
    total = 0
    while True:
        if time.monotonic() > deadline:
            raise AssertionError("no EOF within %.0fs (%d bytes read)" % (timeout, total))
        try:
            b = s.recv(1 << 18)
        except ConnectionResetError:
            return b"".join(parts), "reset"
        except socket.timeout:
            raise AssertionError("no EOF within %.0fs (%d bytes read)" % (timeout, total))
        if not b:
            return b"".join(parts), "eof"
        parts.append(b)
        total += len(b)
        if total > limit:
            raise AssertionError("more than %d bytes before EOF" % limit)


def expect_closed(s, timeout=IO_TIMEOUT):
    """Assert the peer closes this connection (EOF or reset) within
    timeout, discarding whatever data comes first.  Returns 'eof'/'reset'."""
    return read_until_eof(s, timeout=timeout)[1]


def read_all_until_closed(socks, timeout=IO_TIMEOUT * 2):
    """Read every socket (discarding data) until each sees EOF or a reset,
    all at once on one selector, so that a server draining its output to
    all of them can finish.  Returns {index: 'eof'|'reset'}; raises
    AssertionError naming the sockets still open after timeout."""
    sel = selectors.DefaultSelector()
    result = {}
    for i, s in enumerate(socks):
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ, i)
    deadline = time.monotonic() + timeout
    try:
        while len(result) < len(socks):
            left = deadline - time.monotonic()
            if left <= 0:
                open_ = sorted(set(range(len(socks))) - set(result))
                raise AssertionError("connections %s still open %.0fs later" % (open_, timeout))
            for key, _ in sel.select(min(left, 1.0)):
                s, i = key.fileobj, key.data
                try:
                    b = s.recv(1 << 18)
                except BlockingIOError:
                    continue
                except ConnectionResetError:
                    b, result[i] = b"", "reset"
                if not b:
                    result.setdefault(i, "eof")
                    sel.unregister(s)
    finally:
        sel.close()
        for s in socks:
            s.setblocking(True)
    return result


def port_is_free(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind((HOST, port))
        return True
    except OSError:
        return False
    finally:
        s.close()


# ---------------------------------------------------------------------------
# payloads and the reply checker
# ---------------------------------------------------------------------------

_PATTERN_LEN = 65521          # prime, so never aligned with power-of-two sizes
_PATTERN = None
_BIG = None
_PIECE = 1 << 20              # longest slice served without a join


def _pattern():
    global _PATTERN, _BIG
    if _PATTERN is None:
        rng = random.Random(0xEDD1)
        raw = bytearray(rng.getrandbits(8) for _ in range(_PATTERN_LEN))
        # Never b'R' (0x52), the first byte of the default prefix, so a reply
        # stream can be cut into prefix + chunk without knowing the chunks.
        for i, c in enumerate(raw):
            if c == 0x52:
                raw[i] = 0x53
        _PATTERN = bytes(raw)
        reps = (_PIECE + 2 * _PATTERN_LEN) // _PATTERN_LEN + 1
        _BIG = _PATTERN * reps
    return _PATTERN


def payload(n, stream=0, offset=0):
    """n bytes of stream number `stream` starting at `offset`.

    Each stream is the shared random pattern (no b'R' in it) rotated by a
    stream-specific amount, so bytes of one client showing up on another
    client's connection are caught."""
    _pattern()
    start = (offset + stream * 7919) % _PATTERN_LEN
    if n <= _PIECE:
        return _BIG[start:start + n]
    parts = []
    while n > 0:
        k = min(n, _PIECE)
        parts.append(_BIG[start:start + k])
        start = (start + k) % _PATTERN_LEN
        n -= k
    return b"".join(parts)


class EchoError(AssertionError):
    pass


class EchoChecker:
    """Checks a reply stream against what one client sent.

    The stream must be (prefix + chunk)* where every chunk is non-empty and
    the chunks concatenate to payload(total, stream).  With an empty prefix
    the stream must equal the payload byte for byte.  feed() raises
    EchoError at the first wrong byte, naming its offset."""

    def __init__(self, prefix=DEFAULT_PREFIX, stream=0, name="client"):
        if isinstance(prefix, str):
            prefix = prefix.encode()
        self.prefix = prefix
        self.stream = stream
        self.name = name
        self.got = 0            # payload bytes verified
        self.chunks = 0         # replies (prefix + chunk) seen
        self.reply_bytes = 0
        # None: inside a chunk (or no prefix); k: k bytes of a prefix matched
        self._pmatched = 0 if prefix else None
        self._chunk_len = 0
        self._first = prefix[:1]

    def _fail(self, what):
        raise EchoError("%s: %s (after %d payload bytes, %d replies, %d reply bytes)"
                        % (self.name, what, self.got, self.chunks, self.reply_bytes))

    def feed(self, data):
        n = len(data)
        i = 0
        prefix = self.prefix
        plen = len(prefix)
        base = self.reply_bytes
        self.reply_bytes += n
        while i < n:
            if self._pmatched is not None:
                k = self._pmatched
                take = min(plen - k, n - i)
                if data[i:i + take] != prefix[k:k + take]:
                    self._fail("expected prefix %r at reply byte %d, got %r"
                               % (prefix, base + i - k, bytes(data[i:i + min(n - i, 24)])))
                self._pmatched = k + take
                i += take
                if self._pmatched == plen:
                    self._pmatched = None
                    self._chunk_len = 0
                    self.chunks += 1
                continue
            if plen:
                j = data.find(self._first, i)
                if j < 0:
                    j = n
            else:
                j = n
            if j == i:
                if self._chunk_len == 0:
                    self._fail("empty chunk: prefix followed directly by prefix")
                self._pmatched = 0
                continue
            piece = data[i:j]
            want = payload(len(piece), self.stream, self.got)
            if piece != want:
                bad = next(x for x in range(len(piece)) if piece[x] != want[x])
                self._fail("payload byte %d wrong: got %r, want %r"
                           % (self.got + bad, bytes(piece[bad:bad + 16]), bytes(want[bad:bad + 16])))
            self.got += len(piece)
            self._chunk_len += len(piece)
            i = j

    def complete(self, total):
        """True when exactly `total` payload bytes arrived and the stream is
        not in the middle of a prefix."""
        if self.got > total:
            self._fail("more payload echoed (%d) than sent (%d)" % (self.got, total))
        return self.got == total and self._pmatched is None

    def check_final(self, total):
        """After EOF: everything came back, nothing more, not cut in a prefix."""
        if self._pmatched is not None and self._pmatched > 0:
            self._fail("stream ends inside a prefix")
        if self._pmatched == 0 and self.prefix:
            # 0 matched and not inside a chunk: only possible before any reply.
            if total != 0:
                self._fail("no reply at all")
        if self.got != total:
            self._fail("stream ended after %d of %d payload bytes" % (self.got, total))


def roundtrip(s, data_len, checker, timeout=IO_TIMEOUT):
    """Send payload bytes [checker.got, +data_len) and read until all of them
    came back.  s is a blocking socket."""
    start = checker.got
    s.sendall(payload(data_len, checker.stream, start))
    end = start + data_len
    deadline = time.monotonic() + timeout
    s.settimeout(timeout)
    while not checker.complete(end):
        if time.monotonic() > deadline:
            raise AssertionError("%s: only %d of %d echoed bytes within %.0fs"
                                 % (checker.name, checker.got - start, data_len, timeout))
        try:
            b = s.recv(1 << 18)
        except socket.timeout:
            raise AssertionError("%s: only %d of %d echoed bytes within %.0fs"
                                 % (checker.name, checker.got - start, data_len, timeout))
        if not b:
            raise AssertionError("%s: EOF after %d of %d echoed bytes"
                                 % (checker.name, checker.got - start, data_len))
        checker.feed(b)


def echo_once(port, data=b"ping", prefix=DEFAULT_PREFIX, timeout=IO_TIMEOUT):
    """Connect, send data, read exactly prefix + data back (however eddyd
    chunks it), close.  Raises AssertionError otherwise."""
    want = prefix + data
    s = connect(port, timeout=timeout)
    try:
        s.sendall(data)
        got = b""
        deadline = time.monotonic() + timeout
        while len(got) < len(want) and time.monotonic() < deadline:
            b = s.recv(len(want) - len(got))
            if not b:
                break
            got += b
        if got != want:
            raise AssertionError("echo_once: sent %r, want %r, got %r" % (data, want, got))
    finally:
        s.close()


# ---------------------------------------------------------------------------
# many clients on one selector
# ---------------------------------------------------------------------------

class _Client:
    __slots__ = ("i", "sock", "checker", "connected", "sent", "pending", "msg_index",
                 "done", "events")

    def __init__(self, i, prefix):
        self.i = i
        self.sock = None
        self.checker = EchoChecker(prefix, stream=i, name="client %d" % i)
        self.connected = False
        self.sent = 0
        self.pending = memoryview(b"")
        self.msg_index = 0     # messages handed to pending so far
        self.done = False
        self.events = 0


def run_clients(port, nclients, msg_size, nmsgs, pipelined, prefix=DEFAULT_PREFIX,
                timeout=300.0, recv_size=1 << 18):
    """nclients concurrent connections, each sending nmsgs messages of
    msg_size bytes.  Pipelined: all messages are written back to back (as
    fast as the socket takes them) while replies are read.  Not pipelined:
    each message is sent only after the previous one fully came back.
    Every reply byte is checked.  Returns a summary dict; raises
    AssertionError on the first wrong byte, early EOF, reset or timeout."""
    sel = selectors.DefaultSelector()
    clients = [_Client(i, prefix) for i in range(nclients)]
    total = msg_size * nmsgs
    deadline = time.monotonic() + timeout
    t0 = time.monotonic()
    try:
        for c in clients:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setblocking(False)
            err = s.connect_ex((HOST, port))
            if err not in (0, errno.EINPROGRESS):
                raise AssertionError("client %d: connect: %s" % (c.i, os.strerror(err)))
            c.sock = s
            c.events = selectors.EVENT_WRITE
            sel.register(s, c.events, c)
        remaining = nclients

        def next_message(c):
            if c.msg_index < nmsgs:
                c.pending = memoryview(payload(msg_size, c.i, c.msg_index * msg_size))
                c.msg_index += 1

        def want(c):
            ev = selectors.EVENT_READ
            if len(c.pending) or not c.connected:
                ev |= selectors.EVENT_WRITE
            if ev != c.events:
                c.events = ev
                sel.modify(c.sock, ev, c)

        while remaining:
            left = deadline - time.monotonic()
            if left <= 0:
                stuck = [c for c in clients if not c.done]
                desc = ", ".join("client %d: connected=%s sent=%d echoed=%d/%d"
                                 % (c.i, c.connected, c.sent, c.checker.got, total)
                                 for c in stuck[:5])
                raise AssertionError("%d of %d clients not done within %.0fs: %s"
                                     % (len(stuck), nclients, timeout, desc))
            for key, ev in sel.select(min(left, 1.0)):
                c = key.data
                if c.done:
                    continue
                s = c.sock
                if not c.connected:
                    if not ev & selectors.EVENT_WRITE:
                        continue
                    err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                    if err:
                        raise AssertionError("client %d: connect: %s" % (c.i, os.strerror(err)))
                    c.connected = True
                    next_message(c)
                    want(c)
                    continue
                if ev & selectors.EVENT_WRITE and len(c.pending):
                    try:
                        n = s.send(c.pending)
                    except BlockingIOError:
                        n = 0
                    except OSError as e:
                        raise AssertionError("client %d: send after %d bytes: %s"
                                             % (c.i, c.sent, e))
                    c.pending = c.pending[n:]
                    c.sent += n
                    if not len(c.pending) and pipelined:
                        next_message(c)
                if ev & selectors.EVENT_READ:
                    try:
                        b = s.recv(recv_size)
                    except BlockingIOError:
                        b = None
                    except OSError as e:
                        raise AssertionError("client %d: recv after %d echoed bytes: %s"
                                             % (c.i, c.checker.got, e))
                    if b is not None:
                        if not b:
                            raise AssertionError("client %d: EOF after %d of %d echoed bytes"
                                                 % (c.i, c.checker.got, total))
                        c.checker.feed(b)
                        if c.checker.got > c.sent:
                            raise AssertionError("client %d: %d bytes echoed but only %d sent"
                                                 % (c.i, c.checker.got, c.sent))
                        if c.checker.complete(total):
                            c.done = True
                            remaining -= 1
                            sel.unregister(s)
                            s.close()
                            continue
                        if (not pipelined and not len(c.pending)
                                and c.checker.complete(c.msg_index * msg_size)):
                            next_message(c)
                want(c)
    finally:
        for c in clients:
            if c.sock is not None and not c.done:
                try:
                    sel.unregister(c.sock)
                except (KeyError, ValueError):
                    pass
                c.sock.close()
        sel.close()
    return {"clients": nclients, "bytes_each_way": total * nclients,
            "replies": sum(c.checker.chunks for c in clients),
            "seconds": time.monotonic() - t0}


# ---------------------------------------------------------------------------
# the test case base
# ---------------------------------------------------------------------------

class EddyTestCase(unittest.TestCase):
    """Starts eddyd per test and always kills it at cleanup."""

    def start_eddyd(self, **kw):
        d = Eddyd(**kw)
        self.addCleanup(d.kill)
        d.start()
        return d

    def stop_eddyd(self, d, sig=signal.SIGTERM, timeout=STOP_TIMEOUT, send=True):
        """Stop with sig and assert a clean exit: status 0, no sanitizer
        report.  send=False: sig was sent already, only wait."""
        rc = d.stop(sig, timeout, send)
        report = d.sanitizer_report()
        self.assertIsNone(report, "sanitizer report on eddyd's stderr:\n%s" % report)
        self.assertIsNotNone(rc, "eddyd did not exit within %.0fs of %s"
                             % (timeout, signal.Signals(sig).name))
        self.assertEqual(rc, 0, "eddyd exit status after %s; stderr:\n%s"
                         % (signal.Signals(sig).name, d.stderr()[-4000:]))

    def assert_alive(self, d):
        self.assertTrue(d.alive(), "eddyd died (status %s); stderr:\n%s"
                        % (d.proc.returncode, d.stderr()[-4000:]))
        report = d.sanitizer_report()
        self.assertIsNone(report, "sanitizer report on eddyd's stderr:\n%s" % report)

    def wait_fds(self, d, expected, timeout=IO_TIMEOUT):
        """Wait until eddyd holds at most `expected` fds (connections closed
        on our side are closed on eddyd's side too: nothing leaks)."""
        deadline = time.monotonic() + timeout
        n = d.fd_count()
        while n > expected:
            if time.monotonic() > deadline:
                fds = sorted(os.readlink("/proc/%d/fd/%s" % (d.pid, f))
                             for f in os.listdir("/proc/%d/fd" % d.pid))
                self.fail("eddyd still holds %d fds, expected <= %d after %.0fs (leaked "
                          "connections?): %s%s" % (n, expected, timeout, fds[:20],
                                                   " ..." if len(fds) > 20 else ""))
            time.sleep(0.05)
            n = d.fd_count()
        return n
