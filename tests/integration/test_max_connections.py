#!/usr/bin/env python3
"""integration.max_connections - eddyd --max-connections 10.

Ten connections are served; an eleventh is closed at once (the client sees
EOF or a reset) while the ten keep working; the refusal is logged, and the
log is rate-limited (200 refusals in a burst do not make 200 lines).  The
count goes down on every kind of close (normal, reset, half-close), so a
freed slot is usable again, and never more than ten are served at once."""

import re
import socket
import time

import eddytest
from eddytest import EddyTestCase, EchoChecker, set_linger_reset

LIMIT = 10
# A line about the refusal: it names connections and the limit/refusal.
REFUSED_LOG_RE = re.compile(r"(?i)connection.*(limit|max|refus|reject|too many)"
                            r"|(limit|max|refus|reject|too many).*connection")


class MaxConnections(EddyTestCase):

    def setUp(self):
        self.d = self.start_eddyd(workers=2, max_connections=LIMIT)
        self.stream = 0

    def served(self):
        """A new connection that gets a round trip through."""
        s = eddytest.connect(self.d.port)
        self.stream += 1
        eddytest.roundtrip(s, 100, EchoChecker(stream=self.stream))
        return s

    def refused(self):
        """A new connection that eddyd must close at once."""
        s = eddytest.connect(self.d.port)
        how = eddytest.expect_closed(s, timeout=eddytest.IO_TIMEOUT)
        s.close()
        return how

    def served_eventually(self, timeout=eddytest.IO_TIMEOUT):
        """After a slot was freed: eddyd may take a moment to see the close,
        so retry a refused connection until one is served."""
        deadline = time.monotonic() + timeout
        while True:
            s = eddytest.connect(self.d.port)
            self.stream += 1
            try:
                eddytest.roundtrip(s, 100, EchoChecker(stream=self.stream))
                return s
            except (AssertionError, ConnectionError):
                s.close()
                if time.monotonic() > deadline:
                    self.fail("no connection served within %.0fs after one of %d was closed"
                              % (timeout, LIMIT))
                time.sleep(0.1)

    def fill(self):
        return [self.served() for _ in range(LIMIT)]

    def all_still_served(self, socks):
        for s in socks:
            self.stream += 1
            eddytest.roundtrip(s, 100, EchoChecker(stream=self.stream))

    def test_eleventh_is_closed_and_logged(self):
        socks = self.fill()
        mark = len(self.d.stderr_lines())
        self.refused()
        line = self.d.wait_for_log(REFUSED_LOG_RE, start=mark)
        self.assertIsNotNone(line, "no log line about the refused connection; stderr since:\n%s"
                             % "\n".join(self.d.stderr_lines()[mark:]))
        eddytest.log("refusal logged as: %s" % line)
        self.all_still_served(socks)
        for s in socks:
            s.close()
        self.stop_eddyd(self.d)

    def test_refused_while_sending(self):
        # The eleventh client sends data straight away: it still gets no
        # reply, only EOF/reset.
        socks = self.fill()
        s = eddytest.connect(self.d.port)
        try:
            s.sendall(b"let me in")
        except ConnectionError:
            pass
        data, how = eddytest.read_until_eof(s)
        self.assertEqual(data, b"", "refused connection got a reply")
        s.close()
        self.all_still_served(socks)
        for s in socks:
            s.close()
        self.stop_eddyd(self.d)

    def test_log_is_rate_limited(self):
        socks = self.fill()
        mark = len(self.d.stderr_lines())
        t0 = time.monotonic()
        n = 200
        for _ in range(n):
            self.refused()
        elapsed = time.monotonic() - t0
        # Give the last log lines time to arrive.
        time.sleep(1.0)
        lines = [l for l in self.d.stderr_lines()[mark:] if REFUSED_LOG_RE.search(l)]
        eddytest.log("%d refusals in %.1fs gave %d log lines" % (n, elapsed, len(lines)))
        self.assertGreaterEqual(len(lines), 1, "refusals not logged")
        # Rate-limited: far fewer lines than refusals (allowing a generous
        # rate of one per second plus a burst, however slow the machine).
        self.assertLess(len(lines), min(n, n // 4 + elapsed + 1),
                        "log not rate-limited: %d lines for %d refusals in %.1fs:\n%s"
                        % (len(lines), n, elapsed, "\n".join(lines[:20])))
        self.all_still_served(socks)
        for s in socks:
            s.close()
        self.stop_eddyd(self.d)

    def test_slot_freed_by_close_is_reused(self):
        socks = self.fill()
        self.refused()
        socks.pop(0).close()
        socks.append(self.served_eventually())
        # Exactly one slot was freed: the next is refused again.
        self.refused()
        self.all_still_served(socks)
        for s in socks:
            s.close()
        self.stop_eddyd(self.d)

    def test_count_goes_down_on_every_close(self):
        # Fill and empty the ten slots five times, closing in three ways:
        # close, reset, half-close.  A leak in the count would make later
        # rounds refuse.
        for round_ in range(5):
            socks = [self.served_eventually() for _ in range(LIMIT)]
            self.refused()
            for i, s in enumerate(socks):
                kind = (i + round_) % 3
                if kind == 1:
                    set_linger_reset(s)
                elif kind == 2:
                    s.shutdown(socket.SHUT_WR)
                    eddytest.expect_closed(s)
                s.close()
        socks = [self.served_eventually() for _ in range(LIMIT)]
        self.refused()
        for s in socks:
            s.close()
        self.stop_eddyd(self.d)

    def test_refusals_do_not_count(self):
        # 100 refused connections do not eat slots: after the ten leave,
        # ten new ones are served.
        socks = self.fill()
        for _ in range(100):
            self.refused()
        for s in socks:
            s.close()
        socks = [self.served_eventually() for _ in range(LIMIT)]
        self.refused()
        for s in socks:
            s.close()
        self.stop_eddyd(self.d)


if __name__ == "__main__":
    eddytest.main()
