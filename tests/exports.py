#!/usr/bin/env python3
"""tests/exports.py LIBEDDY INCLUDE_DIR - libeddy exports its API and
nothing else (issue 16):

- the dynamic symbols it defines are exactly the EDDY_API functions declared
  in include/eddy/*.h, and every one starts with eddy_;
- it needs no eddy_ symbol from outside (it calls no handler or program
  function, such as a built-in handler's table);
- no public call returns a handler table: the library exports no handler
  and names none (eddyd registers its echo and stats itself).
"""
import glob
import os
import re
import subprocess
import sys


def dynamic_symbols(lib, which):
    out = subprocess.run(["nm", "-D", which, lib], check=True, capture_output=True,
                         text=True).stdout
    return {line.split()[-1].split("@")[0] for line in out.splitlines() if line.strip()}


def main():
    lib, include = sys.argv[1], sys.argv[2]
    text = ""
    for path in sorted(glob.glob(os.path.join(include, "eddy", "*.h"))):
        with open(path) as f:
            text += f.read()
    declared = set(re.findall(r"\bEDDY_API\b[^;{]*?\b(eddy_\w+)\s*\(", text))
    defined = dynamic_symbols(lib, "--defined-only")
    undefined = dynamic_symbols(lib, "--undefined-only")
    problems = []
    if not declared:
        problems.append("no EDDY_API declaration found under %s" % include)
    for name in sorted(defined - declared):
        why = "is not eddy_-prefixed" if not name.startswith("eddy_") else "is declared nowhere"
        problems.append("libeddy exports %s, which %s" % (name, why))
    for name in sorted(declared - defined):
        problems.append("%s is declared EDDY_API but libeddy does not export it" % name)
    for name in sorted(n for n in undefined if n.startswith("eddy_")):
        problems.append("libeddy calls %s, which it does not define" % name)
    for name in re.findall(r"\bEDDY_API\s+const\s+eddy_handler\s*\*\s*(\w+)\s*\(", text):
        problems.append("%s: libeddy exports a handler table" % name)
    for p in problems:
        print("FAIL: " + p)
    print("%d exported symbols, %d problems" % (len(defined), len(problems)))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
