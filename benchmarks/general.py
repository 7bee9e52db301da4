"""The benchmark of the general proofs: ``python -m benchmarks.general``.

For each registered cost (with its default output: softmax for categorical
cross-entropy, a generic σ elsewhere), with and without L2 regularisation, it
measures the time to derive the general proof of BP1–BP4 and the induction
(:func:`~symbackprop.general.derive_general`) and to re-verify every step
(:meth:`~symbackprop.general.GeneralDerivation.check`), and prints the median
of several runs (wall clock, and CPU time for the total) with the machine's core count. SymPy's cache is cleared before
each run, so every run starts as a fresh process would.

Performance is measured here, never asserted by timed tests.
"""

from __future__ import annotations

import argparse
import statistics
import sys


from benchmarks.timing import Timing, as_new_process, machine, measure
from symbackprop.model.costs import COSTS
from symbackprop.proof.general import derive_general


def derive_and_check(cost: str, l2: bool = False) -> tuple[Timing, Timing]:
    """The time to derive the general proof and to check it (one run each), starting as a new process would."""
    as_new_process()
    derivations = []
    derived = measure(lambda: derivations.append(derive_general(cost, l2=l2)), 1)
    reports = []
    checked = measure(lambda: reports.append(derivations[0].check()), 1)
    if not reports[0].ok:
        raise RuntimeError(f"the general proof for {cost} does not check: {[f.detail for f in reports[0].failures]}")
    return derived, checked


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.general",
                                     description="Time the general proofs of BP1-BP4, per cost.")
    parser.add_argument("--repeat", type=int, default=5, help="runs per cost (the median is printed)")
    args = parser.parse_args(argv)
    print(f"general proofs of BP1-BP4 and the induction: {machine(args.repeat)}")
    print(f"{'cost':<22} {'L2':<4} {'derive s':>9} {'check s':>9} {'total s':>9} {'total CPU s':>12}")
    for cost in COSTS:
        for l2 in (False, True):
            runs = [derive_and_check(cost, l2) for _ in range(args.repeat)]
            derive = statistics.median(d.wall for d, _ in runs)
            check = statistics.median(c.wall for _, c in runs)
            total = statistics.median(d.wall + c.wall for d, c in runs)
            cpu = statistics.median(d.cpu + c.cpu for d, c in runs)
            print(f"{cost:<22} {'yes' if l2 else 'no':<4} {derive:>9.2f} {check:>9.2f} {total:>9.2f} {cpu:>12.2f}",
                  flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
