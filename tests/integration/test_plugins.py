#!/usr/bin/env python3
"""integration.plugins - loading plugins, broken and out of tree; embedding.

    python3 test_plugins.py PATH/TO/eddyd --source DIR --build DIR \\
        --embed PATH --abi-mismatch SO --no-entry SO --undefined-symbol SO \\
        --null-entry SO --no-data SO [unittest args]

(ctest passes all of these; the .so files are built from plugins/.)

Broken plugins, each named by path in a listen block: `eddyd -t -c FILE`
must exit 1 and print exactly `eddyd: FILE:LINE: MESSAGE` with the line of
the `handler` directive and a message naming the file; `eddyd -c FILE`
(serving, not only checking) must fail the same way before it listens.

  abi_mismatch.so     table says EDDY_ABI_VERSION + 1: both versions named
  no_entry.so         no eddy_handler_entry symbol
  undefined_symbol.so needs a function defined nowhere: dlopen(RTLD_NOW) fails
  x.so (text)         not an ELF file at all: dlopen fails
  missing.so          no such file
  null_entry.so       eddy_handler_entry() returns NULL
  no_data.so          table without data()

Out of tree: `cmake --install BUILD --prefix TMP`, then lines.c (copied to
a directory of its own, so only the installed headers can be found) built
with `cc -shared -fPIC $(pkg-config --cflags eddy)` against TMP's eddy.pc;
TMP/bin/eddyd loads it by path and serves it.  The installed lines.so is
also loaded by name through plugin_dir.

Installed (issue 15): a fresh prefix only, no plugin_dir: the installed
eddyd passes -t on every config/examples file (run from /) and serves the
installed lines and slow; a handler not found names every directory
searched; `handler ./mine.so` is taken from the config file's directory;
embed.c built with `pkg-config --cflags --libs eddy` starts without
LD_LIBRARY_PATH.

Embedding: eddy-embed-example 127.0.0.1:0 prints its address, upper-cases
what it gets, and exits 0 on SIGTERM.
"""

import glob
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import eddytest
import opstest
from eddytest import HOST, log

# Filled from the command line by parse_args().
ARGS = {}
OPTIONS = ("source", "build", "embed", "abi-mismatch", "no-entry", "undefined-symbol",
           "null-entry", "no-data")

# The ABI version of the headers under test, read from include/eddy/version.h.
ABI_RE = re.compile(r"#define\s+EDDY_ABI_VERSION\s+(\d+)")


def parse_args():
    """Take --NAME VALUE (or --NAME=VALUE) for each of OPTIONS off argv,
    leaving eddyd's path and unittest's arguments."""
    rest = [sys.argv[0]]
    argv = sys.argv[1:]
    i = 0
    while i < len(argv):
        a = argv[i]
        name, eq, value = a[2:].partition("=") if a.startswith("--") else ("", "", "")
        if name in OPTIONS:
            if not eq:
                if i + 1 >= len(argv):
                    sys.exit("%s: --%s needs a value" % (sys.argv[0], name))
                value = argv[i + 1]
                i += 1
            ARGS[name] = os.path.abspath(value)
            i += 1
            continue
        rest.append(a)
        i += 1
    sys.argv[:] = rest
    if "source" not in ARGS:
        ARGS["source"] = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def need(test, name):
    """The path given as --NAME; a test that needs it fails (never skips)
    when it was not given: ctest always gives it."""
    path = ARGS.get(name)
    if path is None:
        test.fail("--%s PATH was not given on the command line" % name)
    if not os.path.exists(path):
        test.fail("--%s %s: no such file" % (name, path))
    return path


def abi_version():
    with open(os.path.join(ARGS["source"], "include", "eddy", "version.h")) as f:
        m = ABI_RE.search(f.read())
    if not m:
        raise AssertionError("no EDDY_ABI_VERSION in include/eddy/version.h")
    return int(m.group(1))


class use_binary:
    """Within the block, eddytest's helpers run this binary instead of the
    eddyd under test (the installed eddyd, the embedding example)."""

    def __init__(self, path):
        self.path = path

    def __enter__(self):
        self.saved = eddytest.EDDYD
        eddytest.EDDYD = self.path

    def __exit__(self, *exc):
        eddytest.EDDYD = self.saved


def line_of(text, needle):
    """1-based number of the first line of text containing needle."""
    for n, line in enumerate(text.splitlines(), 1):
        if needle in line:
            return n
    raise AssertionError("%r not in:\n%s" % (needle, text))


def lines_request(s, data, want, timeout=eddytest.IO_TIMEOUT):
    """Send data, read until exactly len(want) bytes came back; assert them."""
    s.sendall(data)
    got = opstest.recv_exact(s, len(want), timeout)
    if got != want:
        raise AssertionError("sent %r: want %r, got %r" % (data, want, got))


class BrokenPlugins(opstest.OpsTestCase):

    def conf_with(self, so):
        """A config whose second listen block names `so`; returns (path,
        text, line of the handler directive)."""
        text = ("# a broken plugin, by path\n"
                "workers 1\n"
                "\n"
                "listen tcp %s:0 {\n"
                "    handler echo\n"
                "}\n"
                "\n"
                "listen tcp %s:%d {\n"
                "    # the handler line is the one reported\n"
                "    handler %s\n"
                "}\n" % (HOST, HOST, opstest.free_port(), so))
        path = self.write("broken.conf", text)
        return path, text, line_of(text, "handler " + so)

    def check_refused(self, so, message):
        """eddyd -t and eddyd -c both: exit 1, exactly one stderr line
        `eddyd: CONF:LINE: message`, nothing listening."""
        conf, text, line = self.conf_with(so)
        want = "eddyd: %s:%d: %s" % (conf, line, message)
        for mode in (["-t", "-c", conf], ["-c", conf]):
            rc, out, err = eddytest.run_eddyd(mode)
            cmd = "eddyd " + " ".join(mode)
            self.assertEqual(rc, 1, "%s: exit %s, want 1; stderr:\n%s" % (cmd, rc, err))
            lines = [x for x in err.splitlines() if x.strip()]
            self.assertNotIn("listening on", err, "%s: listened before failing" % cmd)
            self.assertNotIn(": ok", out, "%s: said ok" % cmd)
            self.assertEqual(lines, [want], "%s: stderr" % cmd)
        log("refused: %s" % want)

    def test_abi_mismatch_names_file_and_both_versions(self):
        so = need(self, "abi-mismatch")
        v = abi_version()
        self.check_refused(so, "%s was built for handler ABI version %d, this eddy has version "
                               "%d: rebuild it against these headers" % (so, v + 1, v))

    def test_missing_entry_symbol(self):
        so = need(self, "no-entry")
        self.check_refused(so, "%s is not an eddy plugin: it exports no eddy_handler_entry()" % so)

    def test_undefined_symbol_at_rtld_now(self):
        # dlerror() text is glibc's; what is ours is "cannot load FILE: "
        # and that the missing symbol is named.
        so = need(self, "undefined-symbol")
        self.check_refused(so, "cannot load %s: %s: undefined symbol: "
                               "eddy_test_function_that_does_not_exist" % (so, so))

    def test_text_file_named_so(self):
        so = self.write("x.so", "this is a text file that someone named x.so, not a shared "
                                "object: dlopen must refuse it and eddyd must say so\n" * 4)
        self.check_refused(so, "cannot load %s: %s: invalid ELF header" % (so, so))

    def test_short_text_file_named_so(self):
        so = self.write("short.so", "not ELF\n")
        self.check_refused(so, "cannot load %s: %s: file too short" % (so, so))

    def test_no_such_file(self):
        so = self.path("missing.so")
        self.check_refused(so, "cannot load %s: %s: cannot open shared object file: "
                               "No such file or directory" % (so, so))

    def test_entry_returns_null(self):
        so = need(self, "null-entry")
        self.check_refused(so, "%s: eddy_handler_entry() returned no handler table" % so)

    def test_table_without_data(self):
        so = need(self, "no-data")
        self.check_refused(so, "%s: its handler table has no name or no data() callback" % so)

    def test_good_plugin_by_path_beside_the_broken_ones(self):
        # The control: the same config with the build's lines.so is ok, so
        # the refusals above are the plugins' fault, not the config's.
        so = os.path.join(opstest.plugin_dir(), "lines.so")
        conf, _, _ = self.conf_with(so)
        rc, out, err = eddytest.run_eddyd(["-t", "-c", conf])
        self.assertEqual((rc, out.strip(), err.strip()), (0, "%s: ok" % conf, ""))


class OutOfTree(opstest.OpsTestCase):
    """cmake --install, pkg-config, cc, then the installed eddyd."""

    def install(self):
        build = need(self, "build")
        prefix = self.path("prefix")
        t0 = time.monotonic()
        p = subprocess.run(["cmake", "--install", build, "--prefix", prefix],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=300)
        self.assertEqual(p.returncode, 0, "cmake --install %s --prefix %s:\n%s"
                         % (build, prefix, p.stdout.decode(errors="replace")))
        log("cmake --install: %.1fs" % (time.monotonic() - t0))
        pcs = glob.glob(os.path.join(prefix, "lib*", "pkgconfig", "eddy.pc")) + \
            glob.glob(os.path.join(prefix, "lib*", "*", "pkgconfig", "eddy.pc"))
        self.assertEqual(len(pcs), 1, "eddy.pc under %s: %s" % (prefix, pcs))
        for f in ("bin/eddyd", "include/eddy/handler.h", "include/eddy/eddy.h"):
            self.assertTrue(os.path.exists(os.path.join(prefix, f)), "not installed: %s" % f)
        return prefix, os.path.dirname(pcs[0])

    def pkg_config_cflags(self, pcdir):
        env = dict(os.environ, PKG_CONFIG_PATH=pcdir)
        env.pop("PKG_CONFIG_LIBDIR", None)
        p = subprocess.run(["pkg-config", "--cflags", "eddy"], env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=60)
        self.assertEqual(p.returncode, 0, "pkg-config --cflags eddy: %s" % p.stderr.decode())
        return p.stdout.decode().split()

    def compile(self, cflags, src, out, extra=()):
        cc = os.environ.get("CC") or shutil.which("cc") or "cc"
        cmd = [cc, "-shared", "-fPIC"] + cflags + list(extra) + [src, "-o", out]
        # Run from the copy's directory: nothing of the source tree is near.
        p = subprocess.run(cmd, cwd=os.path.dirname(src), stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=300)
        self.assertEqual(p.returncode, 0, "%s:\n%s" % (" ".join(cmd),
                                                      p.stdout.decode(errors="replace")))
        log(" ".join(cmd))
        return out

    def serve_lines(self, eddyd, conf, port_index=0):
        """Run `eddyd -c conf` with eddyd the given binary; exercise lines."""
        with use_binary(eddyd):
            rc, out, err = eddytest.run_eddyd(["-t", "-c", conf])
            self.assertEqual((rc, out.strip()), (0, "%s: ok" % conf), err)
            d = self.run_conf(conf)
        self.assertEqual(d.listening[0][1], "lines", d.stderr())
        s = eddytest.connect(d.port(port_index))
        lines_request(s, b"hello\r\nworld\n", b"> hello\n> world\n")
        lines_request(s, b"par", b"")
        lines_request(s, b"tial\n", b"> partial\n")
        lines_request(s, b"x" * 64 + b"\n", b"> " + b"x" * 64 + b"\n")
        s.sendall(b"y" * 200)  # over max_line 100 without a newline
        data, how = eddytest.read_until_eof(s)
        self.assertEqual(data, b"ERR line too long (max 100 bytes)\n")
        s.close()
        s = eddytest.connect(d.port(port_index))
        lines_request(s, b"again\n", b"> again\n")
        s.close()
        self.assert_up(d)
        self.stop(d)

    def test_out_of_tree_plugin_built_with_pkg_config(self):
        prefix, pcdir = self.install()
        cflags = self.pkg_config_cflags(pcdir)
        log("pkg-config --cflags eddy: %s" % " ".join(cflags))
        for f in cflags:
            if f.startswith("-I"):
                self.assertTrue(os.path.realpath(f[2:]).startswith(os.path.realpath(prefix)),
                                "-I outside the prefix: %s" % f)
        srcdir = self.path("mysrc")
        os.mkdir(srcdir)
        src = os.path.join(srcdir, "my.c")
        shutil.copy(os.path.join(ARGS["source"], "handlers", "examples", "lines.c"), src)
        so = self.compile(cflags, src, os.path.join(prefix, "my.so"))
        # The recommended flags too (README step 9), warnings as errors.
        so2 = self.compile(cflags, src, os.path.join(prefix, "my-strict.so"),
                           ["-std=c11", "-O2", "-Wall", "-Wextra", "-Werror",
                            "-fvisibility=hidden"])
        eddyd = os.path.join(prefix, "bin", "eddyd")
        for plugin in (so, so2):
            conf = self.write("oot.conf",
                              "workers 1\n"
                              "listen tcp %s:0 {\n"
                              "    handler %s\n"
                              "    prefix \"> \"\n"
                              "    max_line 100\n"
                              "}\n" % (HOST, plugin))
            self.serve_lines(eddyd, conf)

    def test_installed_plugin_dir(self):
        # The installed lines.so by name, through plugin_dir.
        prefix, pcdir = self.install()
        found = glob.glob(os.path.join(prefix, "lib*", "eddy", "lines.so")) + \
            glob.glob(os.path.join(prefix, "lib*", "*", "eddy", "lines.so"))
        self.assertEqual(len(found), 1, "installed lines.so: %s" % found)
        conf = self.write("dir.conf",
                          "workers 1\n"
                          "plugin_dir %s\n"
                          "listen tcp %s:0 {\n"
                          "    handler lines\n"
                          "    prefix \"> \"\n"
                          "    max_line 100\n"
                          "}\n" % (os.path.dirname(found[0]), HOST))
        self.serve_lines(os.path.join(prefix, "bin", "eddyd"), conf)


def build_setting(name):
    """A value from the --build directory's CMakeCache.txt ('' if unset)."""
    with open(os.path.join(ARGS["build"], "CMakeCache.txt")) as f:
        for line in f:
            key, _, value = line.rstrip("\n").partition("=")
            if key.split(":")[0] == name:
                return value
    return ""


class Installed(opstest.OpsTestCase):
    """The installed copy alone: `cmake --install BUILD --prefix TMP` into a
    fresh prefix that is not the configured one, then TMP/bin/eddyd with no
    plugin_dir, and a program embedding TMP's libeddy built with pkg-config.
    Nothing from the build tree is on a search path."""

    def setUp(self):
        super().setUp()
        build = need(self, "build")
        self.prefix = self.path("prefix")
        p = subprocess.run(["cmake", "--install", build, "--prefix", self.prefix],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=300)
        self.assertEqual(p.returncode, 0, p.stdout.decode(errors="replace"))
        self.eddyd = os.path.join(self.prefix, "bin", "eddyd")
        pcs = glob.glob(os.path.join(self.prefix, "lib*", "pkgconfig")) + \
            glob.glob(os.path.join(self.prefix, "lib*", "*", "pkgconfig"))
        self.assertEqual(len(pcs), 1, pcs)
        self.pcdir = pcs[0]

    def run_installed(self, args, cwd=None):
        env = dict(os.environ)
        env.pop("LD_LIBRARY_PATH", None)
        p = subprocess.run([self.eddyd] + args, cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
        return p.returncode, p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")

    def example(self, name):
        """config/examples/NAME copied with every port made 0."""
        with open(os.path.join(ARGS["source"], "config", "examples", name)) as f:
            text = re.sub(r"127\.0\.0\.1:\d+", "127.0.0.1:0", f.read())
        return self.write(name, text)

    def test_installed_eddyd_checks_every_example(self):
        # Every example config (lines and pool name the plugins lines and
        # slow) passes -t with the installed eddyd; run from / (systemd).
        confs = sorted(glob.glob(os.path.join(ARGS["source"], "config", "examples", "*.conf")))
        confs.append(os.path.join(ARGS["source"], "config", "eddyd.conf"))
        for conf in confs:
            rc, out, err = self.run_installed(["-t", "-c", conf], cwd="/")
            self.assertEqual((rc, out.strip()), (0, "%s: ok" % conf), err)

    def test_installed_eddyd_serves_the_installed_plugins(self):
        with use_binary(self.eddyd):
            d = self.run_conf(self.example("lines.conf"))
        self.assertEqual(d.listening[0][1], "lines")
        s = eddytest.connect(d.port())
        lines_request(s, b"hello\nwor", b"> hello\n")
        lines_request(s, b"ld\n", b"> world\n")
        s.close()
        self.stop(d)
        with use_binary(self.eddyd):
            d = self.run_conf(self.example("pool.conf"), listeners=2)
        self.assertEqual([h for _, h in d.listening], ["slow", "echo"])
        s = eddytest.connect(d.port(0))
        s.sendall(b"slowly")
        self.assertEqual(opstest.recv_exact(s, 6), b"slowly")
        s.close()
        self.stop(d)

    def test_not_found_names_every_directory_searched(self):
        conf = self.write("nope.conf", "listen tcp %s:0 {\n    handler nope\n}\n" % HOST)
        rc, out, err = self.run_installed(["-t", "-c", conf])
        self.assertEqual(rc, 1, err)
        m = re.fullmatch(r"eddyd: %s:2: handler 'nope' not found: no built-in handler of that "
                         r"name and no nope\.so in (.*)\n" % re.escape(conf), err)
        self.assertTrue(m, err)
        real = os.path.realpath(self.prefix)
        libdir = build_setting("CMAKE_INSTALL_LIBDIR") or "lib"
        prefix = build_setting("CMAKE_INSTALL_PREFIX")
        self.assertEqual(m.group(1).split(", "),
                         [os.path.join(real, "bin", "plugins"),
                          os.path.join(real, libdir, "eddy"),
                          os.path.join(prefix, libdir, "eddy")])

    def test_relative_handler_path_is_taken_from_the_config_directory(self):
        lines = glob.glob(os.path.join(self.prefix, "lib*", "eddy", "lines.so")) + \
            glob.glob(os.path.join(self.prefix, "lib*", "*", "eddy", "lines.so"))
        self.assertEqual(len(lines), 1, lines)
        os.mkdir(self.path("site"))
        shutil.copy(lines[0], self.path("site/mine.so"))
        conf = self.write("site/my.conf", "listen tcp %s:0 {\n    handler ./mine.so\n"
                                          "    prefix \"> \"\n}\n" % HOST)
        for cwd in ("/", self.dir):
            rc, out, err = self.run_installed(["-t", "-c", conf], cwd=cwd)
            self.assertEqual((rc, out.strip()), (0, "%s: ok" % conf), err)
        # The same file by a relative name given from elsewhere, served.
        rc, out, err = self.run_installed(["-t", "-c", "site/my.conf"], cwd=self.dir)
        self.assertEqual((rc, out.strip()), (0, "site/my.conf: ok"), err)
        with use_binary(self.eddyd):
            d = self.run_conf(conf)
        s = eddytest.connect(d.port())
        lines_request(s, b"mine\n", b"> mine\n")
        s.close()
        self.stop(d)

    def test_embed_example_built_against_the_installed_copy(self):
        env = dict(os.environ, PKG_CONFIG_PATH=self.pcdir)
        env.pop("PKG_CONFIG_LIBDIR", None)
        env.pop("LD_LIBRARY_PATH", None)
        flags = {}
        for what in ("--cflags", "--libs"):
            p = subprocess.run(["pkg-config", what, "eddy"], env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, timeout=60)
            self.assertEqual(p.returncode, 0, p.stderr.decode())
            flags[what] = p.stdout.decode().split()
        srcdir = self.path("embedsrc")
        os.mkdir(srcdir)
        src = shutil.copy(os.path.join(ARGS["source"], "handlers", "examples", "embed.c"), srcdir)
        prog = os.path.join(srcdir, "embed")
        # The build's compiler; a sanitized libeddy needs its runtime linked.
        cc = build_setting("CMAKE_C_COMPILER") or "cc"
        san = {"address": ["-fsanitize=address,undefined"], "thread": ["-fsanitize=thread"],
               "undefined": ["-fsanitize=undefined"]}.get(build_setting("EDDY_SANITIZE"), [])
        cmd = [cc, "-std=c11", "-Wall", "-Werror"] + san + flags["--cflags"] + [src] + \
            flags["--libs"] + ["-o", prog]
        p = subprocess.run(cmd, cwd=srcdir, env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=300)
        self.assertEqual(p.returncode, 0, "%s:\n%s" % (" ".join(cmd), p.stdout.decode()))
        log(" ".join(cmd))
        saved = os.environ.pop("LD_LIBRARY_PATH", None)
        try:
            with use_binary(prog):
                d = self.start_eddyd(listen=None, workers=None, extra=["%s:0" % HOST])
        finally:
            if saved is not None:
                os.environ["LD_LIBRARY_PATH"] = saved
        s = eddytest.connect(d.port)
        s.sendall(b"installed")
        self.assertEqual(opstest.recv_exact(s, 9), b"INSTALLED")
        s.close()
        self.stop_eddyd(d, signal.SIGTERM)


class Embed(eddytest.EddyTestCase):

    def test_embed_example_upper_cases_and_stops_on_sigterm(self):
        prog = need(self, "embed")
        with use_binary(prog):
            d = self.start_eddyd(listen=None, workers=None, extra=["%s:0" % HOST])
        self.assertRegex(d.ready_line, r"^listening on 127\.0\.0\.1:\d+$")
        self.assertNotEqual(d.port, 0)
        clients = [eddytest.connect(d.port) for _ in range(4)]
        for i, s in enumerate(clients):
            msg = b"Hello, embedded World %d! \x00\xff" % i
            s.sendall(msg)
            got = opstest.recv_exact(s, len(msg))
            self.assertEqual(got, msg.upper())
        big = bytes(range(256)) * 256  # 64 KiB, every byte value
        clients[0].sendall(big)
        self.assertEqual(opstest.recv_exact(clients[0], len(big)), big.upper())
        for s in clients:
            s.close()
        self.assert_alive(d)
        self.stop_eddyd(d, signal.SIGTERM)

    def test_embed_example_stops_with_a_client_connected(self):
        prog = need(self, "embed")
        with use_binary(prog):
            d = self.start_eddyd(listen=None, workers=None, extra=["%s:0" % HOST])
        s = eddytest.connect(d.port)
        s.sendall(b"abc")
        self.assertEqual(opstest.recv_exact(s, 3), b"ABC")
        self.stop_eddyd(d, signal.SIGTERM)
        self.assertIn(eddytest.expect_closed(s), ("eof", "reset"))
        s.close()


if __name__ == "__main__":
    parse_args()
    eddytest.main()
