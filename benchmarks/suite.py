"""The benchmark of the test suite: ``python -m benchmarks.suite``.

It runs the README's test command, ``python -m pytest`` from the repository root (in parallel on every
core, as the project's pytest settings ask), as a new process each run, and prints the median wall-clock
and CPU time (of pytest, its workers and every tool they start: LaTeX, Node) with the machine's core count
and load. A run that fails raises with the end of its output: a figure is only taken from a passing suite.

The suite takes a minute or more per run, so the default is 3 runs (``--repeat``).
Performance is measured here, never asserted by timed tests.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.timing import machine, measure_process

ROOT = Path(__file__).resolve().parent.parent
#: the README's test command, without the install step
COMMAND = [sys.executable, "-m", "pytest"]


def count_tests() -> str:
    """The number of tests the suite collects (to say what was timed)."""
    done = subprocess.run([*COMMAND, "-q", "--collect-only", "-n", "0"], capture_output=True, text=True, cwd=ROOT)
    found = re.search(r"(\d+) tests? collected", done.stdout)
    return found.group(1) if found else "an unknown number of"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.suite", description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs of the whole suite (default 3)")
    args = parser.parse_args(argv)
    print(machine(args.repeat))
    tests = count_tests()
    started = time.perf_counter()
    timing = measure_process(COMMAND, args.repeat, cwd=ROOT)
    print(f"python -m pytest ({tests} tests): {timing}; runs {timing.runs()} s "
          f"(target 60 s wall on 2 cores); {time.perf_counter() - started:.0f} s in all")
    return 0


if __name__ == "__main__":
    sys.exit(main())
