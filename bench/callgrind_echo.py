#!/usr/bin/env python3
"""callgrind_echo.py - instructions per message of eddyd's echo, counted by
valgrind's callgrind: repeatable where a timer is not.

    python3 bench/callgrind_echo.py BUILD/eddyd [--conns 64] [--size 64] [--rounds 500]

eddyd runs with one worker and the pure echo (-w 1 -p '') under
`valgrind --tool=callgrind --toggle-collect=eddy__loop_run`, so only the
worker's loop is counted (no start-up, no exit).  The client opens CONNS
connections to it, then ROUNDS times writes SIZE bytes on every connection
and reads every reply back whole (depth 1 per connection, all connections
in flight at once, as in the benchmark's 64 x 64 B cell).  Prints the
instructions counted, the messages, and their ratio.  Every reply byte is
checked.  Bounded: each read waits at most 60 s.
"""
import argparse
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("eddyd")
    ap.add_argument("--conns", type=int, default=64)
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--rounds", type=int, default=500)
    ap.add_argument("--keep", metavar="FILE", help="keep callgrind's output in FILE")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        out = a.keep or os.path.join(tmp, "callgrind.out")
        proc = subprocess.Popen(
            ["valgrind", "--tool=callgrind", "--toggle-collect=eddy__loop_run",
             "--callgrind-out-file=" + out, a.eddyd, "-w", "1", "-p", "", "-l", "127.0.0.1:0"],
            stderr=subprocess.PIPE, text=True)
        port = None
        deadline = time.monotonic() + 60
        while port is None and time.monotonic() < deadline:
            line = proc.stderr.readline()
            if not line:
                break
            m = re.search(r"listening on .*:(\d+)", line)
            if m:
                port = int(m.group(1))
        if port is None:
            proc.kill()
            sys.exit("callgrind_echo: eddyd did not say where it listens")
        socks = [socket.create_connection(("127.0.0.1", port), timeout=60) for _ in range(a.conns)]
        for s in socks:
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for r in range(a.rounds):
            msg = bytes((r + i) % 251 for i in range(a.size))
            for s in socks:
                s.sendall(msg)
            for s in socks:
                got = b""
                while len(got) < a.size:
                    chunk = s.recv(a.size - len(got))
                    if not chunk:
                        sys.exit("callgrind_echo: connection closed early")
                    got += chunk
                if got != msg:
                    sys.exit("callgrind_echo: wrong reply")
        for s in socks:
            s.close()
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=120)
        text = open(out).read()
        ir = int(re.search(r"^summary:\s+(\d+)", text, re.M).group(1))
        msgs = a.conns * a.rounds
        print(f"instructions {ir}  messages {msgs}  per message {ir / msgs:.1f}")


if __name__ == "__main__":
    main()
