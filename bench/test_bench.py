#!/usr/bin/env python3
"""bench.results - scripts/bench and bench/bench.py (and scripts/soak)
leave the committed results alone unless asked (--publish), and the plot's
data.

Each test copies bench/bench.py (and scripts/bench) into a temporary tree
with a results/ folder holding copies of the committed latest.*, then runs
the real command with --from (write the results again from a latest.json,
no load): the code that chooses the folder is the one a measurement uses.
Nothing here starts a server or depends on timing.

    python3 bench/test_bench.py [-k name]
"""

import hashlib
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
COMMITTED = os.path.join(HERE, "results")
LATEST = ("latest.json", "latest.md", "latest.png")


def load_bench():
    spec = importlib.util.spec_from_file_location("bench", os.path.join(HERE, "bench.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


bench = load_bench()


def digest(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def dpkg_has(*pkgs):
    return all(subprocess.run(["dpkg", "-s", p], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL).returncode == 0 for p in pkgs)


class Tree(unittest.TestCase):
    """A copy of the parts of the repository the commands use."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="eddy-bench-test-")
        os.makedirs(os.path.join(self.tmp, "bench", "results"))
        os.makedirs(os.path.join(self.tmp, "scripts"))
        shutil.copy(os.path.join(HERE, "bench.py"), os.path.join(self.tmp, "bench"))
        shutil.copy(os.path.join(ROOT, "scripts", "bench"), os.path.join(self.tmp, "scripts"))
        self.results = os.path.join(self.tmp, "bench", "results")
        for name in LATEST:
            shutil.copy(os.path.join(COMMITTED, name), self.results)
        self.before = {n: digest(os.path.join(self.results, n)) for n in LATEST}

    def tearDown(self):
        shutil.rmtree(self.tmp)

    def run_cmd(self, argv):
        r = subprocess.run(argv, cwd=self.tmp, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True, timeout=120)
        return r.returncode, r.stdout + r.stderr

    def bench_py(self, *args):
        return self.run_cmd([sys.executable, os.path.join(self.tmp, "bench", "bench.py"),
                             "--from", os.path.join(self.results, "latest.json")] + list(args))

    def assert_untouched(self):
        after = {n: digest(os.path.join(self.results, n)) for n in LATEST}
        self.assertEqual(after, self.before, "the committed latest.* were rewritten")

    def runs(self):
        return sorted(d for d in os.listdir(self.results) if d.startswith("run-"))

    def assert_written(self, folder):
        for name in ("latest.json", "latest.md"):
            self.assertTrue(os.path.isfile(os.path.join(folder, name)), "%s not in %s" % (name, folder))
        with open(os.path.join(folder, "latest.json")) as a, open(os.path.join(self.results, "latest.json")) as b:
            self.assertEqual(json.load(a)["meta"], json.load(b)["meta"])


class Folder(Tree):

    def test_default_is_a_fresh_folder(self):
        rc, out = self.bench_py()
        self.assertEqual(rc, 0, out)
        rc, out = self.bench_py()
        self.assertEqual(rc, 0, out)
        self.assert_untouched()
        runs = self.runs()
        self.assertEqual(len(runs), 2, "two runs, two folders: %s" % runs)
        self.assertRegex(runs[0], r"^run-\d{8}-\d{6}(-\d+)?$")
        for r in runs:
            self.assert_written(os.path.join(self.results, r))

    def test_out(self):
        dest = os.path.join(self.tmp, "elsewhere", "x")
        rc, out = self.bench_py("--out", dest)
        self.assertEqual(rc, 0, out)
        self.assert_untouched()
        self.assertEqual(self.runs(), [])
        self.assert_written(dest)

    def test_out_to_the_committed_folder_is_refused(self):
        rc, out = self.bench_py("--out", os.path.join(self.tmp, "bench", ".", "results"))
        self.assertNotEqual(rc, 0)
        self.assertIn("--publish", out)
        self.assert_untouched()

    def test_out_and_publish_exclude_each_other(self):
        rc, out = self.bench_py("--out", os.path.join(self.tmp, "x"), "--publish")
        self.assertEqual(rc, 2, out)
        self.assert_untouched()

    def test_publish_rewrites_the_committed_files(self):
        md = os.path.join(self.results, "latest.md")
        with open(md, "w") as f:
            f.write("stale\n")
        rc, out = self.bench_py("--publish")
        self.assertEqual(rc, 0, out)
        with open(md) as f:
            self.assertTrue(f.read().startswith("# eddy benchmark results"))
        self.assertEqual(self.runs(), [])

    @unittest.skipUnless(dpkg_has("gnuplot-nox", "python3"), "scripts/bench would install gnuplot-nox")
    def test_scripts_bench_default(self):
        rc, out = self.run_cmd([os.path.join(self.tmp, "scripts", "bench"), "--from",
                                os.path.join(self.results, "latest.json")])
        self.assertEqual(rc, 0, out)
        self.assert_untouched()
        self.assertEqual(len(self.runs()), 1, out)
        folder = os.path.join(self.results, self.runs()[0])
        self.assert_written(folder)
        self.assertTrue(os.path.isfile(os.path.join(folder, "latest.png")), out)

    @unittest.skipUnless(shutil.which("gnuplot"), "no gnuplot")
    def test_plot_png(self):
        dest = os.path.join(self.tmp, "p")
        rc, out = self.bench_py("--out", dest)
        self.assertEqual(rc, 0, out)
        with open(os.path.join(dest, "latest.png"), "rb") as f:
            self.assertEqual(f.read(8), b"\x89PNG\r\n\x1a\n")


class Soak(unittest.TestCase):
    """tests/soak/soak.py (scripts/soak) chooses its folder with the same
    code: a copy of it in a temporary tree, run against /bin/false as
    eddyd, stops at "eddyd did not start" once it has opened its log."""
    SOAK = ("soak.csv", "soak.json", "soak.png", "soak-eddyd.log")

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="eddy-soak-test-")
        self.results = os.path.join(self.tmp, "bench", "results")
        os.makedirs(self.results)
        os.makedirs(os.path.join(self.tmp, "tests", "soak"))
        shutil.copy(os.path.join(HERE, "bench.py"), os.path.join(self.tmp, "bench"))
        shutil.copy(os.path.join(ROOT, "tests", "soak", "soak.py"), os.path.join(self.tmp, "tests", "soak"))
        for name in self.SOAK:
            shutil.copy(os.path.join(COMMITTED, name), self.results)
        self.before = {n: digest(os.path.join(self.results, n)) for n in self.SOAK}

    def tearDown(self):
        shutil.rmtree(self.tmp)

    def soak(self, *args):
        env = dict(os.environ, TMPDIR=self.tmp)
        r = subprocess.run([sys.executable, os.path.join(self.tmp, "tests", "soak", "soak.py"),
                            "--eddyd", shutil.which("false"), "--duration", "10"] + list(args),
                           cwd=self.tmp, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           text=True, timeout=60)
        self.assertIn("did not start", r.stdout)
        return r.stdout

    def test_default_is_a_fresh_folder(self):
        out = self.soak()
        after = {n: digest(os.path.join(self.results, n)) for n in self.SOAK}
        self.assertEqual(after, self.before, "the committed soak.* were rewritten")
        runs = [d for d in os.listdir(self.results) if d.startswith("soak-2")]
        self.assertEqual(len(runs), 1, out)
        self.assertTrue(os.path.isfile(os.path.join(self.results, runs[0], "soak-eddyd.log")))

    def test_publish(self):
        self.soak("--publish")
        self.assertNotEqual(digest(os.path.join(self.results, "soak-eddyd.log")), self.before["soak-eddyd.log"])


def run(name, msgs, cpu):
    return {"rep": 0, "msgs_per_s": msgs, "server": {"cpu_us_per_msg": cpu}, "errors": {"total": 0}}


def cell(c, per_server):
    """A cell as bench.py writes it: per server a summary (medians, min and
    max of msgs/s) and, when given, the runs."""
    out = {"cell": list(c), "servers": {}}
    for name, runs in per_server.items():
        ms = [r["msgs_per_s"] for r in runs]
        cpu = sorted(r["server"]["cpu_us_per_msg"] for r in runs)
        out["servers"][name] = {"summary": {"msgs_per_s": sorted(ms)[len(ms) // 2], "msgs_per_s_min": min(ms),
                                            "msgs_per_s_max": max(ms), "cpu_us_per_msg": cpu[len(cpu) // 2]},
                                "runs": runs}
    return out


class PlotData(unittest.TestCase):
    CELL = (64, 64, 1, 1)

    def cells(self):
        return [cell(self.CELL, {
            "eddy": [run(0, 110.0, 9.0), run(1, 120.0, 8.0), run(2, 150.0, 6.0)],
            "epoll": [run(0, 100.0, 10.0), run(1, 90.0, 11.0), run(2, 80.0, 12.0)],
        }), cell((1, 64, 1, 1), {"eddy": [run(0, 5.0, 1.0)], "epoll": [run(0, 5.0, 1.0)]})]

    def test_headline_cells_only_with_whiskers_from_the_reps(self):
        ref, rows = bench.plot_rows(self.cells(), {}, ["eddy", "epoll"])
        self.assertEqual(ref, "epoll")
        self.assertEqual([t for t, _ in rows], [bench.cell_name(self.CELL)])
        tp, cpu = rows[0][1]
        eddy = tp["bars"][0]
        self.assertEqual(eddy[0], "eddy")
        self.assertAlmostEqual(eddy[1], 120 / 90)  # median / the floor's median
        self.assertAlmostEqual(eddy[2], 110 / 90)  # min of the reps
        self.assertAlmostEqual(eddy[3], 150 / 90)  # max
        self.assertIn("1.33×", eddy[4])
        self.assertIn("120 /s", eddy[4])  # the absolute figure beside the ratio
        self.assertAlmostEqual(cpu["bars"][0][1], 8 / 11)
        self.assertAlmostEqual(cpu["bars"][0][2], 6 / 11)
        self.assertAlmostEqual(cpu["bars"][0][3], 9 / 11)

    def test_without_reps(self):
        cells = self.cells()
        for c in cells:
            for sv in c["servers"].values():
                del sv["runs"]
        ref, rows = bench.plot_rows(cells, {}, ["eddy", "epoll"])
        tp, cpu = rows[0][1]
        eddy = tp["bars"][0]
        self.assertAlmostEqual(eddy[1], 120 / 90)
        self.assertAlmostEqual(eddy[2], 110 / 90)  # the summary's min and max
        self.assertAlmostEqual(eddy[3], 150 / 90)
        self.assertEqual(cpu["bars"][0][1:4], (8 / 11,) * 3)  # no spread known: no whisker

    def test_other_cells_when_no_headline_cell(self):
        cells = [c for c in self.cells() if tuple(c["cell"]) != self.CELL]
        _, rows = bench.plot_rows(cells, {}, ["eddy", "epoll"])
        self.assertEqual([t for t, _ in rows], [bench.cell_name((1, 64, 1, 1))])

    def test_idle_row(self):
        idle = {"eddy": {"bytes_per_conn": 97.0, "runs": [
            {"server": {"rss_bytes_per_conn": v}, "errors": {"total": 0}} for v in (95.0, 97.0, 99.0)]}}
        _, rows = bench.plot_rows([], idle, ["eddy", "epoll"])
        self.assertEqual(len(rows), 1)
        self.assertEqual(rows[0][1][0]["bars"], [("eddy", 97.0, 95.0, 99.0, "97 B")])


class Eta(unittest.TestCase):

    def test_eta_from_the_finished_runs(self):
        clock = [100.0]
        real = bench.time.monotonic
        bench.time.monotonic = lambda: clock[0]
        try:
            p = bench.Progress(total=100.0)
            self.assertEqual(p.eta(), "ETA ?")
            clock[0] += 50.0  # 25 planned seconds took 50
            p.finished(25.0)
            self.assertEqual(p.eta(), "ETA 2m30s")  # 75 left, at 2 s each
        finally:
            bench.time.monotonic = real

    def test_format(self):
        self.assertEqual(bench.fmt_duration(59), "59s")
        self.assertEqual(bench.fmt_duration(200), "3m20s")
        self.assertEqual(bench.fmt_duration(3725), "1h02m")


if __name__ == "__main__":
    unittest.main()
