#!/usr/bin/env python3
"""Honest test output for `make test` (see tests/common/skip.rs).

  report.py rewrite LOG   filter cargo test's output: a test that recorded a skip in LOG
                          is shown as `skipped: REASON` instead of `ok`
  report.py summary LOG   the skipped tests and their number; exit 1 when CI=true and any
                          test was skipped

LOG lines are `BINARY<TAB>TEST<TAB>REASON`, appended by the tests themselves."""
import os
import re
import sys

RUNNING = re.compile(r"^\s*Running (?:unittests )?\S+ \((?:.*/)?([^/()]+?)(?:-[0-9a-f]+)?\)\s*$")
OK = re.compile(r"^test (\S+) \.\.\. ok$")
RESULT = re.compile(r"^(test result: \w+\. \d+ passed)(;.*)$")


def read_log(path):
    skips = []
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                parts = line.rstrip("\n").split("\t", 2)
                if len(parts) == 3:
                    skips.append(tuple(parts))
    except FileNotFoundError:
        pass
    return skips


def rewrite(log):
    binary = ""
    while True:
        line = sys.stdin.readline()
        if not line:
            break
        m = RUNNING.match(line)
        if m:
            binary = m.group(1)
        m = RESULT.match(line.rstrip("\n"))
        if m:
            skipped = len({t for b, t, _ in read_log(log) if b == binary})
            if skipped:
                line = "%s (%d of them skipped)%s\n" % (m.group(1), skipped, m.group(2))
        m = OK.match(line.rstrip("\n"))
        if m:
            # The test appended its line before it returned, so the log has it by now.
            reasons = [r for b, t, r in read_log(log) if t == m.group(1) and b == binary]
            if reasons:
                line = "test %s ... skipped: %s\n" % (m.group(1), "; ".join(reasons))
        sys.stdout.write(line)
        sys.stdout.flush()


def summary(log):
    skips = read_log(log)
    tests = sorted({(b, t) for b, t, _ in skips})
    if not tests:
        print("skipped: 0 tests")
        return 0
    print("skipped: %d test%s (a skipped test did not do its work):" % (len(tests), "" if len(tests) == 1 else "s"))
    for b, t in tests:
        reasons = "; ".join(r for b2, t2, r in skips if (b2, t2) == (b, t))
        print("  %s::%s: %s" % (b, t, reasons))
    if os.environ.get("CI") == "true":
        print("CI=true: nothing may be skipped")
        return 1
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in ("rewrite", "summary"):
        sys.exit(__doc__)
    if sys.argv[1] == "rewrite":
        rewrite(sys.argv[2])
    else:
        sys.exit(summary(sys.argv[2]))
