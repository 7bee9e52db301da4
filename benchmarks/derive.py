"""The performance benchmark: ``python -m benchmarks.derive``.

It measures, and prints as tables (medians of several runs, with the core count):

1. every gradient derived plus the inductive check of BP1–BP4 for a 784-30-10
   sigmoid network (23,860 parameters);
2. the time per parameter of the same work from about 1k to 100k parameters;
3. the rendering of the 784-30-10 derivation document, Markdown and LaTeX;
4. the exact proof of all 192 weights (and 24 biases) of an 8-8-8-8 sigmoid
   network against its composed cost, beside plain ``sympy.diff`` of the
   composed cost weight by weight (one run; ``--no-plain`` skips it);
5. checking hand derivations (:mod:`symbackprop.claims`): one claim on a 2-3-2
   sigmoid network in a warm process and as the ``check`` command from a new
   process; BP2 and one weight's gradient on 784-30-10 from a new process; a
   Markdown document of 30 claims (every gradient and δ, right, and a handful
   with planted mistakes) read by ``check-doc``'s function and command; and
   ``check-doc`` on the gallery's Nielsen document with its network's options
   (run from the repository root). The load average is printed beside them.

Performance is measured here, never asserted by timed tests.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

import sympy as sp

from symbackprop.proof.chain import derive
from symbackprop.claims.verdicts import check_document, check_formula
from symbackprop.proof.equations import check
from symbackprop.documents.printing import latex
from symbackprop.proof.report import render
from symbackprop.model.spec import Network
from symbackprop.model.symbols import Partial

SCALING = ([30, 30, 10], [100, 50, 10], [784, 30, 10], [784, 64, 10], [784, 128, 10])


def _median(function, repeat: int) -> tuple[float, list[float]]:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times), times


def derive_and_check(sizes) -> None:
    derivation = derive(Network(sizes, activation="sigmoid", cost="quadratic"))
    report = check(derivation, method="inductive")
    if not report.ok:
        raise RuntimeError(f"the inductive check failed for {sizes}")


def exact_proof(sizes) -> None:
    derivation = derive(Network(sizes, activation="sigmoid", cost="quadratic"))
    report = check(derivation, method="exact")
    if not report.ok:
        raise RuntimeError(f"the exact check failed for {sizes}")


def plain_diff(sizes) -> int:
    """``sympy.diff`` of the composed cost with respect to every weight, one by one."""
    derivation = derive(Network(sizes, activation="sigmoid", cost="quadratic"))
    cost = derivation.forward.composed_cost()
    weights = [derivation.symbol(key) for key in derivation.params if key[0] == "w"]
    for w in weights:
        sp.diff(cost, w)
    return len(weights)


def claims_document(derivation, count: int = 30) -> str:
    """A Markdown document of ``count`` display equations about ``derivation``, some of them wrong.

    Every δ and gradient is stated as the derivation writes it; every fifth one
    is spoiled (its right-hand side doubled), so that the check has
    counterexamples and diagnoses to find as well as proofs.
    """
    fw, sizes = derivation.forward, derivation.network.sizes
    claims = [(fw.q("delta", l, j), derivation.delta(l, j)) for (l, j) in sorted(derivation.deltas)]
    claims += [(Partial(fw.cost_symbol, derivation.symbol(key)), derivation.gradient(key)) for key in derivation.params]
    lines = []
    for i, (lhs, rhs) in enumerate((claims * (count // len(claims) + 1))[:count]):
        shown = 2 * rhs if i % 5 == 4 else rhs
        lines += ["$$", latex(sp.Eq(lhs, shown, evaluate=False), notation="nielsen", sizes=sizes), "$$", ""]
    return "\n".join(lines)


def part_large(args, out) -> None:
    print("\n1. 784-30-10 sigmoid network, every gradient derived and the inductive check", file=out)
    median, times = _median(lambda: derive_and_check([784, 30, 10]), args.repeat)
    print(f"   median {median:.2f} s  (runs: {', '.join(f'{t:.2f}' for t in times)}; target <= 3 s)", file=out)


def part_scaling(args, out) -> None:
    if args.no_scaling:
        return
    print("\n2. time per parameter, derive + inductive check", file=out)
    print(f"   {'network':>14} {'parameters':>11} {'median s':>9} {'us/param':>9}", file=out)
    per_param = []
    for sizes in SCALING:
        count = Network(sizes).parameter_count
        median, _ = _median(lambda: derive_and_check(sizes), args.repeat)
        per_param.append(median / count * 1e6)
        print(f"   {'-'.join(map(str, sizes)):>14} {count:>11,} {median:>9.2f} {per_param[-1]:>9.1f}", file=out)
    spread = max(per_param) / min(per_param)
    print(f"   largest / smallest time per parameter: {spread:.2f}x (target <= 2x)", file=out)


def part_document(args, out) -> None:
    print("\n3. 784-30-10 derivation document (rendering only; the derivation and its check are given)", file=out)
    derivation = derive(Network([784, 30, 10]))
    report = check(derivation, method="inductive")
    for fmt in ("md", "tex"):
        document = None

        def render_once(fmt=fmt):
            nonlocal document
            document = render(derivation, fmt, report=report, figure="network.svg")

        median, _ = _median(render_once, args.repeat)
        size = len(document.text.encode()) + sum(len(a.encode()) for a in document.attachments.values())
        print(f"   {fmt:>3}: median {median:.2f} s, {size / 1024:.1f} KB with its drawing "
              f"(targets < 2 s, < 200 KB)", file=out)


def part_exact(args, out) -> None:
    print("\n4. 8-8-8-8 sigmoid network, exact proof against the composed cost (192 weights, 24 biases)", file=out)
    median, times = _median(lambda: exact_proof([8, 8, 8, 8]), args.repeat)
    print(f"   median {median:.2f} s  (runs: {', '.join(f'{t:.2f}' for t in times)}; target <= 10 s)", file=out)
    if not args.no_plain:
        start = time.perf_counter()
        count = plain_diff([8, 8, 8, 8])
        plain = time.perf_counter() - start
        print(f"   plain sympy.diff of the composed cost, {count} weights one by one, one run: {plain:.1f} s", file=out)
        print(f"   exact proof {median:.2f} s vs plain diff {plain:.1f} s: {plain / median:.1f}x faster", file=out)


BP2 = r"\delta^{2}_{1} = \sum_k w^{3}_{k1} \delta^{3}_{k} \sigma'(z^{2}_{1})"
#: the gallery's Nielsen document and the network it is written for
NIELSEN = ("output/nielsen.en.md", "--layers", "2,3,2", "--activation", "generic", "--mean")


def _load() -> str:
    """The machine's load average over one minute, to print beside figures measured on a shared machine."""
    try:
        return f"{os.getloadavg()[0]:.1f}"
    except OSError:
        return "unknown"


def _new_process(arguments, repeat: int) -> tuple[str, int]:
    """The median wall time of ``python -m symbackprop ARGUMENTS`` from a new process, with the median CPU time
    (user + system) it used, which a busy machine inflates less; and its exit status."""
    command = [sys.executable, "-m", "symbackprop", *arguments]
    codes, cpu = [], []

    def run():
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        codes.append(subprocess.run(command, capture_output=True).returncode)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)

    median, _ = _median(run, repeat)
    return f"{median:.2f} s (CPU {statistics.median(cpu):.2f} s)", codes[-1]


def part_claims(args, out) -> None:
    print(f"\n5. checking hand derivations (load average {_load()} at the start)", file=out)
    network = Network([2, 3, 2], activation="sigmoid", cost="quadratic")
    derivation = derive(network)
    verdict = check_formula(BP2, network, derivation=derivation)
    median, _ = _median(lambda: check_formula(BP2, network, derivation=derivation), args.repeat)
    print(f"   one claim on 2-3-2 (BP2 for one neuron, {verdict.status}, {verdict.method}): median {median:.3f} s "
          "in a warm process  (target <= 0.2 s)", file=out)
    cold, code = _new_process(["check", "--layers", "2,3,2", BP2], args.repeat)
    print(f"   the same as the whole 'symbackprop check' command, from a new process: {cold}, exit {code}  "
          "(target <= 1 s)", file=out)
    weight = r"\frac{\partial C}{\partial w^{2}_{1,784}} = \delta^{2}_{1} a^{1}_{784}"
    for what, claim in (("BP2 for one hidden neuron", BP2), ("one weight's gradient", weight)):
        cold, code = _new_process(["check", "--layers", "784,30,10", claim], args.repeat)
        print(f"   a claim on 784-30-10 ({what}), 'symbackprop check' from a new process: {cold}, exit {code}  "
              "(target <= 2 s, decided exactly: exit 0)", file=out)
    document = claims_document(derivation)
    results = []

    def check_all():
        results[:] = check_document(document, "md", network, derivation=derivation)

    median, _ = _median(check_all, args.repeat)
    wrong = sum(1 for r in results if r.status == "incorrect")
    with tempfile.TemporaryDirectory() as directory:
        path = os.path.join(directory, "claims.md")
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(document)
        cold, _ = _new_process(["check-doc", path, "--layers", "2,3,2"], args.repeat)
    print(f"   a document of {len(results)} claims ({wrong} wrong): median {median:.2f} s in a warm process; "
          f"'symbackprop check-doc' from a new process: {cold}  (target <= 10 s)", file=out)
    if os.path.exists(NIELSEN[0]):
        cold, code = _new_process(["check-doc", *NIELSEN], args.repeat)
        print(f"   'symbackprop check-doc {' '.join(NIELSEN)}' from a new process: {cold}, exit {code}  "
              "(target <= 5 s)", file=out)
    print(f"   load average {_load()} at the end", file=out)


PARTS = (part_large, part_scaling, part_document, part_exact, part_claims)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.derive", description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="runs per measurement; the median is reported")
    parser.add_argument("--no-plain", action="store_true", help="skip plain sympy.diff (about two minutes)")
    parser.add_argument("--no-scaling", action="store_true", help="skip the 1k-100k parameter table")
    parser.add_argument("--only", type=int, choices=range(1, len(PARTS) + 1), metavar="N",
                        help=f"run part N (1-{len(PARTS)}) alone")
    args = parser.parse_args(argv)
    out = sys.stdout
    print(f"symbackprop benchmark: {os.cpu_count()} cores, Python {sys.version.split()[0]}, "
          f"SymPy {sp.__version__}, median of {args.repeat} runs", file=out)
    for number, part in enumerate(PARTS, start=1):
        if args.only in (None, number):
            part(args, out)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
