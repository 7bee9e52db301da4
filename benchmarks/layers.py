"""The benchmark of networks given as lists of layers: ``python -m benchmarks.layers``.

It measures, and prints (medians of several runs, with the core count):

1. the gallery's small convolutional network (1×6×6 input, a 3×3 convolution with 2 channels
   and ReLU, 2×2 max pooling, a dense softmax output with the cross-entropy; 47 parameters):
   every gradient derived, then the check (every layer's rule proven against the chain rule,
   every gradient compared with central differences at 2 random points) — in a warm process;
2. the whole ``symbackprop derive`` command on that description, from a new process
   (interpreter start and imports included), printing the derivation and the check;
3. rendering its Markdown and LaTeX documents (the derivation and the check given);
4. the gallery's residual block with batch normalisation over a batch of 3 (13 parameters):
   derive + check, warm process;
5. a recurrent layer of 8 tanh units over 10 steps (2 inputs per step, the quadratic cost at every
   step; 88 parameters): backpropagation through time derived, then the check — in a warm process.

Performance is measured here, never asserted by timed tests.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import sympy as sp

from symbackprop.examples import CONVOLUTIONAL, RESIDUAL_BATCHNORM
from symbackprop.model.layers import layered_from_mapping
from symbackprop.proof.layered import derive_layered
from symbackprop.proof.layered_report import render_layered



def _median(function, repeat: int) -> tuple[float, list[float]]:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times), times


def derive_and_check():
    derivation = derive_layered(layered_from_mapping(CONVOLUTIONAL))
    report = derivation.check()
    if not report.ok:
        raise RuntimeError("the check of the convolutional network failed")
    return derivation, report


def _runs(times) -> str:
    return ", ".join(f"{t:.2f}" for t in times)


def part_warm(args, out) -> None:
    print("\n1. convolutional network 1x6x6 -> conv 3x3 (2 channels, relu) -> maxpool 2 -> dense 3 softmax, "
          "47 parameters: derive + check, warm process", file=out)
    derive_time, derive_runs = _median(lambda: derive_layered(layered_from_mapping(CONVOLUTIONAL)), args.repeat)
    median, times = _median(derive_and_check, args.repeat)
    print(f"   derive alone: median {derive_time:.2f} s (runs: {_runs(derive_runs)})", file=out)
    print(f"   derive + check: median {median:.2f} s (runs: {_runs(times)}; target <= 10 s)", file=out)


def part_command(args, out) -> None:
    print("\n2. the same as `symbackprop derive net.json` (the gallery's description), from a new process", file=out)
    with tempfile.TemporaryDirectory() as directory:
        path = os.path.join(directory, "net.json")  # the gallery's own description, as a spec file
        with open(path, "w", encoding="utf-8") as handle:
            json.dump(CONVOLUTIONAL, handle)
        command = [sys.executable, "-m", "symbackprop", "derive", path]
        median, times = _median(lambda: subprocess.run(command, check=True, capture_output=True), args.repeat)
    print(f"   median {median:.2f} s (runs: {_runs(times)}; target <= 10 s)", file=out)


#: the recurrent benchmark: 10 steps, 8 hidden units, an output and a cost at every step
RECURRENT_BENCHMARK = {
    "input": [2],
    "steps": 10,
    "cost": "quadratic",
    "layer": [{"type": "rnn", "size": 8, "activation": "tanh", "output": "every"}],
}


def part_recurrent(args, out) -> None:
    print("\n5. recurrent layer, 10 steps x 8 tanh units, 2 inputs per step, cost at every step, 88 parameters: "
          "derive + check, warm process", file=out)

    def derive():
        return derive_layered(layered_from_mapping(RECURRENT_BENCHMARK))

    def derive_and_check_recurrent():
        if not derive().check().ok:
            raise RuntimeError("the check of the recurrent network failed")

    derive_time, derive_runs = _median(derive, args.repeat)
    median, times = _median(derive_and_check_recurrent, args.repeat)
    print(f"   derive alone: median {derive_time:.2f} s (runs: {_runs(derive_runs)})", file=out)
    print(f"   derive + check: median {median:.2f} s (runs: {_runs(times)}; target <= 10 s)", file=out)


def part_documents(args, out) -> None:
    print("\n3. its documents (rendering only; the derivation and its check given)", file=out)
    derivation, report = derive_and_check()
    for fmt in ("md", "tex"):
        document = None

        def render_once(fmt=fmt):
            nonlocal document
            document = render_layered(derivation, fmt, report=report)

        median, _ = _median(render_once, args.repeat)
        print(f"   {fmt:>3}: median {median:.2f} s, {len(document.text.encode()) / 1024:.1f} KB", file=out)


def part_residual(args, out) -> None:
    print("\n4. residual block with batch normalisation, batch of 3: dense 2 tanh -> batchnorm -> residual from 1 "
          "-> dense 1, 13 parameters: derive + check, warm process", file=out)

    def once():
        if not derive_layered(layered_from_mapping(RESIDUAL_BATCHNORM)).check().ok:
            raise RuntimeError("the check of the residual block failed")

    median, times = _median(once, args.repeat)
    print(f"   derive + check: median {median:.2f} s (runs: {_runs(times)})", file=out)


PARTS = (part_warm, part_command, part_documents, part_residual, part_recurrent)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.layers", description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="runs per measurement; the median is reported")
    parser.add_argument("--only", type=int, choices=range(1, len(PARTS) + 1), metavar="N",
                        help=f"run part N (1-{len(PARTS)}) alone")
    args = parser.parse_args(argv)
    out = sys.stdout
    print(f"symbackprop layers benchmark: {os.cpu_count()} cores, Python {sys.version.split()[0]}, "
          f"SymPy {sp.__version__}, median of {args.repeat} runs", file=out)
    for number, part in enumerate(PARTS, start=1):
        if args.only in (None, number):
            part(args, out)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
