"""The benchmark of the general proofs: ``python -m benchmarks.general``.

For each registered cost (with its default output: softmax for categorical
cross-entropy, a generic σ elsewhere), with and without L2 regularisation, it
measures the time to derive the general proof of BP1–BP4 and the induction
(:func:`~symbackprop.general.derive_general`) and to re-verify every step
(:meth:`~symbackprop.general.GeneralDerivation.check`), and prints the median
of several runs with the machine's core count. SymPy's cache is cleared before
each run, so every run starts as a fresh process would.

Performance is measured here, never asserted by timed tests.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

from sympy.core.cache import clear_cache

from symbackprop.model.costs import COSTS
from symbackprop.proof.general import _rule_proof, derive_general


def derive_and_check(cost: str, l2: bool = False) -> tuple[float, float]:
    """Seconds to derive the general proof and to check it, from an empty SymPy cache."""
    clear_cache()
    _rule_proof.cache_clear()
    start = time.perf_counter()
    derivation = derive_general(cost, l2=l2)
    derived = time.perf_counter()
    report = derivation.check()
    checked = time.perf_counter()
    if not report.ok:
        raise RuntimeError(f"the general proof for {cost} does not check: {[f.detail for f in report.failures]}")
    return derived - start, checked - derived


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.general",
                                     description="Time the general proofs of BP1-BP4, per cost.")
    parser.add_argument("--repeat", type=int, default=5, help="runs per cost (the median is printed)")
    args = parser.parse_args(argv)
    print(f"general proofs of BP1-BP4 and the induction, median of {args.repeat} runs, "
          f"{os.cpu_count()} cores, Python {sys.version.split()[0]}")
    print(f"{'cost':<22} {'L2':<4} {'derive s':>9} {'check s':>9} {'total s':>9}")
    for cost in COSTS:
        for l2 in (False, True):
            runs = [derive_and_check(cost, l2) for _ in range(args.repeat)]
            derive = statistics.median(r[0] for r in runs)
            check = statistics.median(r[1] for r in runs)
            total = statistics.median(r[0] + r[1] for r in runs)
            print(f"{cost:<22} {'yes' if l2 else 'no':<4} {derive:>9.2f} {check:>9.2f} {total:>9.2f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
