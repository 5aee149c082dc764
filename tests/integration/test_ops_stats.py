#!/usr/bin/env python3
"""integration.ops_stats - the counters, checked against the traffic sent.

eddyd with 2 workers: an echo listener (prefix "R: "), a unix stats listener
(what `eddyd --stats -c FILE` asks) and a tcp stats listener (Prometheus).

The stats connections are counted like any other, and that is accounted
for exactly: each query adds 1 accepted, 6 bytes_in ("stats\\n") and 1
reads before its answer is formatted, and its answer (1 message_out,
len(answer) bytes_out) shows in the next query.

- `eddyd --stats -c FILE`: every line is "name value" or "worker.N.name
  value"; all 18 names are there; per-worker values add up to the totals.
- Traffic: 10 connections x 5 sequential round trips of 100 bytes.  The
  deltas must then be exact: accepted +10, bytes_in +5,000, bytes_out
  +5 x 10 x 103, reads/out +50 (one read and one send per message:
  each message is sent only after the previous reply came back), plus the
  stats queries' own share; `open` ends at 1 (the query itself) once the
  clients closed; errors and refusals stay 0.
- Prometheus, read by prometheus_client's own parser: an HTTP GET answers
  200 with Content-Type "text/plain; version=0.0.4; charset=utf-8" and a
  right Content-Length.  Each counter above is its Prometheus metric
  (eddy_connections_accepted_total, eddy_received_bytes_total,
  eddy_errors_total{reason="io"}, ...: PROM below) of the right type, with
  one sample per listener (its bound address) and worker; their sums equal
  the last --stats totals plus the GET's own share, and the echo
  listener's samples hold exactly the echo traffic.  eddy_build_info
  carries `eddyd --version`'s version, eddy_connections_max the config's
  777, process_start_time_seconds falls between just before the start and
  just after the ready line, process_resident_memory_bytes and
  process_open_fds agree with /proc/PID.  HEAD gets the same headers and
  no body; POST gets 405 with Allow.  After a good and a bad SIGHUP,
  eddy_reloads_total says applied 1, failed 1.
- The proxy's own metrics (handler ABI 4): two proxy listeners on a live
  and a dead upstream, 8 sequential clients through the first.  Both
  formats hold the same per-upstream samples, one # HELP and # TYPE per
  name: connections 8 and the bytes sent each way on the live one, the
  dead one tried once (failures 1) and down (up 0), the second listener
  all zero and up; eddy_handler_samples_dropped 0.
- Reloads while reading: 10 SIGHUPs, each replacing one proxy listener
  (fixed port) and removing another (port 0), while one thread GETs
  /metrics and another asks the unix socket, over and over: every answer
  parses and holds exactly the two proxy listeners' samples; eddyd answers
  through the proxy after each reload and exits 0 with no sanitizer report.
"""

import os
import signal
import socket
import threading
import time

import eddytest
import opstest
from eddytest import HOST, IO_TIMEOUT, log

NAMES = ["accepted", "refused", "refused_per_ip", "open", "bytes_in", "bytes_out",
         "reads", "sends", "datagrams_in", "datagrams_out", "datagrams_dropped",
         "timeouts", "errors_io", "errors_too_large", "errors_nomem", "errors_proxy",
         "errors_output_limit", "accept_pauses", "pool_pending",
         "tls_handshakes_v12", "tls_handshakes_v13", "tls_resumed", "tls_failed_timeout",
         "tls_failed_closed", "tls_failed_version", "tls_failed_certificate",
         "tls_failed_protocol"]
GAUGES = {"open", "pool_pending"}
# Each "name value" counter and its Prometheus metric (with the labels that
# pick it out of a metric shared with others).
PROM = {
    "accepted": ("eddy_connections_accepted_total", {}),
    "refused": ("eddy_connections_refused_total", {"reason": "max_connections"}),
    "refused_per_ip": ("eddy_connections_refused_total", {"reason": "max_connections_per_ip"}),
    "open": ("eddy_connections_open", {}),
    "bytes_in": ("eddy_received_bytes_total", {}),
    "bytes_out": ("eddy_sent_bytes_total", {}),
    "reads": ("eddy_reads_total", {}),
    "sends": ("eddy_sends_total", {}),
    "datagrams_in": ("eddy_received_datagrams_total", {}),
    "datagrams_out": ("eddy_sent_datagrams_total", {}),
    "datagrams_dropped": ("eddy_dropped_datagrams_total", {}),
    "timeouts": ("eddy_connections_timed_out_total", {}),
    "errors_io": ("eddy_errors_total", {"reason": "io"}),
    "errors_too_large": ("eddy_errors_total", {"reason": "too_large"}),
    "errors_nomem": ("eddy_errors_total", {"reason": "nomem"}),
    "errors_proxy": ("eddy_errors_total", {"reason": "proxy"}),
    "errors_output_limit": ("eddy_errors_total", {"reason": "output_limit"}),
    "accept_pauses": ("eddy_accept_pauses_total", {}),
    "pool_pending": ("eddy_pool_pending_requests", {}),
    "tls_handshakes_v12": ("eddy_tls_handshakes_total", {"version": "TLSv1.2"}),
    "tls_handshakes_v13": ("eddy_tls_handshakes_total", {"version": "TLSv1.3"}),
    "tls_resumed": ("eddy_tls_resumed_handshakes_total", {}),
    "tls_failed_timeout": ("eddy_tls_handshake_failures_total", {"reason": "timeout"}),
    "tls_failed_closed": ("eddy_tls_handshake_failures_total", {"reason": "closed"}),
    "tls_failed_version": ("eddy_tls_handshake_failures_total", {"reason": "version"}),
    "tls_failed_certificate": ("eddy_tls_handshake_failures_total", {"reason": "certificate"}),
    "tls_failed_protocol": ("eddy_tls_handshake_failures_total", {"reason": "protocol"}),
}


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
        self.assertEqual(totals.get("handler_samples_dropped"), 0)  # no handler refused
        totals = {k: v for k, v in totals.items() if k != "handler_samples_dropped"}
        self.assertEqual(sorted(totals), sorted(NAMES))
        self.assertEqual(sorted(workers), list(range(nworkers)))
        for name in NAMES:
            self.assertEqual(sum(w[name] for w in workers.values()), totals[name],
                             "%s: the workers' values do not add up to the total" % name)

    def test_stats_match_the_traffic(self):
        unix = self.path("stats.sock")
        prom_port = opstest.free_port()
        conf = self.config('max_connections 777\n'
                           'listen tcp %s:0 {\n    handler echo\n    prefix "R: "\n}\n'
                           "listen unix %s {\n    handler stats\n}\n"
                           "listen tcp %s:%d {\n    handler stats\n}\n"
                           % (HOST, unix, HOST, prom_port))
        self.t0 = time.time()
        d = self.run_conf(conf, listeners=3)
        self.t1 = time.time()
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
            "reads": nconn * nmsg + q,
            "sends": nconn * nmsg + q,
            "bytes_out": nconn * nmsg * (size + 3) + answered,
        }
        got = {k: s1[k] - s0[k] for k in want}
        log("deltas over %d connections x %d messages (+%d stats queries): %s"
            % (nconn, nmsg, q, got))
        self.assertEqual(got, want, "stats deltas vs the traffic sent")
        self.assertEqual(s1["open"], 1, s1)
        for k in ("refused", "refused_per_ip", "timeouts", "errors_io", "errors_too_large",
                  "errors_nomem", "errors_proxy", "accept_pauses", "pool_pending",
                  "datagrams_in", "datagrams_out", "datagrams_dropped"):
            self.assertEqual(s1[k], 0, "%s: %s" % (k, s1))

        # Prometheus on the tcp stats listener.
        request = b"GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n"
        headers, body = self.http(prom_port, request)
        types, samples = opstest.parse_prometheus(body.decode())
        echo_addr = "%s:%d" % (HOST, port)
        listeners = {echo_addr, "unix:" + unix, "%s:%d" % (HOST, prom_port)}
        for name in NAMES:
            metric, want_labels = PROM[name]
            self.assertEqual(types.get(metric), "gauge" if name in GAUGES else "counter", metric)
            per = {}
            for (m, lbl), v in samples.items():
                lbl = dict(lbl)
                if m != metric or any(lbl.get(k) != x for k, x in want_labels.items()):
                    continue
                per[(lbl.get("listener"), lbl["worker"])] = v
            want_keys = {(None, w) for w in "01"} if name == "pool_pending" else \
                {(ls, w) for ls in listeners for w in "01"}
            self.assertEqual(set(per), want_keys, "%s samples: %s" % (metric, per))
            total = sum(per.values())
            want = s1[name]
            if name == "accepted":
                want += 1                               # the GET's connection
            elif name == "bytes_in":
                want += len(request)
            elif name == "reads":
                want += 1
            elif name == "sends":
                want += 1                               # the last --stats answer
            elif name == "bytes_out":
                want += self.answers[-1]
            self.assertEqual(total, want, "%s: Prometheus sum %s, expected %s" % (metric, total,
                                                                                 want))
            # The echo listener's own share: exactly the echo traffic.
            echo = {"accepted": nconn, "bytes_in": nconn * nmsg * size,
                    "reads": nconn * nmsg}
            if name in echo:
                mine = sum(v for (ls, _), v in per.items() if ls == echo_addr)
                self.assertEqual(mine, echo[name], "%s{listener=%s}" % (metric, echo_addr))
        self.assertEqual(samples[("eddy_connections_max", ())], 777)
        version = eddytest.run_eddyd(["--version"])[1].split()[1]
        self.assertEqual(samples[("eddy_build_info", (("version", version),))], 1)
        self.assertEqual(types["eddy_build_info"], "gauge")
        start = samples[("process_start_time_seconds", ())]
        self.assertTrue(self.t0 - 1 <= start <= self.t1 + 1,
                        "process_start_time_seconds %s not between %s and %s"
                        % (start, self.t0, self.t1))
        with open("/proc/%d/statm" % d.pid) as f:
            rss = int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        got = samples[("process_resident_memory_bytes", ())]
        self.assertTrue(rss / 2 <= got <= rss * 2, "RSS %s, /proc says %s" % (got, rss))
        fds = len(os.listdir("/proc/%d/fd" % d.pid))
        got = samples[("process_open_fds", ())]
        self.assertLessEqual(abs(got - fds), 2, "open fds %s, /proc says %s" % (got, fds))
        log("Prometheus: %d samples; RSS %d, fds %d, start %.2f"
            % (len(samples), rss, fds, start))

        # HEAD: the same headers, no body (curl -I); any other method: 405.
        hhead, hbody = self.http(prom_port, b"HEAD /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        self.assertEqual(hbody, b"")
        self.assertGreater(int(hhead["content-length"]), 0)
        self.assertEqual(hhead["content-type"], headers["content-type"])
        raw = self.raw(prom_port, b"POST /metrics HTTP/1.0\r\n\r\n")
        self.assertTrue(raw.startswith(b"HTTP/1.1 405 Method Not Allowed\r\n"), raw)
        self.assertIn(b"\r\nAllow: GET, HEAD\r\n", raw)

        # Reloads: one applied, one refused (a file with an error).
        d.signal(signal.SIGHUP)
        self.wait_reloads(prom_port, {"applied": 1, "failed": 0})
        with open(d.conf, "a") as f:
            f.write("nonsense 1\n")
        d.signal(signal.SIGHUP)
        self.wait_reloads(prom_port, {"applied": 1, "failed": 1})
        self.stop(d)

    def test_proxy_upstream_metrics(self):
        """Two proxy listeners on the same two upstreams, one live (an eddyd
        echo), one dead; traffic through the first only."""
        echo = self.start_eddyd(workers=1, prefix="")
        self.addCleanup(self.stop_eddyd, echo)
        live, dead = "%s:%d" % (HOST, echo.port), "%s:%d" % (HOST, opstest.refusing_port(self)[0])
        unix = self.path("stats.sock")
        prom_port = opstest.free_port()
        conf = self.config(
            "listen tcp %s:0 {\n    handler proxy\n    upstream %s %s\n    retries 1\n"
            "    fail_timeout 1h\n}\n"
            "listen tcp %s:0 {\n    handler proxy\n    upstream %s %s\n}\n"
            "listen unix %s {\n    handler stats\n}\n"
            "listen tcp %s:%d {\n    handler stats\n}\n"
            % (HOST, live, dead, HOST, live, dead, unix, HOST, prom_port))
        d = self.run_conf(conf, listeners=4)
        p1, p2 = d.listening[0][0], d.listening[1][0]

        # Sequential clients: the second one's first pick is the dead
        # upstream (round robin), which then stays down for fail_timeout.
        sizes = [1000 + 100 * i for i in range(8)]
        for i, n in enumerate(sizes):
            data = os.urandom(n)
            s = eddytest.connect(d.port(0))
            s.sendall(data)
            s.shutdown(socket.SHUT_WR)
            got, how = eddytest.read_until_eof(s)
            s.close()
            self.assertEqual(got, data, "client %d through the proxy (%s)" % (i, how))

        def metric(samples, name, listener, upstream):
            return samples[("eddy_proxy_upstream_" + name,
                            (("listener", listener), ("upstream", upstream)))]

        # Bytes are counted when a pair closes: wait for the last one.
        deadline = time.monotonic() + 60
        while True:
            _, body = self.http(prom_port, b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
            types, prom = opstest.parse_prometheus(body.decode())
            if (metric(prom, "received_bytes_total", p1, live) == sum(sizes)
                    or time.monotonic() > deadline):
                break
            time.sleep(0.05)
        text = {}
        totals, _ = opstest.parse_stats(
            eddytest.run_eddyd(["--stats", "-c", d.conf])[1], text)
        want = {}
        for name, kind in (("connections_total", "counter"), ("failures_total", "counter"),
                           ("received_bytes_total", "counter"), ("sent_bytes_total", "counter"),
                           ("active_connections", "gauge"), ("up", "gauge")):
            full = "eddy_proxy_upstream_" + name
            self.assertEqual(types.get(full), kind, full)
            self.assertEqual(body.decode().count("# TYPE %s " % full), 1, full)
            self.assertEqual(body.decode().count("# HELP %s " % full), 1, full)
            for ls in (p1, p2):
                for u in (live, dead):
                    want[(full, (("listener", ls), ("upstream", u)))] = 0
        for u in (live, dead):
            want[("eddy_proxy_upstream_up", (("listener", p2), ("upstream", u)))] = 1
        want.update({
            ("eddy_proxy_upstream_connections_total", (("listener", p1), ("upstream", live))):
                len(sizes),
            ("eddy_proxy_upstream_failures_total", (("listener", p1), ("upstream", dead))): 1,
            ("eddy_proxy_upstream_received_bytes_total", (("listener", p1), ("upstream", live))):
                sum(sizes),
            ("eddy_proxy_upstream_sent_bytes_total", (("listener", p1), ("upstream", live))):
                sum(sizes),
            ("eddy_proxy_upstream_up", (("listener", p1), ("upstream", live))): 1,
        })
        got = {k: v for k, v in prom.items() if k[0].startswith("eddy_proxy_")}
        self.assertEqual(got, want, "Prometheus")
        self.assertEqual(text, want, "eddyd --stats")
        self.assertEqual(prom[("eddy_handler_samples_dropped", ())], 0)
        self.assertEqual(totals["handler_samples_dropped"], 0)
        log("proxy metrics: %d samples in both formats, %d bytes each way, 1 failure"
            % (len(want), sum(sizes)))
        self.stop(d)

    def test_reload_while_reading(self):
        """SIGHUPs that replace a proxy listener (fixed port) and remove
        another (port 0) while two threads read the stats over and over,
        one over HTTP, one over the unix socket: every answer parses and has
        the proxy's samples; eddyd stays up and exits 0, no sanitizer
        report (the TSan build runs this too)."""
        echo = self.start_eddyd(workers=1, prefix="")
        self.addCleanup(self.stop_eddyd, echo)
        unix = self.path("stats.sock")
        prom_port, proxy_port = opstest.free_port(), opstest.free_port()
        conf = self.config(
            "listen tcp %s:%d {\n    handler proxy\n    upstream %s:%d\n}\n"
            "listen tcp %s:0 {\n    handler proxy\n    upstream %s:%d\n}\n"
            "listen unix %s {\n    handler stats\n}\n"
            "listen tcp %s:%d {\n    handler stats\n}\n"
            % (HOST, proxy_port, HOST, echo.port, HOST, HOST, echo.port, unix, HOST,
               prom_port))
        d = self.run_conf(conf, listeners=4)
        stop = threading.Event()
        answers = {"http": 0, "unix": 0}
        errors = []

        def read(kind):
            try:
                while not stop.is_set() and answers[kind] < 5000:
                    if kind == "http":
                        _, body = self.http(prom_port, b"GET /metrics HTTP/1.1\r\n\r\n")
                        _, samples = opstest.parse_prometheus(body.decode())
                    else:
                        samples = {}
                        opstest.stats_at(unix, samples=samples)
                    ups = [k for k in samples if k[0] == "eddy_proxy_upstream_up"]
                    if len(ups) != 2:
                        raise AssertionError("%s: %d up samples: %s" % (kind, len(ups), ups))
                    answers[kind] += 1
            except Exception as e:  # reported by the main thread
                errors.append("%s: %r" % (kind, e))

        readers = [threading.Thread(target=read, args=(k,)) for k in answers]
        for t in readers:
            t.start()
        try:
            for i in range(1, 11):
                d.signal(signal.SIGHUP)
                self.wait_reloads(prom_port, {"applied": i, "failed": 0})
                data = b"through the proxy %d" % i
                with eddytest.connect(proxy_port) as c:
                    try:
                        got = opstest.echo_request(c, data)
                    except OSError as e:
                        got = e
                self.assertEqual(got, data, "through the proxy after reload %d; stderr:\n%s"
                                 % (i, d.stderr()[-4000:]))
        finally:
            stop.set()
            for t in readers:
                t.join(IO_TIMEOUT * 2)
        self.assertEqual(errors, [])
        self.assertGreater(min(answers.values()), 0, answers)
        log("10 reloads while reading the stats: %s answers" % answers)
        self.assert_up(d)
        self.stop(d)

    def raw(self, port, request):
        s = eddytest.connect(port)
        s.sendall(request)
        raw, how = eddytest.read_until_eof(s)
        s.close()
        return raw

    def http(self, port, request):
        """A request to the Prometheus listener -> (headers, body), checked:
        200, the exposition format's Content-Type, a right Content-Length."""
        raw = self.raw(port, request)
        head, sep, body = raw.partition(b"\r\n\r\n")
        self.assertTrue(sep, raw[:300])
        lines = head.decode().split("\r\n")
        self.assertEqual(lines[0], "HTTP/1.1 200 OK")
        headers = {k.lower(): v.strip() for k, v in (x.split(":", 1) for x in lines[1:])}
        self.assertEqual(headers.get("content-type"), "text/plain; version=0.0.4; charset=utf-8")
        if not request.startswith(b"HEAD "):
            self.assertEqual(int(headers.get("content-length", -1)), len(body))
        return headers, body

    def wait_reloads(self, port, want, timeout=60):
        deadline = time.monotonic() + timeout
        while True:
            _, body = self.http(port, b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
            _, samples = opstest.parse_prometheus(body.decode())
            got = {r: samples[("eddy_reloads_total", (("result", r),))] for r in want}
            if got == want or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        self.assertEqual(got, want, "eddy_reloads_total")

if __name__ == "__main__":
    opstest.main()
