#!/usr/bin/env python3
"""integration.hotswap - a new build of a plugin replaces the old one on SIGHUP.

hotswap_v1.so and hotswap_v2.so (tests/integration/plugins/hotswap.c) answer
"v1 ..." and "v2 ...", and their fini() appends "vN fini" to a marker file.
v1 is installed as DIR/hot.so and eddyd serves it; then v2 is installed at the
same path and eddyd gets SIGHUP:

  - renamed over it (mv from a temporary name, or install(1), which makes a
    new file too): the connection opened before keeps answering v1, a new one
    answers v2; when the old connection closes, v1's fini runs and its image
    leaves /proc/PID/maps (the renamed-away file shows there as "(deleted)"
    until then);
  - the file unchanged: the reload shares the image loaded (one in the maps);
  - written over in place (cp): the reload is refused, naming the file and
    the safe way to install, and eddyd keeps running.

hotswap_v3.so (answers "v3 ...") is linked -z nodelete: dlclose() leaves it
mapped.  The name eddyd loaded it under must then never name another file: a
build installed after it is loaded, not mistaken for it.

Usage: test_hotswap.py EDDYD --v1 SO --v2 SO --v3 SO [unittest options]
"""

import os
import shutil
import signal
import subprocess

import eddytest
import opstest
from opstest import wait_until

ARGS = {}


def exchange(s, data):
    """Send data, return the reply ("vN " + data)."""
    s.sendall(data)
    return opstest.recv_exact(s, len(b"vN ") + len(data))


def ask(port, data):
    """One connection, one exchange, closed: returns the reply."""
    with eddytest.connect(port) as s:
        return exchange(s, data)


class HotSwap(opstest.OpsTestCase):

    def setUp(self):
        super().setUp()
        for v in ("v1", "v2", "v3"):
            if not os.path.exists(ARGS.get(v, "")):
                self.fail("--%s SO was not given or does not exist" % v)
        self.so = self.path("hot.so")
        self.marker = self.path("fini.txt")
        shutil.copyfile(ARGS["v1"], self.so)

    def start(self):
        port = opstest.free_port()  # not 0: a reload would bind another port
        conf = self.config('listen tcp 127.0.0.1:%d {\n    handler %s\n    marker "%s"\n}\n'
                           % (port, self.so, self.marker))
        return self.run_conf(conf), port

    def sighup(self, d, want="reload done"):
        start = d.nlines()
        d.signal(signal.SIGHUP)
        line = d.wait_for_log(r"\] (reload done|reload failed)", start)
        self.assertIsNotNone(line, "no SIGHUP verdict; stderr:\n%s" % d.stderr()[-3000:])
        self.assertIn(want, line, d.stderr()[-3000:])
        self.assert_up(d)
        return line

    def images(self, d):
        """The plugin images mapped in eddyd: {inode: deleted?} for hot.so."""
        found = {}
        with open("/proc/%d/maps" % d.pid) as f:
            for line in f:
                fields = line.split(None, 5)
                if len(fields) == 6 and fields[5].startswith(self.so):
                    found[fields[4]] = fields[5].rstrip("\n").endswith("(deleted)")
        return found

    def fini_lines(self):
        try:
            with open(self.marker) as f:
                return f.read().splitlines()
        except FileNotFoundError:
            return []

    def swap(self, install):
        d, port = self.start()
        a = eddytest.connect(port)
        self.addCleanup(a.close)
        self.assertEqual(exchange(a, b"a1"), b"v1 a1")
        install()
        self.sighup(d)
        # The old connection keeps the old code, a new one gets the new.
        self.assertEqual(exchange(a, b"a2"), b"v1 a2")
        b = eddytest.connect(port)
        self.addCleanup(b.close)
        self.assertEqual(exchange(b, b"b1"), b"v2 b1")
        maps = self.images(d)
        self.assertEqual(sorted(maps.values()), [False, True],
                         "want v1 (deleted) and v2 mapped: %s" % maps)
        self.assertEqual(self.fini_lines(), [])
        # The last connection of the old listener closes: v1's fini runs and
        # its image is unmapped; v2 serves on.
        a.close()
        self.assertEqual(wait_until(self.fini_lines), ["v1 fini"])
        self.assertEqual(list(wait_until(lambda: len(self.images(d)) == 1 and self.images(d))
                              .values()), [False], "v1 still mapped")
        self.assertEqual(exchange(b, b"b2"), b"v2 b2")
        b.close()
        self.stop(d)
        self.assertEqual(self.fini_lines(), ["v1 fini", "v2 fini"])

    def test_renamed_over(self):
        self.swap(lambda: self.install(ARGS["v2"]))

    def test_install_command(self):
        def install():
            before = os.stat(self.so).st_ino
            subprocess.run(["install", "-m", "644", ARGS["v2"], self.so], check=True)
            self.assertNotEqual(os.stat(self.so).st_ino, before, "install(1) kept the inode")
        self.swap(install)

    def test_unchanged_file_shares_its_image(self):
        d, port = self.start()
        a = eddytest.connect(port)
        self.addCleanup(a.close)
        self.assertEqual(exchange(a, b"a"), b"v1 a")
        self.sighup(d)
        self.sighup(d)
        self.assertEqual(len(self.images(d)), 1, self.images(d))
        b = eddytest.connect(port)
        self.addCleanup(b.close)
        self.assertEqual(exchange(b, b"b"), b"v1 b")
        self.assertEqual(exchange(a, b"a"), b"v1 a")
        a.close()
        b.close()
        # Each replaced listener ran its fini; the image stayed.
        self.assertEqual(wait_until(lambda: len(self.fini_lines()) == 2 and self.fini_lines()),
                         ["v1 fini", "v1 fini"])
        self.assertEqual(len(self.images(d)), 1, self.images(d))
        self.stop(d)

    def install(self, so):
        tmp = self.path(".hot.so.new")
        shutil.copyfile(so, tmp)
        os.rename(tmp, self.so)

    def test_image_left_mapped_keeps_its_name(self):
        shutil.copyfile(ARGS["v3"], self.so)
        d, port = self.start()
        self.assertEqual(ask(port, b"x"), b"v3 x")
        self.install(ARGS["v2"])
        self.sighup(d)  # v3's listener ends: fini, dlclose, but it stays
        self.assertEqual(wait_until(self.fini_lines), ["v3 fini"])
        self.install(ARGS["v1"])
        self.sighup(d)
        self.assertEqual(ask(port, b"y"), b"v1 y")
        self.stop(d)

    def test_written_in_place_is_refused(self):
        d, port = self.start()
        ino = os.stat(self.so).st_ino
        shutil.copyfile(ARGS["v2"], self.so)  # opens with O_TRUNC: the same inode
        self.assertEqual(os.stat(self.so).st_ino, ino)
        line = self.sighup(d, "reload failed")
        self.assertIn("%s was written over in place while loaded" % self.so, line)
        self.assertIn("rename it over this one", line)
        self.assertEqual(len(self.images(d)), 1, self.images(d))
        # The mapped code now reads the new file's bytes: eddyd is not
        # stopped gracefully (fini would run from them); the cleanup kills it.


if __name__ == "__main__":
    ARGS.update(opstest.take_path_args(("v1", "v2", "v3")))
    opstest.main()
