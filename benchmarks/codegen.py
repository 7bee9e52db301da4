"""Benchmark of the exported NumPy module against hand-written NumPy backpropagation.

Run ``python -m benchmarks.codegen``. It writes the module of a
784-30-10 sigmoid network with the quadratic cost averaged over the batch
(Nielsen's network), imports it from a temporary directory and times one
forward and backward pass over a batch of 100 examples, ``gradients(params, X, Y)``,
beside :func:`hand_written_gradients`, the same computation written by hand.
It prints the median of several runs of each (wall clock and CPU time), their ratio (the target is at
most 1.5), the machine's core count and the BLAS thread settings, after
checking that both give the same gradients. Matrix products of this size are
small: on a loaded machine a multi-threaded BLAS makes both figures noisy, and
``OPENBLAS_NUM_THREADS=1`` gives steadier ones.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import tempfile
from pathlib import Path

from benchmarks.timing import Timing, machine, measure

SIZES = (784, 30, 10)
BATCH = 100
TARGET = 1.5
#: environment variables that set the BLAS thread count (printed, since they change the figures)
_THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def hand_written_gradients(params, X, Y):
    """Backpropagation for a sigmoid network with quadratic cost, averaged over the batch's columns."""
    import numpy as np

    weights = [params[f"W{l}"] for l in range(1, len(SIZES))]
    biases = [params[f"b{l}"] for l in range(1, len(SIZES))]
    activations = [X]
    for W, b in zip(weights, biases):
        activations.append(1.0 / (1.0 + np.exp(-(W @ activations[-1] + b))))
    count = X.shape[1]
    a = activations[-1]
    delta = (a - Y) * a * (1 - a)
    grads = {}
    for l in range(len(weights), 0, -1):
        grads[f"W{l}"] = delta @ activations[l - 1].T / count
        grads[f"b{l}"] = delta.sum(axis=1, keepdims=True) / count
        if l > 1:
            a = activations[l - 1]
            delta = (weights[l - 1].T @ delta) * a * (1 - a)
    return grads


def _load(source: str, directory: Path):
    path = directory / "network_784_30_10.py"
    path.write_text(source, encoding="utf-8")
    spec = importlib.util.spec_from_file_location("network_784_30_10", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _medians(calls: dict, runs: int, repeat: int) -> dict:
    """Per call, the median over ``runs`` of the wall-clock and CPU time of one call (the mean of ``repeat``
    calls a run), as a :class:`~benchmarks.timing.Timing` of seconds per call.

    The runs of the different calls alternate, in turning order, so that a
    change in the machine's load during the benchmark falls on all of them.
    """
    for call in calls.values():
        call()  # warm-up
    walls = {name: [] for name in calls}
    cpus = {name: [] for name in calls}
    names = list(calls)
    for run in range(runs):
        for name in names[run % len(names):] + names[:run % len(names)]:

            def calls_of_a_run(call=calls[name]):
                for _ in range(repeat):
                    call()

            timing = measure(calls_of_a_run, 1)
            walls[name].append(timing.wall / repeat)
            cpus[name].append(timing.cpu / repeat)
    return {name: Timing(tuple(walls[name]), tuple(cpus[name])) for name in calls}


def main(argv=None) -> int:
    import numpy as np

    from symbackprop import Network, derive
    from symbackprop.codegen import numpy_module

    parser = argparse.ArgumentParser(prog="python -m benchmarks.codegen", description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=7, help="timed runs (default 7)")
    parser.add_argument("--repeat", type=int, default=200, help="calls per run (default 200)")
    args = parser.parse_args(argv)

    sources = []
    generation = measure(lambda: sources.append(numpy_module(
        derive(Network(list(SIZES), activation="sigmoid", cost="quadratic", mean=True)))), 1)
    source = sources[0]

    rng = np.random.default_rng(0)
    X = rng.random((SIZES[0], BATCH))
    Y = np.zeros((SIZES[-1], BATCH))
    Y[rng.integers(0, SIZES[-1], BATCH), np.arange(BATCH)] = 1.0
    with tempfile.TemporaryDirectory() as directory:
        module = _load(source, Path(directory))
        params = module.init_params(0)
        generated, hand = module.gradients(params, X, Y), hand_written_gradients(params, X, Y)
        for name in params:
            if not np.allclose(generated[name], hand[name], rtol=1e-12, atol=1e-15):
                print(f"the gradients of {name} differ", file=sys.stderr)
                return 1
        medians = _medians({"generated": lambda: module.gradients(params, X, Y),
                            "hand": lambda: hand_written_gradients(params, X, Y)}, args.runs, args.repeat)
    t_generated, t_hand = medians["generated"].wall, medians["hand"].wall
    ratio = t_generated / t_hand
    cpu_ratio = medians["generated"].cpu / medians["hand"].cpu
    threads = ", ".join(f"{name}={os.environ[name]}" for name in _THREAD_VARIABLES if name in os.environ)
    print(f"network {'-'.join(map(str, SIZES))} sigmoid, quadratic cost (mean), batch {BATCH}; "
          f"NumPy {np.__version__}; BLAS threads: {threads or 'the default'}")
    print(machine(args.runs))
    print(f"derivation and module source, one run: {generation} ({len(source)} characters)")
    print(f"forward+backward, median of {args.runs} runs of {args.repeat} calls:")
    print(f"  generated module:   {t_generated * 1e3:.3f} ms (CPU {medians['generated'].cpu * 1e3:.3f} ms)")
    print(f"  hand-written NumPy: {t_hand * 1e3:.3f} ms (CPU {medians['hand'].cpu * 1e3:.3f} ms)")
    print(f"  ratio: {ratio:.2f} by the wall clock, {cpu_ratio:.2f} by CPU time (target <= {TARGET})")
    return 0 if ratio <= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
