#!/usr/bin/env python3
"""integration.ops_stats - the counters, checked against the traffic sent.

eddyd with 2 workers: an echo listener (prefix "R: "), a unix stats listener
(what `eddyd --stats -c FILE` asks) and a tcp stats listener (Prometheus).

The stats connections are counted like any other, and that is accounted
for exactly: each query adds 1 accepted, 6 bytes_in ("stats\\n") and 1
messages_in before its answer is formatted, and its answer (1 message_out,
len(answer) bytes_out) shows in the next query.

- `eddyd --stats -c FILE`: every line is "name value" or "worker.N.name
  value"; all 18 names are there; per-worker values add up to the totals.
- Traffic: 10 connections x 5 sequential round trips of 100 bytes.  The
  deltas must then be exact: accepted +10, bytes_in +5,000, bytes_out
  +5 x 10 x 103, messages_in/out +50 (one read and one send per message:
  each message is sent only after the previous reply came back), plus the
  stats queries' own share; `open` ends at 1 (the query itself) once the
  clients closed; errors and refusals stay 0.
- Prometheus: an HTTP GET answers 200 with Content-Type text/plain;
  version=0.0.4 and a correct Content-Length; every line parses; every
  counter is eddy_<name>_total with "# TYPE ... counter", gauges (open,
  pool_queue) are eddy_<name> with "# TYPE ... gauge"; each has one sample
  per worker (worker="0", "1"); their sums equal the last --stats totals
  plus the GET's own share.
"""

import re
import time

import eddytest
import opstest
from eddytest import HOST, log

NAMES = ["accepted", "refused", "refused_per_ip", "open", "bytes_in", "bytes_out",
         "messages_in", "messages_out", "datagrams_in", "datagrams_out", "datagrams_dropped",
         "timeouts", "errors_io", "errors_too_large", "errors_nomem", "errors_proxy",
         "accept_pauses", "pool_queue"]
GAUGES = {"open", "pool_queue"}


class Stats(opstest.OpsTestCase):

    def setUp(self):
        super().setUp()
        self.answers = []       # length of each --stats answer, in order

    def query(self, d):
        """eddyd --stats -c FILE; remembers the share of the stats traffic."""
        rc, out, err = eddytest.run_eddyd(["--stats", "-c", d.conf])
        self.assertEqual(rc, 0, "eddyd --stats: %s" % err)
        totals, workers = opstest.parse_stats(out)
        self.answers.append(len(out.encode()))
        return totals, workers

    def check_shape(self, totals, workers, nworkers):
        self.assertEqual(sorted(totals), sorted(NAMES))
        self.assertEqual(sorted(workers), list(range(nworkers)))
        for name in NAMES:
            self.assertEqual(sum(w[name] for w in workers.values()), totals[name],
                             "%s: the workers' values do not add up to the total" % name)

    def test_stats_match_the_traffic(self):
        unix = self.path("stats.sock")
        prom_port = opstest.free_port()
        conf = self.config('listen tcp %s:0 {\n    handler echo\n    prefix "R: "\n}\n'
                           "listen unix %s {\n    handler stats\n}\n"
                           "listen tcp %s:%d {\n    handler stats\n}\n"
                           % (HOST, unix, HOST, prom_port))
        d = self.run_conf(conf, listeners=3)
        port = d.port(0)
        s0, w0 = self.query(d)
        self.check_shape(s0, w0, 2)
        self.assertEqual(s0["accepted"], 1, s0)   # the query itself
        i0 = len(self.answers) - 1

        nconn, nmsg, size = 10, 5, 100
        for i in range(nconn):
            s = eddytest.connect(port)
            ck = eddytest.EchoChecker(b"R: ", stream=i)
            for k in range(nmsg):
                eddytest.roundtrip(s, size, ck)
            self.assertEqual(ck.chunks, nmsg)
            s.close()

        # Wait until eddyd saw the 10 closes (open = 1: the query).
        deadline = time.monotonic() + 60
        while True:
            s1, w1 = self.query(d)
            if s1["open"] == 1 or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        self.check_shape(s1, w1, 2)
        q = len(self.answers) - 1 - i0      # queries after s0, this one included
        answered = sum(self.answers[i0:-1])  # answers sent after s0 was formatted
        want = {
            "accepted": nconn + q,
            "bytes_in": nconn * nmsg * size + 6 * q,
            "messages_in": nconn * nmsg + q,
            "messages_out": nconn * nmsg + q,
            "bytes_out": nconn * nmsg * (size + 3) + answered,
        }
        got = {k: s1[k] - s0[k] for k in want}
        log("deltas over %d connections x %d messages (+%d stats queries): %s"
            % (nconn, nmsg, q, got))
        self.assertEqual(got, want, "stats deltas vs the traffic sent")
        self.assertEqual(s1["open"], 1, s1)
        for k in ("refused", "refused_per_ip", "timeouts", "errors_io", "errors_too_large",
                  "errors_nomem", "errors_proxy", "accept_pauses", "pool_queue",
                  "datagrams_in", "datagrams_out", "datagrams_dropped"):
            self.assertEqual(s1[k], 0, "%s: %s" % (k, s1))

        # Prometheus on the tcp stats listener.
        request = b"GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n"
        s = eddytest.connect(prom_port)
        s.sendall(request)
        raw, how = eddytest.read_until_eof(s)
        s.close()
        head, sep, body = raw.partition(b"\r\n\r\n")
        self.assertTrue(sep, raw[:300])
        lines = head.decode().split("\r\n")
        self.assertEqual(lines[0], "HTTP/1.1 200 OK")
        headers = {k.lower(): v.strip() for k, v in (x.split(":", 1) for x in lines[1:])}
        self.assertEqual(headers.get("content-type"), "text/plain; version=0.0.4")
        self.assertEqual(int(headers.get("content-length", -1)), len(body))
        types, samples = opstest.parse_prometheus(body.decode())
        for name in NAMES:
            metric = "eddy_" + name + ("" if name in GAUGES else "_total")
            self.assertEqual(types.get(metric), "gauge" if name in GAUGES else "counter", metric)
            per = {dict(lbl).get("worker"): v for (m, lbl), v in samples.items() if m == metric}
            self.assertEqual(sorted(per), ["0", "1"], "%s samples: %s" % (metric, per))
            total = sum(per.values())
            want = s1[name]
            if name == "accepted":
                want += 1                               # the GET's connection
            elif name == "bytes_in":
                want += len(request)
            elif name == "messages_in":
                want += 1
            elif name == "messages_out":
                want += 1                               # the last --stats answer
            elif name == "bytes_out":
                want += self.answers[-1]
            self.assertEqual(total, want, "%s: Prometheus sum %s, expected %s" % (metric, total,
                                                                                 want))
        self.assertEqual(len(samples), len(NAMES) * 2)
        self.stop(d)


if __name__ == "__main__":
    opstest.main()
