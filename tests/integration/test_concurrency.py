#!/usr/bin/env python3
"""integration.concurrency - 1, 64 and 1,000 concurrent clients with 64 B,
4 KiB and 1 MiB messages, pipelined and not, every byte checked.

All clients of a case run at once on one selector (no threads).  Each client
sends its own byte stream (so crossed connections are caught) and checks the
reply stream is (`Received: ` + chunk)* with the chunks adding up exactly to
what it sent.  "Pipelined": all messages written back to back while replies
are read; "sequential": each message sent only after the previous one came
back whole.

The matrix is bounded so the whole group stays in a few minutes even in a
sanitizer build (bytes are per direction):

    clients  64 B          4 KiB        1 MiB
    1        2000 msgs     500 msgs     16 msgs    (16 MiB)
    64       200 msgs      50 msgs      2 msgs     (128 MiB)
    1000     20 msgs       5 msgs       -

1,000 clients x 1 MiB is left out on purpose: it is >= 1 GB each way through
a Python client, tens of minutes under ASan, and 1 MiB messages are already
covered with 1 and 64 concurrent clients.

Run one row with e.g. `test_concurrency.py EDDYD -k clients_1000`; ctest
registers the three rows as three tests.
"""

import eddytest
from eddytest import EddyTestCase

KIB = 1024
MIB = 1024 * 1024

MATRIX = [
    # clients, size, messages, timeout (s)
    (1, 64, 2000, 300),
    (1, 4 * KIB, 500, 300),
    (1, MIB, 16, 300),
    (64, 64, 200, 300),
    (64, 4 * KIB, 50, 300),
    (64, MIB, 2, 600),
    (1000, 64, 20, 600),
    (1000, 4 * KIB, 5, 600),
]


def size_name(n):
    if n >= MIB:
        return "%dMiB" % (n // MIB)
    if n >= KIB:
        return "%dKiB" % (n // KIB)
    return "%dB" % n


class Concurrency(EddyTestCase):

    def run_case(self, nclients, size, nmsgs, pipelined, timeout):
        needed = nclients + 64
        self.assertGreaterEqual(eddytest.nofile_soft(), needed,
                                "RLIMIT_NOFILE too low for %d clients" % nclients)
        d = self.start_eddyd(workers=2)
        # Warm up, then note eddyd's fds: every connection must be gone
        # from eddyd once the clients closed (nothing leaks).
        eddytest.echo_once(d.port)
        base_fds = d.fd_count()
        r = eddytest.run_clients(d.port, nclients, size, nmsgs, pipelined, timeout=timeout)
        eddytest.log("%d clients x %d x %s %s: %d replies, %.1fs"
                     % (nclients, nmsgs, size_name(size),
                        "pipelined" if pipelined else "sequential",
                        r["replies"], r["seconds"]))
        self.assert_alive(d)
        self.wait_fds(d, base_fds)
        # Still serving after the load.
        eddytest.echo_once(d.port)
        self.stop_eddyd(d)


def _make(nclients, size, nmsgs, pipelined, timeout):
    def test(self):
        self.run_case(nclients, size, nmsgs, pipelined, timeout)
    return test


for _n, _size, _msgs, _timeout in MATRIX:
    for _pipe in (False, True):
        _name = "test_clients_%d_%s_x%d_%s" % (_n, size_name(_size), _msgs,
                                               "pipelined" if _pipe else "sequential")
        setattr(Concurrency, _name, _make(_n, _size, _msgs, _pipe, _timeout))


if __name__ == "__main__":
    eddytest.main()
