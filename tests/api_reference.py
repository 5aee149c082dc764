#!/usr/bin/env python3
"""tests/api_reference.py INCLUDE_DIR - the API reference,
include/eddy/README.md, cannot drift from the headers beside it:

- every EDDY_API function declared in include/eddy/*.h (and
  eddy_handler_entry, the plugin's one export) has a section: a heading
  that names it as `name()`;
- every eddy_ / EDDY_ name the reference uses is declared in a header (a
  function, type, field-less name or macro): it names nothing that does not
  exist, such as a call since renamed or removed;
- no section is given twice.
"""
import glob
import os
import re
import sys


def main():
    include = sys.argv[1]
    headers = ""
    for path in sorted(glob.glob(os.path.join(include, "eddy", "*.h"))):
        with open(path) as f:
            headers += f.read()
    with open(os.path.join(include, "eddy", "README.md")) as f:
        ref = f.read()
    functions = set(re.findall(r"\bEDDY_API\b[^;{]*?\b(eddy_\w+)\s*\(", headers))
    functions |= set(re.findall(r"\bEDDY_HANDLER_EXPORT\b[^;{]*?\b(eddy_\w+)\s*\(", headers))
    code = re.sub(r"/\*.*?\*/", " ", headers, flags=re.S)  # what is declared, not mentioned
    known = set(re.findall(r"\b(?:eddy|EDDY)_\w+", code))
    sections = []
    for line in ref.splitlines():
        if line.startswith("#"):
            sections += re.findall(r"`(eddy_\w+)\(\)`", line)
    problems = []
    if not functions:
        problems.append("no EDDY_API declaration found under %s" % include)
    for name in sorted(functions - set(sections)):
        problems.append("%s is declared in include/eddy/ but has no section in README.md" % name)
    for name in sorted(set(sections) - functions):
        problems.append("README.md has a section for %s, which is not a public function" % name)
    for name in sorted({n for n in sections if sections.count(n) > 1}):
        problems.append("README.md has %d sections for %s" % (sections.count(name), name))
    for name in sorted(set(re.findall(r"\b(?:eddy|EDDY)_\w+\*?", ref))):
        # eddy_timer_* stands for every name it begins
        ok = any(k.startswith(name[:-1]) for k in known) if name.endswith("*") else name in known
        if not ok:
            problems.append("README.md names %s, which no header in include/eddy/ declares" % name)
    for p in problems:
        print("FAIL: " + p)
    print("%d public functions, %d sections, %d problems" % (len(functions), len(sections),
                                                              len(problems)))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
