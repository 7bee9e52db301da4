"""The benchmark of networks given as lists of layers: ``python -m benchmarks.layers``.

It measures, and prints (medians of several runs, by the wall clock and by CPU time, with the core count
and the load average):

1. the gallery's small convolutional network (1×6×6 input, a 3×3 convolution with 2 channels
   and ReLU, 2×2 max pooling, a dense softmax output with the cross-entropy; 47 parameters):
   every gradient derived, then the check (every layer's rule proven against the chain rule,
   every gradient compared with central differences at 2 random points) — in this process, each run
   starting as a new process would (:func:`benchmarks.timing.as_new_process`);
2. the whole ``symbackprop derive`` command on that description, from a new process
   (interpreter start and imports included), printing the derivation and the check;
3. rendering its Markdown and LaTeX documents (the derivation and the check given);
4. the gallery's residual block with batch normalisation over a batch of 3 (13 parameters):
   derive + check, each run starting as a new process would;
5. the NumPy module ``symbackprop codegen`` writes for the convolutional network of part 1:
   ``gradients(params, X, Y)`` on a batch of 100 examples beside :func:`hand_written_gradients`, the same
   backward pass written by hand with im2col and matrix products (after checking that both give the same
   gradients); the target is a ratio of at most 2;
6. a recurrent layer of 8 tanh units over 10 steps (2 inputs per step, the quadratic cost at every
   step; 88 parameters): backpropagation through time derived, then the check, each run starting as a new process would;
7. the NumPy module ``symbackprop codegen`` writes for that recurrent layer: ``gradients(params, X, Y)`` on a
   batch of 100 sequences beside :func:`hand_written_bptt`, backpropagation through time written by hand
   (after checking that both give the same gradients); the target is a ratio of at most 2.

Performance is measured here, never asserted by timed tests.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile


from benchmarks.timing import Timing, as_new_process, machine, measure, measure_process
from symbackprop.examples import CONVOLUTIONAL, RESIDUAL_BATCHNORM
from symbackprop.model.layers import layered_from_mapping
from symbackprop.proof.layered import derive_layered
from symbackprop.proof.layered_report import render_layered



def _median(function, repeat: int) -> Timing:
    """``function`` timed ``repeat`` times in this process, each run starting as a new process would
    (:func:`benchmarks.timing.as_new_process`)."""

    def fresh():
        as_new_process()
        function()

    return measure(fresh, repeat)


def derive_and_check():
    derivation = derive_layered(layered_from_mapping(CONVOLUTIONAL))
    report = derivation.check()
    if not report.ok:
        raise RuntimeError("the check of the convolutional network failed")
    return derivation, report


def part_warm(args, out) -> None:
    print("\n1. convolutional network 1x6x6 -> conv 3x3 (2 channels, relu) -> maxpool 2 -> dense 3 softmax, "
          "47 parameters: derive + check, each run starting as a new process would", file=out)
    alone = _median(lambda: derive_layered(layered_from_mapping(CONVOLUTIONAL)), args.repeat)
    both = _median(derive_and_check, args.repeat)
    print(f"   derive alone: median {alone} (runs: {alone.runs()})", file=out)
    print(f"   derive + check: median {both} (runs: {both.runs()}; target <= 10 s)", file=out)


def part_command(args, out) -> None:
    print("\n2. the same as `symbackprop derive net.json` (the gallery's description), from a new process", file=out)
    with tempfile.TemporaryDirectory() as directory:
        path = os.path.join(directory, "net.json")  # the gallery's own description, as a spec file
        with open(path, "w", encoding="utf-8") as handle:
            json.dump(CONVOLUTIONAL, handle)
        command = [sys.executable, "-m", "symbackprop", "derive", path]
        timing = measure_process(command, args.repeat)
    print(f"   median {timing} (runs: {timing.runs()}; target <= 10 s)", file=out)


#: the recurrent benchmark: 10 steps, 8 hidden units, an output and a cost at every step
RECURRENT_BENCHMARK = {
    "input": [2],
    "steps": 10,
    "cost": "quadratic",
    "layer": [{"type": "rnn", "size": 8, "activation": "tanh", "output": "every"}],
}


def part_recurrent(args, out) -> None:
    print("\n6. recurrent layer, 10 steps x 8 tanh units, 2 inputs per step, cost at every step, 88 parameters: "
          "derive + check", file=out)

    def derive():
        return derive_layered(layered_from_mapping(RECURRENT_BENCHMARK))

    def derive_and_check_recurrent():
        if not derive().check().ok:
            raise RuntimeError("the check of the recurrent network failed")

    alone = _median(derive, args.repeat)
    both = _median(derive_and_check_recurrent, args.repeat)
    print(f"   derive alone: median {alone} (runs: {alone.runs()})", file=out)
    print(f"   derive + check: median {both} (runs: {both.runs()}; target <= 10 s)", file=out)


def part_documents(args, out) -> None:
    print("\n3. its documents (rendering only; the derivation and its check given)", file=out)
    derivation, report = derive_and_check()
    for fmt in ("md", "tex"):
        document = None

        def render_once(fmt=fmt):
            nonlocal document
            document = render_layered(derivation, fmt, report=report)

        timing = measure(render_once, args.repeat)
        print(f"   {fmt:>3}: median {timing}, {len(document.text.encode()) / 1024:.1f} KB", file=out)


#: examples in the batch of part 4, and the largest ratio of the generated module's time to the hand-written one's
BATCH = 100
CODEGEN_TARGET = 2.0


def hand_written_gradients(params, X, Y):
    """Backpropagation through the gallery's network by hand: conv 3×3 (2 channels, ReLU) on a 1×6×6
    input as im2col and one matrix product, 2×2 max pooling by reshaping (ties to the first maximum),
    a dense softmax layer with the cross-entropy; the gradients summed over the batch (one example a row)."""
    import numpy as np
    from numpy.lib.stride_tricks import sliding_window_view

    K, b1, W, b3 = params["K1"], params["b1"], params["W3"], params["b3"]
    n = X.shape[0]
    columns = sliding_window_view(X, (3, 3), axis=(2, 3)).transpose(0, 2, 3, 1, 4, 5).reshape(n * 16, 9)
    z1 = (columns @ K.reshape(2, 9).T).reshape(n, 4, 4, 2).transpose(0, 3, 1, 2) + b1[:, None, None]
    a1 = np.maximum(z1, 0)
    blocks = a1.reshape(n, 2, 2, 2, 2, 2).transpose(0, 1, 2, 4, 3, 5).reshape(n, 2, 2, 2, 4)
    first = blocks.argmax(axis=-1)
    a2 = np.take_along_axis(blocks, first[..., None], axis=-1)[..., 0]
    flat = a2.reshape(n, 8)
    z3 = flat @ W.T + b3
    e = np.exp(z3 - z3.max(axis=1, keepdims=True))
    a3 = e / e.sum(axis=1, keepdims=True)
    delta3 = a3 - Y
    grads = {"W3": delta3.T @ flat, "b3": delta3.sum(axis=0)}
    da2 = (delta3 @ W).reshape(n, 2, 2, 2)
    routed = (np.arange(4) == first[..., None]) * da2[..., None]
    da1 = routed.reshape(n, 2, 2, 2, 2, 2).transpose(0, 1, 2, 4, 3, 5).reshape(n, 2, 4, 4)
    delta1 = da1 * (z1 > 0)
    grads["K1"] = (delta1.transpose(0, 2, 3, 1).reshape(n * 16, 2).T @ columns).reshape(2, 1, 3, 3)
    grads["b1"] = delta1.sum(axis=(0, 2, 3))
    return grads


def _module(source: str, name: str):
    """The generated ``source`` imported as a module (from a temporary file)."""
    import importlib.util

    with tempfile.TemporaryDirectory() as directory:
        path = os.path.join(directory, f"{name}.py")
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(source)
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    return module


def _beside_hand_written(args, out, module, hand_written, X, Y) -> None:
    """``module.gradients`` and ``hand_written`` give the same gradients; then both timed, alternating runs of
    many calls, and the ratio of their CPU times printed."""
    import numpy as np

    params = module.init_params(0)
    generated, hand = module.gradients(params, X, Y), hand_written(params, X, Y)
    for name in params:
        if not np.allclose(generated[name], hand[name], rtol=1e-12, atol=1e-13):
            raise RuntimeError(f"the gradients of {name} differ between the module and the hand-written code")
    calls = 200
    runs = {"generated": [], "hand": []}
    for _ in range(args.repeat):  # alternating, so that a change of load falls on both
        for name, function in (("generated", module.gradients), ("hand", hand_written)):
            runs[name].append(measure(lambda function=function: [function(params, X, Y) for _ in range(calls)], 1))
    timing = {name: Timing(tuple(t.walls[0] / calls for t in done), tuple(t.cpus[0] / calls for t in done))
              for name, done in runs.items()}
    for name, label in (("generated", "generated module:  "), ("hand", "hand-written NumPy:")):
        print(f"   {label} median {timing[name].wall * 1e3:.3f} ms a call (CPU {timing[name].cpu * 1e3:.3f} ms; "
              f"{calls} calls a run)", file=out)
    generated_time, hand_time = timing["generated"].cpu, timing["hand"].cpu
    print(f"   ratio of the CPU times: {generated_time / hand_time:.2f} (target <= {CODEGEN_TARGET})", file=out)


def part_codegen(args, out) -> None:
    import numpy as np

    from symbackprop.codegen.layered import layered_module

    print(f"\n5. the convolutional network's NumPy module (symbackprop codegen): gradients on a batch of {BATCH}, "
          "beside hand-written NumPy", file=out)
    module = _module(layered_module(derive_layered(layered_from_mapping(CONVOLUTIONAL))), "conv_module")
    rng = np.random.default_rng(0)
    X = rng.standard_normal((BATCH, 1, 6, 6))
    Y = np.eye(3)[rng.integers(0, 3, BATCH)]
    _beside_hand_written(args, out, module, hand_written_gradients, X, Y)


def hand_written_bptt(params, X, Y):
    """Backpropagation through time by hand for :data:`RECURRENT_BENCHMARK`: h_t = tanh(W h_{t−1} + U x_t + b)
    from h_0 = 0, the quadratic cost ½‖h_t − y_t‖² at every step; the gradients summed over the batch
    (one sequence a row: X is (N, T, inputs), Y is (N, T, units))."""
    import numpy as np

    W, U, b = params["W1"], params["U1"], params["b1"]
    n, steps, _ = X.shape
    h = np.zeros((n, steps + 1, W.shape[0]))  # h[:, 0] is the zero state
    for t in range(steps):
        h[:, t + 1] = np.tanh(h[:, t] @ W.T + X[:, t] @ U.T + b)
    states = h[:, 1:]
    slope = 1 - states ** 2
    error = states - Y
    delta = np.empty_like(states)
    carried = np.zeros((n, W.shape[0]))  # W^T delta_{t+1}, none after the last step
    for t in range(steps - 1, -1, -1):
        delta[:, t] = (error[:, t] + carried) * slope[:, t]
        carried = delta[:, t] @ W
    flat = delta.reshape(-1, W.shape[0])
    return {"W1": flat.T @ h[:, :-1].reshape(-1, W.shape[0]), "U1": flat.T @ X.reshape(n * steps, -1),
            "b1": flat.sum(axis=0)}


def part_recurrent_codegen(args, out) -> None:
    import numpy as np

    from symbackprop.codegen.layered import layered_module

    print(f"\n7. the recurrent layer's NumPy module (symbackprop codegen), 10 steps x 8 tanh units: gradients on a "
          f"batch of {BATCH} sequences, beside hand-written NumPy backpropagation through time", file=out)
    module = _module(layered_module(derive_layered(layered_from_mapping(RECURRENT_BENCHMARK))), "rnn_module")
    rng = np.random.default_rng(0)
    X = rng.standard_normal((BATCH, 10, 2))
    Y = rng.uniform(-1, 1, (BATCH, 10, 8))
    _beside_hand_written(args, out, module, hand_written_bptt, X, Y)


def part_residual(args, out) -> None:
    print("\n4. residual block with batch normalisation, batch of 3: dense 2 tanh -> batchnorm -> residual from 1 "
          "-> dense 1, 13 parameters: derive + check", file=out)

    def once():
        if not derive_layered(layered_from_mapping(RESIDUAL_BATCHNORM)).check().ok:
            raise RuntimeError("the check of the residual block failed")

    timing = _median(once, args.repeat)
    print(f"   derive + check: median {timing} (runs: {timing.runs()})", file=out)


PARTS = (part_warm, part_command, part_documents, part_residual, part_codegen, part_recurrent, part_recurrent_codegen)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.layers", description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="runs per measurement; the median is reported")
    parser.add_argument("--only", type=int, choices=range(1, len(PARTS) + 1), metavar="N",
                        help=f"run part N (1-{len(PARTS)}) alone")
    args = parser.parse_args(argv)
    out = sys.stdout
    print(f"symbackprop layers benchmark: {machine(args.repeat)}", file=out)
    for number, part in enumerate(PARTS, start=1):
        if args.only in (None, number):
            part(args, out)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
