"""Benchmark of the exported NumPy module against hand-written NumPy backpropagation.

Run ``python -m benchmarks.codegen``. It writes the module of a
784-30-10 sigmoid network with the quadratic cost averaged over the batch
(Nielsen's network), imports it from a temporary directory and times one
forward and backward pass over a batch of 100 examples, ``gradients(params, X, Y)``,
beside :func:`hand_written_gradients`, the same computation written by hand.
It prints the median of several runs of each, their ratio (the target is at
most 1.5), the machine's core count and the BLAS thread settings, after
checking that both give the same gradients. Matrix products of this size are
small: on a loaded machine a multi-threaded BLAS makes both figures noisy, and
``OPENBLAS_NUM_THREADS=1`` gives steadier ones.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

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


def _seconds_per_call(call, repeat: int) -> float:
    start = time.perf_counter()
    for _ in range(repeat):
        call()
    return (time.perf_counter() - start) / repeat


def _medians(calls: dict, runs: int, repeat: int) -> dict:
    """Per call, the median over ``runs`` of the mean time of one call (``repeat`` calls a run).

    The runs of the different calls alternate, in turning order, so that a
    change in the machine's load during the benchmark falls on all of them.
    """
    for call in calls.values():
        call()  # warm-up
    times = {name: [] for name in calls}
    names = list(calls)
    for run in range(runs):
        for name in names[run % len(names):] + names[:run % len(names)]:
            times[name].append(_seconds_per_call(calls[name], repeat))
    return {name: statistics.median(values) for name, values in times.items()}


def main(argv=None) -> int:
    import numpy as np

    from symbackprop import Network, derive
    from symbackprop.codegen import numpy_module

    parser = argparse.ArgumentParser(prog="python -m benchmarks.codegen", description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=7, help="timed runs (default 7)")
    parser.add_argument("--repeat", type=int, default=200, help="calls per run (default 200)")
    args = parser.parse_args(argv)

    start = time.perf_counter()
    derivation = derive(Network(list(SIZES), activation="sigmoid", cost="quadratic", mean=True))
    source = numpy_module(derivation)
    generation = time.perf_counter() - start

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
    t_generated, t_hand = medians["generated"], medians["hand"]
    ratio = t_generated / t_hand
    threads = ", ".join(f"{name}={os.environ[name]}" for name in _THREAD_VARIABLES if name in os.environ)
    print(f"network {'-'.join(map(str, SIZES))} sigmoid, quadratic cost (mean), batch {BATCH}; "
          f"cores: {os.cpu_count()}; NumPy {np.__version__}; BLAS threads: {threads or 'the default'}")
    print(f"derivation and module source: {generation:.2f} s ({len(source)} characters)")
    print(f"forward+backward, median of {args.runs} runs of {args.repeat} calls:")
    print(f"  generated module:   {t_generated * 1e3:.3f} ms")
    print(f"  hand-written NumPy: {t_hand * 1e3:.3f} ms")
    print(f"  ratio: {ratio:.2f} (target <= {TARGET})")
    return 0 if ratio <= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
