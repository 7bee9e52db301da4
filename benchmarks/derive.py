"""The performance benchmark: ``python -m benchmarks.derive``.

It measures, and prints as tables (medians of several runs, by the wall clock and by CPU time, with the
core count and the load average; see :mod:`benchmarks.timing`):

1. every gradient derived plus the inductive check of BP1–BP4 for a 784-30-10
   sigmoid network (23,860 parameters);
2. the time per parameter of the same work from about 1k to 267k parameters (the networks under
   10k parameters, and the fixed part, timed five times as often), with
   and without the part of a check that does not grow with the network (timed on 2-2-2);
3. the rendering of the 784-30-10 derivation document, Markdown and LaTeX;
4. the exact proof of all 192 weights (and 24 biases) of an 8-8-8-8 sigmoid
   network against its composed cost, beside plain ``sympy.diff`` of the
   composed cost weight by weight (``--repeat-plain`` runs, 3 by default; ``--no-plain`` skips it);
5. checking hand derivations (:mod:`symbackprop.claims`): one claim on a 2-3-2
   sigmoid network in a warm process and as the ``check`` command from a new
   process; BP2 and one weight's gradient on 784-30-10 from a new process; a
   Markdown document of 30 claims (every gradient and δ, right, and a handful
   with planted mistakes) read by ``check-doc``'s function and command; and
   ``check-doc`` on the gallery's Nielsen document with its network's options
   (run from the repository root). The load average is printed beside them.
6. what a user runs by default, as whole processes: ``symbackprop derive`` of
   784-30-10 (default ``--method auto``: the inductive proof and the numeric
   cross-check), the same written to Markdown and LaTeX files, 784-100-10 and
   784-300-100-10;
7. startup: ``symbackprop --help`` as a whole process, beside Python alone and
   ``import sympy``;
8. softmax with cross-entropy beside the quadratic cost at the same size: the
   ``derive`` command on 4-5-4, and ``check()`` (exact and numeric) on networks
   of 20 to 49 parameters.

Work timed inside this process starts each run as a new process would (from an empty
SymPy cache and without what the engine keeps per process: :func:`benchmarks.timing.as_new_process`). Whole processes are timed by the clock on the wall and by the
CPU time the process used (user + system): on a shared machine the second is the
steadier figure. Performance is measured here, never asserted by timed tests.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile

import sympy as sp

from benchmarks.timing import Timing, as_new_process, load, machine, measure, measure_process
from symbackprop.proof.chain import derive
from symbackprop.claims.verdicts import check_document, check_formula
from symbackprop.proof.equations import check
from symbackprop.documents.printing import latex
from symbackprop.proof.report import render
from symbackprop.model.spec import Network
from symbackprop.model.symbols import Partial

#: the network on which the part of a check that does not grow with the network is timed
FIXED_PART = [2, 2, 2]
#: networks below this many parameters take well under a second, and are timed SHORT_REPEAT times as often
SHORT, SHORT_REPEAT = 10_000, 5
SCALING = ([30, 30, 10], [100, 50, 10], [784, 30, 10], [784, 64, 10], [784, 128, 10], [784, 300, 100, 10])


def _median(function, repeat: int) -> Timing:
    """``function`` timed ``repeat`` times in this process, each run starting as a new process would
    (:func:`benchmarks.timing.as_new_process`), so that a later run does not reuse what an earlier one computed."""

    def fresh():
        as_new_process()
        function()

    return measure(fresh, repeat)


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
    timing = _median(lambda: derive_and_check([784, 30, 10]), args.repeat)
    print(f"   median {timing}  (runs: {timing.runs()}; target <= 3 s)", file=out)


def part_scaling(args, out) -> None:
    if args.no_scaling:
        return
    print("\n2. time per parameter, derive + inductive check", file=out)
    # A check has a part that does not grow with the network: σ' proven against sympy.diff, BP1 for one
    # output neuron. It is timed on the smallest network and shown apart, so that the per-parameter
    # figures can be read both with it (all of the time) and without it (the time that grows).
    # The part that grows on the smallest network is the difference of two times of a few hundredths of a
    # second: those networks are timed SHORT_REPEAT times as often, so that the medians hold still.
    fixed = _median(lambda: derive_and_check(FIXED_PART), args.repeat * SHORT_REPEAT)
    print(f"   the part that does not grow, timed on {'-'.join(map(str, FIXED_PART))} "
          f"({Network(FIXED_PART).parameter_count} parameters): {fixed}", file=out)
    print(f"   {'network':>14} {'parameters':>11} {'wall s':>8} {'CPU s':>8} {'wall us/param':>14} "
          f"{'CPU us/param':>13} {'CPU us/param less that part':>28}", file=out)
    per_param, cpu_per_param, growing = [], [], []
    for sizes in SCALING:
        count = Network(sizes).parameter_count
        timing = _median(lambda: derive_and_check(sizes), args.repeat * (SHORT_REPEAT if count < SHORT else 1))
        per_param.append(timing.wall / count * 1e6)
        cpu_per_param.append(timing.cpu / count * 1e6)
        growing.append((timing.cpu - fixed.cpu) / count * 1e6)
        print(f"   {'-'.join(map(str, sizes)):>14} {count:>11,} {timing.wall:>8.2f} {timing.cpu:>8.2f} "
              f"{per_param[-1]:>14.1f} {cpu_per_param[-1]:>13.1f} {growing[-1]:>28.1f}", file=out)
    print(f"   largest / smallest time per parameter: {max(per_param) / min(per_param):.2f}x by the wall clock, "
          f"{max(cpu_per_param) / min(cpu_per_param):.2f}x by CPU time, "
          f"{max(growing) / min(growing):.2f}x by CPU time less the part that does not grow (target <= 1.3x)",
          file=out)


def part_document(args, out) -> None:
    print("\n3. 784-30-10 derivation document (rendering only; the derivation and its check are given)", file=out)
    derivation = derive(Network([784, 30, 10]))
    report = check(derivation, method="inductive")
    for fmt in ("md", "tex"):
        document = None

        def render_once(fmt=fmt):
            nonlocal document
            document = render(derivation, fmt, report=report, figure="network.svg")

        timing = measure(render_once, args.repeat)
        size = len(document.text.encode()) + sum(len(a.encode()) for a in document.attachments.values())
        print(f"   {fmt:>3}: median {timing}, {size / 1024:.1f} KB with its drawing "
              f"(targets < 2 s, < 200 KB)", file=out)


def part_exact(args, out) -> None:
    print("\n4. 8-8-8-8 sigmoid network, exact proof against the composed cost (192 weights, 24 biases)", file=out)
    timing = _median(lambda: exact_proof([8, 8, 8, 8]), args.repeat)
    print(f"   median {timing}  (runs: {timing.runs()}; target <= 10 s)", file=out)
    if not args.no_plain:
        plain = _median(lambda: plain_diff([8, 8, 8, 8]), args.repeat_plain)
        print(f"   plain sympy.diff of the composed cost, 192 weights one by one, median of {args.repeat_plain} "
              f"run(s): {plain}  (runs: {plain.runs()})", file=out)
        print(f"   exact proof vs plain diff: {plain.wall / timing.wall:.1f}x faster by the wall clock, "
              f"{plain.cpu / timing.cpu:.1f}x by CPU time (target >= 20x)", file=out)


BP2 = r"\delta^{2}_{1} = \sum_k w^{3}_{k1} \delta^{3}_{k} \sigma'(z^{2}_{1})"
#: the gallery's Nielsen document and the network it is written for
NIELSEN = ("output/nielsen.en.md", "--layers", "2,3,2", "--activation", "generic", "--mean")


def _new_process(arguments, repeat: int) -> tuple[str, int]:
    """The median wall time of ``python -m symbackprop ARGUMENTS`` from a new process, with the median CPU time
    (user + system) it used, which a busy machine inflates less; and its exit status."""
    command = [sys.executable, "-m", "symbackprop", *arguments]
    timing = measure_process(command, repeat, check=False)
    code = subprocess.run(command, capture_output=True).returncode
    return str(timing), code


def part_claims(args, out) -> None:
    print(f"\n5. checking hand derivations (load average {load()} at the start)", file=out)
    network = Network([2, 3, 2], activation="sigmoid", cost="quadratic")
    derivation = derive(network)
    verdict = check_formula(BP2, network, derivation=derivation)
    timing = measure(lambda: check_formula(BP2, network, derivation=derivation), args.repeat)
    print(f"   one claim on 2-3-2 (BP2 for one neuron, {verdict.status}, {verdict.method}): median "
          f"{timing.wall:.3f} s (CPU {timing.cpu:.3f} s) "
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

    timing = measure(check_all, args.repeat)
    wrong = sum(1 for r in results if r.status == "incorrect")
    with tempfile.TemporaryDirectory() as directory:
        path = os.path.join(directory, "claims.md")
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(document)
        cold, _ = _new_process(["check-doc", path, "--layers", "2,3,2"], args.repeat)
    print(f"   a document of {len(results)} claims ({wrong} wrong): median {timing} in a warm process; "
          f"'symbackprop check-doc' from a new process: {cold}  (target <= 10 s)", file=out)
    if os.path.exists(NIELSEN[0]):
        cold, code = _new_process(["check-doc", *NIELSEN], args.repeat)
        print(f"   'symbackprop check-doc {' '.join(NIELSEN)}' from a new process: {cold}, exit {code}  "
              "(target <= 5 s)", file=out)
    print(f"   load average {load()} at the end", file=out)


def _row(label: str, command: list[str], repeat: int, target: str, out, cwd=None) -> None:
    timing = measure_process(command, repeat, cwd)
    print(f"   {label:<58} {timing.wall:>7.2f} {timing.cpu:>7.2f}  {target}", file=out)


SYMBACKPROP = [sys.executable, "-m", "symbackprop"]


def part_default(args, out) -> None:
    print("\n6. the default path as whole processes: 'symbackprop derive' (--method auto)", file=out)
    print(f"   {'command':<58} {'wall s':>7} {'CPU s':>7}  target", file=out)
    with tempfile.TemporaryDirectory() as directory:
        rows = [
            ("derive --layers 784,30,10", [], args.repeat, "<= 4 s"),
            ("derive --layers 784,30,10 --format md -o doc.md", ["--format", "md", "-o", "doc.md"], args.repeat,
             "<= 5 s"),
            ("derive --layers 784,30,10 --format tex -o doc.tex", ["--format", "tex", "-o", "doc.tex"], args.repeat,
             "<= 5 s"),
        ]
        for label, extra, repeat, target in rows:
            _row(label, [*SYMBACKPROP, "derive", "--layers", "784,30,10", *extra], repeat, target, out, directory)
    _row("derive --layers 784,100,10", [*SYMBACKPROP, "derive", "--layers", "784,100,10"], args.repeat_large,
         "<= 15 s", out)
    if not args.no_largest:
        _row("derive --layers 784,300,100,10", [*SYMBACKPROP, "derive", "--layers", "784,300,100,10"],
             args.repeat_large, "<= 90 s", out)


def part_startup(args, out) -> None:
    print("\n7. startup, whole processes", file=out)
    print(f"   {'command':<58} {'wall s':>7} {'CPU s':>7}  target", file=out)
    _row("symbackprop --help", [*SYMBACKPROP, "--help"], args.repeat, "<= 0.3 s", out)
    _row("python -c pass (the interpreter alone)", [sys.executable, "-c", "pass"], args.repeat, "", out)
    _row("python -c 'import sympy'", [sys.executable, "-c", "import sympy"], args.repeat, "", out)


#: networks on which softmax with cross-entropy is set beside the quadratic cost (20 to 49 parameters)
SOFTMAX_SIZES = ([3, 2, 2, 2], [2, 3, 4], [4, 4, 4], [4, 5, 4])


def part_softmax(args, out) -> None:
    print("\n8. softmax + cross-entropy beside the quadratic cost at the same size", file=out)
    print(f"   {'command':<58} {'wall s':>7} {'CPU s':>7}  target", file=out)
    base = [*SYMBACKPROP, "derive", "--layers", "4,5,4"]
    for label, extra in (("--activation relu,softmax --cost cross_entropy", ["--activation", "relu,softmax",
                                                                              "--cost", "cross_entropy"]),
                         ("--activation relu,softmax (quadratic)", ["--activation", "relu,softmax"]),
                         ("(sigmoid, quadratic)", [])):
        _row(f"derive --layers 4,5,4 {label}", [*base, *extra], args.repeat, "within 30 %", out)
    print(f"\n   check() in this process, median CPU s: {'network':>8} {'params':>6} {'softmax+CE':>11} "
          f"{'softmax+quad':>13} {'sigmoid+quad':>13}", file=out)
    for sizes in SOFTMAX_SIZES:
        hidden = ["relu"] * (len(sizes) - 2)
        times = []
        for activation, cost in (([*hidden, "softmax"], "cross_entropy"), ([*hidden, "softmax"], "quadratic"),
                                 ("sigmoid", "quadratic")):
            network = Network(sizes, activation=activation, cost=cost)
            # a derivation keeps what its checks computed: each run checks one it has not seen
            unchecked = [derive(network) for _ in range(args.repeat)]

            def run(unchecked=unchecked):
                if not check(unchecked.pop()).ok:
                    raise RuntimeError(f"the check failed for {sizes} {activation} {cost}")

            times.append(_median(run, args.repeat).cpu)
        count = Network(sizes).parameter_count
        print(f"   {'':<37} {'-'.join(map(str, sizes)):>10} {count:>6} {times[0]:>11.2f} {times[1]:>13.2f} "
              f"{times[2]:>13.2f}", file=out)


PARTS = (part_large, part_scaling, part_document, part_exact, part_claims, part_default, part_startup, part_softmax)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.derive", description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="runs per measurement; the median is reported")
    parser.add_argument("--no-plain", action="store_true", help="skip plain sympy.diff (minutes a run)")
    parser.add_argument("--repeat-plain", type=int, default=3,
                        help="runs of plain sympy.diff of the 8-8-8-8 composed cost (default 3)")
    parser.add_argument("--no-scaling", action="store_true", help="skip the 1k-267k parameter table")
    parser.add_argument("--repeat-large", type=int, default=3,
                        help="runs of the 784-100-10 and 784-300-100-10 processes (default 3)")
    parser.add_argument("--no-largest", action="store_true", help="skip the 784-300-100-10 process")
    parser.add_argument("--only", type=int, choices=range(1, len(PARTS) + 1), metavar="N",
                        help=f"run part N (1-{len(PARTS)}) alone")
    args = parser.parse_args(argv)
    out = sys.stdout
    print(f"symbackprop benchmark: {machine(args.repeat)}", file=out)
    for number, part in enumerate(PARTS, start=1):
        if args.only in (None, number):
            part(args, out)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
