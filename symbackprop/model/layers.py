"""A network as a list of layers: dense, conv1d, conv2d, maxpool, avgpool, flatten, batchnorm, residual, rnn.

The description (TOML, JSON or Python) gives an input shape and one entry per layer::

    input = [1, 6, 6]          # channels, height, width; [channels, length]; or a size
    cost = "cross_entropy"
    [[layer]]
    type = "conv2d"            # channels, kernel, stride (1), padding (0), activation, bias
    channels = 2
    kernel = 3
    activation = "relu"
    [[layer]]
    type = "maxpool"           # also avgpool: size, stride (= size)
    size = 2
    [[layer]]
    type = "dense"             # size, activation, bias; flattens a map before it, in reading order
    size = 3
    activation = "softmax"

Layers are numbered as in the description: the input is layer 0, the first entry layer 1.
Validation collects every problem (unknown keys, bad values, shapes that do not fit) and
raises once; a shape problem names the layer and both shapes.

The forward pass of each layer type is stated here, over named quantities (:class:`Site`):

    dense    z^l_j = Σ_k w^l_{j,k} a^{l−1}_k + b^l_j,                     a^l_j = σ(z^l_j)
    conv2d   z^l_{o,i,j} = Σ_{c,p,q} K^l_{o,c,p,q} ã^{l−1}_{c,s(i−1)+p,s(j−1)+q} + b^l_o,
             a^l = σ(z^l), with ã the input padded by P zeros on every side
    maxpool  a^l_{c,i,j} = max of the window of a^{l−1}_c at (s(i−1)+1, s(j−1)+1)
    avgpool  a^l_{c,i,j} = (1/size²) Σ of that window
    flatten  a^l_k = a^{l−1}_{c,i,j} with k counting (c, i, j) in reading order
    batchnorm  over the n entries i of channel c in the batch (every example, every position):
             μ^l_c = (1/n) Σ_i a^{l−1}_i,  σ^l_c = √((1/n) Σ_i (a^{l−1}_i − μ^l_c)² + ε),
             x̂^l_i = (a^{l−1}_i − μ^l_c) / σ^l_c,  a^l_i = γ^l_c x̂^l_i + β^l_c
    residual a^l = a^{l−1} + a^m, the output of an earlier layer m (``from = m``; 0 is the input);
             with an activation (``activation = "relu"``, as after the addition of a ResNet block)
             z^l = a^{l−1} + a^m and a^l = σ(z^l)
    rnn      z^l_{t,j} = Σ_i W^l_{j,i} a^l_{t−1,i} + Σ_k U^l_{j,k} a^{l−1}_{t,k} + b^l_j,  a^l_{t,j} = σ(z^l_{t,j}),
             for t = 1 … T, with a^l_0 = 0 (no term for it); the layer gives a^l_T or every a^l_t

A description may set ``batch = n`` (default 1): the forward pass then runs over n examples
that share the parameters, every x, z, a, δ and y carries the example's number first
(a^l_{e,j}), and the cost is the sum of the examples' costs. Batch normalisation couples the
examples; every other layer works on each example alone.

A recurrent layer reads a sequence: the description sets ``steps = T`` and ``input = [size]``
(the size of the input at each step), and the input is indexed (step, entry). An ``rnn`` with
``output = "every"`` gives a sequence again, which only another ``rnn`` reads, or the cost: the
cost of a sequence is the sum over the steps of the cost at each step. A recurrent layer works on
one example: its network has no ``batch``.

>>> net = LayeredNetwork([1, 6, 6], [conv2d(2, 3, activation="relu"), maxpool(2), dense(3, "softmax")],
...                      cost="cross_entropy")
>>> [shape_text(s) for s in net.shapes]
['1×6×6', '2×4×4', '2×2×2', '3']
>>> net.parameter_count
47
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from itertools import product as grid
from typing import Any, Mapping

import sympy as sp

from ..errors import SpecError, unknown_name
from .activations import Activation, VectorActivation, activation as lookup_activation
from .costs import cost as lookup_cost

# ---------------------------------------------------------------------- named quantities

#: the kinds of quantity a layered network names (e: what a recurrent layer's output passes back to a state)
SITE_KINDS = ("x", "y", "z", "a", "delta", "K", "b", "w", "W", "U", "C", "gamma", "beta", "mu", "sigma", "xhat",
              "eps", "e")


class Site(sp.Symbol):
    """A named quantity of a layered network: ``kind`` at ``layer`` and ``position`` (1-based).

    z, a, δ of a map are indexed (channel, row, column) or (channel, position); of a vector,
    (neuron,). A kernel entry K^l_{o,c,p,q} joins output channel o to input channel c at
    kernel offset (p, q); a dense weight w^l_{j,k} joins input k (flattened) to neuron j.

    >>> Site("K", 1, 2, 1, 3, 3)
    K[1;2,1,3,3]
    """

    __slots__ = ("kind", "layer", "position")

    def __new__(cls, kind: str, layer, *position: int) -> "Site":
        if kind not in SITE_KINDS:
            raise ValueError(f"unknown site kind {kind!r}; expected one of {', '.join(SITE_KINDS)}")
        name = kind + ("" if layer is None else f"[{layer};" + ",".join(map(str, position)) + "]")
        if layer is None and position:
            name = f"{kind}[" + ",".join(map(str, position)) + "]"
        obj = sp.Symbol.__xnew__(cls, name, real=True)
        obj.kind = kind
        obj.layer = layer
        obj.position = tuple(position)
        return obj

    def __getnewargs_ex__(self):
        return ((self.kind, self.layer, *self.position), {})


COST = Site("C", None)


# ---------------------------------------------------------------------- display forms
# Plain data for the printers (documents/printing.py writes them).


class FeatureMap(sp.Expr):
    """A whole feature map, kernel slice or vector as one symbol: δ^l_o, a^{l−1}_c, K^l_{o,c}, z^l."""

    is_commutative = True

    def __new__(cls, kind, layer, *channels):
        kind = kind.name if isinstance(kind, sp.Symbol) else kind
        return sp.Expr.__new__(cls, sp.Symbol(kind), sp.sympify(layer), *map(sp.sympify, channels))

    @property
    def kind(self) -> str:
        return self.args[0].name


class MapOperation(sp.Expr):
    """An operation on feature maps, named by ``op``: ``rot180``, ``dilate`` (by the stride),
    ``crop`` and ``pad`` (by the padding), ``full`` (full cross-correlation), ``valid`` (valid
    cross-correlation), ``hadamard`` (element by element), ``upsample_max`` (δ to each window's
    first maximum), ``upsample_mean`` (δ/size² to every entry of the window), ``unflatten``,
    ``diag`` (a vector as the diagonal of a matrix)."""

    is_commutative = True
    OPS = ("rot180", "dilate", "crop", "pad", "full", "valid", "hadamard", "upsample_max", "upsample_mean",
           "unflatten", "sigma_prime", "transpose_times", "diag")

    def __new__(cls, op, *operands):
        op = op.name if isinstance(op, sp.Symbol) else op
        if op not in cls.OPS:
            raise ValueError(f"unknown map operation {op!r}; expected one of {', '.join(cls.OPS)}")
        return sp.Expr.__new__(cls, sp.Symbol(op), *map(sp.sympify, operands))

    @property
    def op(self) -> str:
        return self.args[0].name

    @property
    def operands(self):
        return self.args[1:]


class SumOverIndex(sp.Expr):
    """Σ_{index} term, for display (Σ_o over output channels, Σ_{i,j} over positions)."""

    is_commutative = True

    def __new__(cls, term, *indices):
        return sp.Expr.__new__(cls, sp.sympify(term), *map(sp.sympify, indices))


class LongSum(sp.Expr):
    """A sum shown over several rows of ``per_row`` terms each (in a display); its terms in the order given."""

    is_commutative = True

    def __new__(cls, per_row, *terms):
        return sp.Expr.__new__(cls, sp.Integer(per_row), *map(sp.sympify, terms))

    @property
    def per_row(self) -> int:
        return int(self.args[0])

    @property
    def terms(self):
        return self.args[1:]


class Indicator(sp.Expr):
    """[condition]: 1 where the condition holds, 0 elsewhere (Iverson's bracket), for display."""

    is_commutative = True

    def __new__(cls, condition):
        return sp.Expr.__new__(cls, condition)


class UnitStep(sp.Expr):
    """H(u), the unit step (SymPy's ``Heaviside``) as the chain rule gives it for a maximum, for display."""

    is_commutative = True

    def __new__(cls, argument):
        return sp.Expr.__new__(cls, sp.sympify(argument))


class OrderedProduct(sp.Expr):
    """∏_{index = lower}^{upper} of ``factors`` (matrices, kept in the order given), for display.

    The factor of the largest index stands leftmost: ∂a_T/∂a_t = ∏_{k=t+1}^{T} diag(σ'(z_k)) W.
    """

    is_commutative = True

    def __new__(cls, index, lower, upper, *factors):
        return sp.Expr.__new__(cls, index, sp.sympify(lower), sp.sympify(upper), *map(sp.sympify, factors))


# ---------------------------------------------------------------------- shapes


def shape_text(shape: tuple) -> str:
    """``(2, 4, 4)`` → ``'2×4×4'``; a vector ``(3,)`` → ``'3'``; an unknown size is ``?``."""
    return "×".join("?" if n is None else str(n) for n in shape)


def _output_shape(spec, shape, known: bool) -> tuple | None:
    """The layer's output shape; after a shape problem, only what is certain (the rank, the channels)."""
    if known and None not in shape:
        return spec.output_shape(shape)
    if isinstance(spec, (Dense,)):
        return (spec.size,)
    if isinstance(spec, Flatten):
        return (None,)
    if isinstance(spec, Conv):
        return (spec.channels, *([None] * spec.dims))
    if isinstance(spec, Pool):
        return (shape[0], *([None] * (len(shape) - 1))) if len(shape) > 1 else None
    if isinstance(spec, Recurrent):
        return (shape[0], spec.size) if spec.output == "every" and len(shape) == 2 else (spec.size,)
    if isinstance(spec, (BatchNorm, Residual)):
        return shape
    return None


def positions(shape: tuple):
    """Every position of a shape, 1-based, in reading order (channel, then row, then column)."""
    return list(grid(*(range(1, n + 1) for n in shape)))


def _out(size: int, window: int, stride: int, padding: int = 0) -> int:
    return (size + 2 * padding - window) // stride + 1


# ---------------------------------------------------------------------- layer descriptions


@dataclass(frozen=True)
class Dense:
    """A fully connected layer; it flattens a map before it in reading order."""

    size: int
    activation: Any = "sigmoid"
    bias: bool = True
    type: str = field(default="dense", init=False)

    def output_shape(self, shape):
        return (self.size,)

    def parameter_count(self, shape) -> int:
        return self.size * math.prod(shape) + (self.size if self.bias else 0)


@dataclass(frozen=True)
class Conv:
    """A convolutional layer (1-D or 2-D, by ``dims``): ``channels`` kernels of ``kernel`` per side."""

    dims: int
    channels: int
    kernel: int
    stride: int = 1
    padding: int = 0
    activation: Any = "sigmoid"
    bias: bool = True

    @property
    def type(self) -> str:
        return f"conv{self.dims}d"

    def output_shape(self, shape):
        return (self.channels, *(_out(n, self.kernel, self.stride, self.padding) for n in shape[1:]))

    def skipped(self, shape) -> tuple:
        """Along each axis of the padded input, the entries past the last window: (n + 2p − k) mod s, which no
        window covers when the stride does not divide the rest evenly."""
        return tuple((n + 2 * self.padding - self.kernel) % self.stride for n in shape[1:])

    def parameter_count(self, shape) -> int:
        return self.channels * shape[0] * self.kernel ** self.dims + (self.channels if self.bias else 0)


@dataclass(frozen=True)
class Pool:
    """Max or average pooling over windows of ``size`` per side, every ``stride`` (default: ``size``)."""

    kind: str
    size: int
    stride: int | None = None

    @property
    def type(self) -> str:
        return f"{self.kind}pool"

    @property
    def step(self) -> int:
        return self.size if self.stride is None else self.stride

    activation = None
    bias = False

    def output_shape(self, shape):
        return (shape[0], *(_out(n, self.size, self.step) for n in shape[1:]))

    def parameter_count(self, shape) -> int:
        return 0


@dataclass(frozen=True)
class Flatten:
    """A map laid out as a vector in reading order (channel, row, column)."""

    type: str = field(default="flatten", init=False)
    activation = None
    bias = False

    def output_shape(self, shape):
        return (math.prod(shape),)

    def parameter_count(self, shape) -> int:
        return 0


@dataclass(frozen=True)
class BatchNorm:
    """Batch normalisation in training mode: each channel (a vector's every entry, a map's every
    channel) normalised over the batch, then scaled by γ and shifted by β; ``epsilon`` (a positive
    number, exact) keeps the square root away from 0."""

    epsilon: Any = sp.Rational(1, 100000)
    type: str = field(default="batchnorm", init=False)
    activation = None
    bias = False

    def output_shape(self, shape):
        return shape

    def parameter_count(self, shape) -> int:
        return 2 * shape[0]


@dataclass(frozen=True)
class Residual:
    """The input plus the output of the earlier layer ``source`` (0: the network's input), passed
    through ``activation`` if one is given (None, as the identity, keeps the sum itself as the output)."""

    source: int
    activation: Any = None
    type: str = field(default="residual", init=False)
    bias = False

    def output_shape(self, shape):
        return shape

    def parameter_count(self, shape) -> int:
        return 0


def batchnorm(epsilon=sp.Rational(1, 100000)) -> BatchNorm:
    return BatchNorm(exact_number(epsilon))


def residual(source, activation=None) -> Residual:
    """A skip from layer ``source`` (its number in the description; 0 is the input), the sum passed
    through ``activation`` (none: the sum itself)."""
    return Residual(source, activation)


def exact_number(value):
    """An int, float or exact SymPy number as an exact rational (a float by its shortest decimal)."""
    if isinstance(value, float):
        return sp.Rational(repr(value))
    return sp.Rational(value) if isinstance(value, int) else value


@dataclass(frozen=True)
class Recurrent:
    """A vanilla recurrent layer of ``size`` units over the steps of a sequence (steps × entries).

    ``output``: ``"last"`` gives the state at the last step (a vector), ``"every"`` the state at
    every step (a sequence). The state before the first step is 0.
    """

    size: int
    activation: Any = "tanh"
    bias: bool = True
    output: str = "last"
    type: str = field(default="rnn", init=False)

    def output_shape(self, shape):
        return (shape[0], self.size) if self.output == "every" else (self.size,)

    def state_shape(self, shape):
        """The shape of z, a and δ inside the layer: every step × every unit."""
        return (shape[0], self.size)

    def parameter_count(self, shape) -> int:
        return self.size * self.size + self.size * shape[-1] + (self.size if self.bias else 0)


#: what ``output`` of an rnn layer may be
RNN_OUTPUTS = ("last", "every")


def dense(size, activation="sigmoid", bias=True) -> Dense:
    return Dense(size, activation, bias)


def conv2d(channels, kernel, stride=1, padding=0, activation="sigmoid", bias=True) -> Conv:
    return Conv(2, channels, kernel, stride, padding, activation, bias)


def conv1d(channels, kernel, stride=1, padding=0, activation="sigmoid", bias=True) -> Conv:
    return Conv(1, channels, kernel, stride, padding, activation, bias)


def maxpool(size, stride=None) -> Pool:
    return Pool("max", size, stride)


def avgpool(size, stride=None) -> Pool:
    return Pool("avg", size, stride)


def flatten() -> Flatten:
    return Flatten()


def rnn(size, activation="tanh", bias=True, output="last") -> Recurrent:
    return Recurrent(size, activation, bias, output)


#: every layer type: its fields (required first) and how to build it from them
LAYER_TYPES = {
    "dense":   (("size",), ("activation", "bias"), lambda f: dense(**f)),
    "conv1d":  (("channels", "kernel"), ("stride", "padding", "activation", "bias"), lambda f: conv1d(**f)),
    "conv2d":  (("channels", "kernel"), ("stride", "padding", "activation", "bias"), lambda f: conv2d(**f)),
    "maxpool": (("size",), ("stride",), lambda f: maxpool(**f)),
    "avgpool": (("size",), ("stride",), lambda f: avgpool(**f)),
    "flatten": ((), (), lambda f: flatten()),
    "rnn":     (("size",), ("activation", "bias", "output"), lambda f: rnn(**f)),
    "batchnorm": ((), ("epsilon",), lambda f: batchnorm(**f)),
    "residual": (("from",), ("activation",), lambda f: residual(f["from"], f.get("activation"))),
}


# ---------------------------------------------------------------------- the network

#: the most values (input and every layer's output, counted entry by entry) and parameters derived
VALUE_LIMIT = 4000


@dataclass(frozen=True)
class LayerInfo:
    """Layer ``index`` (1-based) with its description, resolved activation and shapes."""

    index: int
    spec: Any
    activation: Activation | VectorActivation | None
    input_shape: tuple
    output_shape: tuple

    @property
    def type(self) -> str:
        return self.spec.type

    @property
    def has_z(self) -> bool:
        """Dense, convolutional and recurrent layers (and a residual one with an activation) have weighted inputs z and an activation."""
        return self.activation is not None

    @property
    def bias(self) -> bool:
        return bool(self.spec.bias)

    @property
    def parameter_count(self) -> int:
        return self.spec.parameter_count(self.input_shape)

    @property
    def recurrent(self) -> bool:
        return isinstance(self.spec, Recurrent)

    @property
    def state_shape(self) -> tuple:
        """The shape over which z, a and δ are named: the output's, or every step's for a recurrent layer."""
        return self.spec.state_shape(self.input_shape) if self.recurrent else self.output_shape


class LayeredNetwork:
    """A network given as an input shape and a list of layers, with one cost.

    ``input`` is a size, ``[size]``, ``[channels, length]`` or ``[channels, height, width]``;
    ``layers`` are :func:`dense`, :func:`conv1d`, :func:`conv2d`, :func:`maxpool`,
    :func:`avgpool`, :func:`flatten` and :func:`rnn` descriptions (or mappings with a ``type``).
    With ``steps`` (T) the input is a sequence: ``input`` is the size at each step, and the
    input's shape is T × size.
    """

    __slots__ = ("input_shape", "layers", "cost", "batch", "steps")

    def __init__(self, input, layers, cost="quadratic", batch=1, steps=None):
        problems: list[str] = []
        shape = _input_shape(input, problems)
        if not _positive(batch):
            problems.append(f"batch {batch!r} is not a number of examples; expected a positive integer")
            batch = 1
        shape = _sequence_shape(steps, shape, problems)
        sequence = steps is not None
        specs = []
        if isinstance(layers, (str, bytes)) or not hasattr(layers, "__iter__"):
            problems.append(f"layers {layers!r} are not a list; expected a list of layer descriptions")
            layers = []
        layers = list(layers)
        if not layers:
            problems.append("the description has no layer; expected at least one [[layer]] entry")
        for index, item in enumerate(layers, start=1):
            specs.append(_layer_spec(index, item, problems))
        rule = None
        try:
            rule = lookup_cost(cost)
        except SpecError as error:
            problems.extend(error.problems)
        infos = []
        outputs = {0: shape}  # every layer's output shape, None where unknown
        for index, spec in enumerate(specs, start=1):
            outputs[index - 1] = shape
            if spec is None:
                shape = None  # its output's shape is unknown: later layers are not judged by it
                continue
            act = None
            if spec.activation is not None:
                try:
                    act = lookup_activation(spec.activation)
                except SpecError as error:
                    problems.append(f"layer {index} ({spec.type}): {error}")
                if isinstance(spec, Residual) and act is not None and act.name == "identity":
                    act = None  # the sum itself is the output: no weighted input to name
                if isinstance(act, VectorActivation) and (index != len(specs) or spec.type != "dense"):
                    problems.append(f"layer {index} ({spec.type}): {act.name} mixes the values of a layer; "
                                    f"expected it on the last layer, a dense one, only")
            if index == len(specs) and rule is not None and rule.outputs and (act is None or act.name not in
                                                                            rule.outputs and not getattr(act, "custom", False)):
                name = act.name if act is not None else "none"
                problems.append(f"cost {rule.name} takes the logarithm of the output of layer {index}, whose "
                                f"activation {name} does not keep it in (0, 1); expected an output activation of: "
                                f"{', '.join(rule.outputs)}")
            if shape is None:
                continue
            problem = _sequence_problem(index, spec, shape, sequence) or _shape_problem(index, spec, shape)
            if isinstance(spec, Residual) and not problem:
                problem = _skip_problem(index, spec, shape, outputs.get(spec.source))
            if isinstance(spec, BatchNorm) and not problem and None not in shape:
                problem = _batch_problem(index, shape, batch)
            if isinstance(spec, Recurrent) and batch != 1 and not problem:
                problem = (f"layer {index} (rnn) works on one example; got batch = {batch}; expected no batch (1) in "
                           f"a network with a recurrent layer")
            if problem:
                problems.append(problem)
            out = _output_shape(spec, shape, known=not problem)
            if not problem and None not in shape:
                infos.append(LayerInfo(index, spec, act, shape, out))
            shape = out
            sequence = isinstance(spec, Recurrent) and spec.output == "every"
        if sequence and rule is not None and rule.targets_sum_to_one:
            problems.append(f"cost {rule.name} needs targets that sum to 1 over one output vector; the network ends "
                            f"with a sequence (an rnn layer with output = \"every\"), whose cost is summed over the "
                            f"steps; expected the cost quadratic or binary_cross_entropy, or output = \"last\"")
        ends_flat = specs and specs[-1] is not None and isinstance(specs[-1], (BatchNorm, Residual)) \
            and shape is not None and len(shape) == 1
        if specs and specs[-1] is not None and specs[-1].type not in ("dense", "flatten", "rnn") \
                and not ends_flat:
            shown = f" of shape {shape_text(shape)}" if shape is not None and None not in shape else ""
            problems.append(f"layer {len(specs)} ({specs[-1].type}) gives a map{shown}; expected a vector for the "
                            f"cost: end with a dense or flatten layer")
        if not problems and infos:
            values = batch * sum(math.prod(s) for s in (infos[0].input_shape, *(i.state_shape for i in infos)))
            params = sum(i.parameter_count for i in infos)
            if values > VALUE_LIMIT or params > VALUE_LIMIT:
                problems.append(f"the network has {values} values and {params} parameters; a symbolic derivation "
                                f"through layers is limited to {VALUE_LIMIT} of each (every value is a named "
                                f"quantity); expected a smaller input, fewer channels or smaller layers")
        if problems:
            raise SpecError(problems)
        object.__setattr__(self, "input_shape", shape_of_input(input) if steps is None else (steps, *shape_of_input(input)))
        object.__setattr__(self, "layers", tuple(infos))
        object.__setattr__(self, "cost", rule)
        object.__setattr__(self, "steps", steps)
        object.__setattr__(self, "batch", batch)

    def __setattr__(self, name, value):
        raise AttributeError("a LayeredNetwork is immutable")

    def __repr__(self):
        shape = list(self.input_shape if self.steps is None else self.input_shape[1:])
        batch = f", batch={self.batch}" if self.batch != 1 else ""
        steps = "" if self.steps is None else f", steps={self.steps}"
        return (f"LayeredNetwork({shape}, [{', '.join(layer.type for layer in self.layers)}], "
                f"cost={self.cost.name!r}{batch}{steps})")

    @property
    def examples(self) -> list:
        """The prefix of every example's positions: ``[()]`` for one example, else ``[(1,), …, (n,)]``."""
        return [()] if self.batch == 1 else [(e,) for e in range(1, self.batch + 1)]

    @property
    def depth(self) -> int:
        return len(self.layers)

    def layer(self, index: int) -> LayerInfo:
        return self.layers[index - 1]

    @property
    def shapes(self) -> tuple:
        """The shape of every layer's output, the input's first."""
        return (self.input_shape, *(layer.output_shape for layer in self.layers))

    @property
    def parameter_count(self) -> int:
        return sum(layer.parameter_count for layer in self.layers)

    @property
    def name(self) -> str:
        """A short name for labels: the shapes joined, e.g. ``1x6x6-2x4x4-2x2x2-3``."""
        return "-".join("x".join(map(str, s)) for s in self.shapes)


def shape_of_input(value) -> tuple:
    return (value,) if isinstance(value, int) else tuple(value)


def _positive(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def _input_shape(value, problems):
    expected = "expected a size, [size], [channels, length] or [channels, height, width] of positive integers"
    if _positive(value):
        return (value,)
    if isinstance(value, (list, tuple)) and 1 <= len(value) <= 3 and all(_positive(v) for v in value):
        return tuple(value)
    problems.append(f"input {value!r} is not a shape; {expected}")
    return None


def _sequence_shape(steps, shape, problems):
    """The input's shape: as given, or T × size when ``steps`` (T) makes it a sequence."""
    if steps is None:
        return shape
    if not _positive(steps):
        problems.append(f"steps {steps!r}; expected a positive integer (the number of time steps of the input)")
        return None
    if shape is not None and len(shape) != 1:
        problems.append(f"input {list(shape)!r} with steps = {steps}; expected the size of the input at each step, "
                        f"a size or [size]")
        return None
    return None if shape is None else (steps, *shape)


def _sequence_problem(index, spec, shape, sequence: bool) -> str | None:
    """What is wrong with a layer's place among sequences: an rnn reads one, nothing else does."""
    where = f"layer {index} ({spec.type})"
    if isinstance(spec, Recurrent) and not sequence:
        return (f"{where} takes a sequence (steps × size); got shape {shape_text(shape)}; expected steps = T and "
                f"input = [size] in the description, and an rnn layer with output = \"every\" before it, if any")
    if sequence and not isinstance(spec, Recurrent):
        return (f"{where} takes no sequence; got a sequence of shape {shape_text(shape)} (steps × size); expected "
                f"an rnn layer here, or output = \"last\" on the rnn layer before it")
    return None


def _layer_spec(index, item, problems):
    """A layer description from a mapping (or one given ready), every problem of its fields collected."""
    if isinstance(item, (Dense, Conv, Pool, Flatten, BatchNorm, Residual, Recurrent)):
        fields = {k: getattr(item, k) for k in ("size", "channels", "kernel", "stride", "padding", "bias", "epsilon",
                                                "output")
                  if hasattr(item, k)}
        if isinstance(item, Residual):
            fields["from"] = item.source
        return item if not _field_problems(index, item.type, fields, problems) else None
    if not isinstance(item, Mapping):
        problems.append(f"layer {index} is {item!r}; expected a table with a type, e.g. {{type = \"dense\", size = 3}}")
        return None
    kind = item.get("type")
    if kind not in LAYER_TYPES:
        problems.append(f"layer {index}: " + (unknown_name("layer type", kind, LAYER_TYPES) if "type" in item
                                              else f"no type; expected one of: {', '.join(sorted(LAYER_TYPES))}"))
        return None
    required, optional, build = LAYER_TYPES[kind]
    fields = {k: v for k, v in item.items() if k != "type"}
    bad = len(problems)
    for key in sorted(set(fields) - set(required) - set(optional)):
        problems.append(f"layer {index} ({kind}): unknown key {key!r}; expected one of: "
                        f"{', '.join((*required, *optional)) or 'none (a flatten layer has no settings)'}")
    for key in required:
        if key not in fields:
            wanted = "the number of an earlier layer (0: the input)" if key == "from" else "a positive integer"
            problems.append(f"layer {index} ({kind}): missing {key!r}; expected {wanted}")
    _field_problems(index, kind, fields, problems)
    if len(problems) > bad:
        return None
    return build(fields)


def _field_problems(index, kind, fields, problems) -> bool:
    before = len(problems)
    for key in ("size", "channels", "kernel", "stride"):
        value = fields.get(key)
        if value is not None and not _positive(value):
            problems.append(f"layer {index} ({kind}): {key} {value!r}; expected a positive integer")
    padding = fields.get("padding")
    if padding is not None and (isinstance(padding, bool) or not isinstance(padding, int) or padding < 0):
        problems.append(f"layer {index} ({kind}): padding {padding!r}; expected an integer >= 0")
    bias = fields.get("bias")
    if bias is not None and not isinstance(bias, bool):
        problems.append(f"layer {index} ({kind}): bias {bias!r}; expected true or false")
    output = fields.get("output")
    if output is not None and output not in RNN_OUTPUTS:
        problems.append(f"layer {index} ({kind}): output {output!r}; expected one of: "
                        f"{', '.join(repr(o) for o in RNN_OUTPUTS)}")
    if "epsilon" in fields:
        epsilon = fields["epsilon"]
        exact = isinstance(epsilon, (int, float, sp.Rational)) and not isinstance(epsilon, bool)
        if not exact or not math.isfinite(float(epsilon)) or epsilon <= 0:
            problems.append(f"layer {index} ({kind}): epsilon {epsilon!r}; expected a positive number such as 1e-5")
    if "from" in fields:
        source = fields["from"]
        if isinstance(source, bool) or not isinstance(source, int) or not 0 <= source <= index - 2:
            span = "0 (the input)" + (f" to {index - 2}" if index > 2 else "")
            problems.append(f"layer {index} ({kind}): from {source!r}; expected the number of a layer at least two "
                            f"before it: {span}")
    return len(problems) > before


def _skip_problem(index, spec, shape, source) -> str | None:
    """A residual layer's input and the output it adds must have one shape."""
    if source is None or None in source or None in shape or source == shape:
        return None
    what = "the network's input (layer 0)" if spec.source == 0 else f"the output of layer {spec.source}"
    return (f"layer {index} (residual) adds {what}, of shape {shape_text(source)}, to its input of shape "
            f"{shape_text(shape)}; expected both of one shape")


def _batch_problem(index, shape, batch) -> str | None:
    """Batch normalisation needs at least two entries per channel to take a variance."""
    entries = batch * math.prod(shape[1:])
    if entries >= 2:
        return None
    return (f"layer {index} (batchnorm) normalises each channel of its input of shape {shape_text(shape)} over "
            f"a batch of {batch}: {entries} entry per channel; expected at least 2 (set batch = 2 or more)")


def _shape_problem(index, spec, shape) -> str | None:
    """What is wrong with feeding ``shape`` to layer ``index``, naming both shapes; None if it fits."""
    where = f"layer {index} ({spec.type})"
    if isinstance(spec, Conv):
        if len(shape) != spec.dims + 1:
            wanted = "channels×length" if spec.dims == 1 else "channels×height×width"
            return f"{where} takes an input of shape {wanted}; got shape {shape_text(shape)}"
        side = spec.kernel
        spatial = shape[1:]
        if any(n is not None and n + 2 * spec.padding < side for n in spatial):
            kernel = "×".join([str(side)] * spec.dims)
            return (f"{where}: kernel {shape[0]}×{kernel} with padding {spec.padding} does not fit the input of "
                    f"shape {shape_text(shape)}; expected every side of the input at least {side - 2 * spec.padding}")
        return None
    if isinstance(spec, Pool):
        if len(shape) < 2:
            return f"{where} takes a map (channels×length or channels×height×width); got a vector of shape {shape_text(shape)}"
        if any(n is not None and n < spec.size for n in shape[1:]):
            window = "×".join([str(spec.size)] * (len(shape) - 1))
            return (f"{where}: window {window} does not fit the input of shape {shape_text(shape)}; expected "
                    f"every side of the input at least {spec.size}")
        return None
    if isinstance(spec, Flatten) and len(shape) == 1:
        return f"{where} takes a map; got a vector of shape {shape_text(shape)}, which is flat already"
    return None


# ---------------------------------------------------------------------- loading

LAYERED_KEYS = ("input", "layer", "cost", "batch", "steps")


def is_layered(data) -> bool:
    """Whether a parsed description lists its layers (``input`` and ``[[layer]]``), not ``layers = [...]``."""
    return isinstance(data, Mapping) and ("layer" in data or "input" in data)


def layered_from_mapping(data: Mapping[str, Any], source: str = "spec") -> LayeredNetwork:
    """A layered network from a parsed description: ``{"input": [1, 6, 6], "layer": [...], "cost": ...}``."""
    problems = [f"{source}: unknown key {key!r}; expected one of: {', '.join(LAYERED_KEYS)}"
                for key in sorted(set(data) - set(LAYERED_KEYS))]
    if "layers" in data:
        problems[-1:] = [f"{source}: 'layers' (a list of sizes) cannot be combined with [[layer]] entries; "
                         f"expected one of the two descriptions"] if problems else []
    if "input" not in data:
        problems.append(f"{source}: missing key 'input'; expected a shape such as [1, 6, 6] or a size")
    if "layer" not in data:
        problems.append(f"{source}: missing [[layer]] entries; expected at least one, e.g. type = \"dense\"")
    if problems:
        raise SpecError(problems)
    try:
        return LayeredNetwork(data["input"], data["layer"], data.get("cost", "quadratic"), data.get("batch", 1),
                              data.get("steps"))
    except SpecError as error:
        raise SpecError([f"{source}: {problem}" for problem in error.problems]) from None


# ---------------------------------------------------------------------- the forward pass


@dataclass(frozen=True, eq=False)
class LayeredForward:
    """The named quantities of a layered network and the definition of each.

    ``inputs`` (x at every input position), ``outputs[l]`` (a^l by position, l ≥ 1),
    ``weighted[l]`` (z^l by position, for dense, convolutional and recurrent layers), ``parameters``
    (every parameter symbol, layer by layer), ``definitions`` (z^l or, for pooling and
    flatten, a^l by position: an expression in a^{l−1} and the layer's parameters).
    A recurrent layer's z, a (``states[l]``) and definitions are by (step, unit), in the order
    of the steps; its ``outputs[l]`` are the states it gives (the last step's, or all).
    """

    network: LayeredNetwork
    inputs: dict
    outputs: dict
    weighted: dict
    parameters: tuple
    definitions: dict
    targets: tuple
    #: named intermediates of batch normalisation (μ, σ, x̂), each defined in the quantities before it
    auxiliary: dict = field(default_factory=dict)
    #: the value of every constant (batch normalisation's ε) by symbol
    constants: dict = field(default_factory=dict)
    #: a recurrent layer's a^l at every (step, unit); its outputs are among them
    states: dict = field(default_factory=dict)

    def example_targets(self, prefix: tuple) -> list:
        """The targets of one example (its prefix as in :attr:`LayeredNetwork.examples`)."""
        return [y for y in self.targets if y.position[:len(prefix)] == prefix]

    def example_outputs(self, prefix: tuple) -> list:
        last = self.outputs[self.network.depth]
        return [a for pos, a in last.items() if pos[:len(prefix)] == prefix]

    def a(self, l: int) -> dict:
        """a^l by position; a^0 is the input x."""
        return self.inputs if l == 0 else self.outputs[l]

    def activated(self, l: int) -> dict:
        """a^l by the positions of z^l (every step of a recurrent layer)."""
        return self.states.get(l, self.outputs.get(l))

    def activation_of(self, l: int, pos) -> sp.Expr:
        """a^l at ``pos`` in terms of z^l (σ(z), or softmax of the layer over the same example)."""
        layer = self.network.layer(l)
        rule = layer.activation
        if isinstance(rule, VectorActivation):
            prefix = pos[:len(pos) - len(layer.output_shape)]
            mine = [p for p in self.weighted[l] if p[:len(prefix)] == prefix]
            return rule.forward(mine.index(pos), [self.weighted[l][p] for p in mine])
        return rule.apply(self.weighted[l][pos])

    @property
    def cost(self) -> sp.Expr:
        """The sum of the examples' costs (one example: its cost)."""
        return sp.Add(*[self.network.cost.total(self.example_outputs(e), self.example_targets(e))
                        for e in self.network.examples])

    def composed(self, expr: sp.Expr, values: dict | None = None) -> sp.Expr:
        """``expr`` with every z and a replaced by its definition, down to x, y and the parameters."""
        values = self.composition() if values is None else values
        return expr.xreplace(values)

    def composition(self, start: dict | None = None) -> dict:
        """Every z and a as an expression of the inputs and parameters (built layer by layer);
        ``start`` gives values to some of those (numbers), which are put in as the layers are built."""
        known: dict = dict(start or {})
        known.update({k: v for k, v in self.constants.items() if k not in known})
        for layer in self.network.layers:
            l = layer.index
            for pos, definition in self.definitions[l].items():
                value = definition.xreplace(known)
                if layer.has_z:
                    known[self.weighted[l][pos]] = value
                    if layer.recurrent:  # the next step's definition reads this state
                        known[self.states[l][pos]] = self.activation_of(l, pos).xreplace(known)
                else:
                    known[self.outputs[l][pos]] = value
            if layer.has_z and not layer.recurrent:
                for pos in self.weighted[l]:
                    known[self.outputs[l][pos]] = self.activation_of(l, pos).xreplace(known)
        return known


def batch_positions(network: LayeredNetwork, shape: tuple) -> list:
    """Every position of ``shape`` in every example of the batch, the example's number first (if n > 1)."""
    return [e + pos for e in network.examples for pos in positions(shape)]


def of_example(values: dict, prefix: tuple) -> dict:
    """The entries of one example, keyed by their position without the example's number."""
    k = len(prefix)
    return {pos[k:]: v for pos, v in values.items() if pos[:k] == prefix}


def layered_forward(network: LayeredNetwork) -> LayeredForward:
    """The symbols of every layer and the definition of its z (or, without activation, its a).

    Each example of a batch gets its own x, z, a and y; the parameters are shared. A layer
    type in :data:`_DEFINE` is defined one example at a time; one in :data:`_DEFINE_BATCH`
    (batch normalisation) over the whole batch at once. A recurrent layer (one example only)
    names its state at every step, and its outputs are the last state or every state.
    """
    inputs = {pos: Site("x", None, *pos) for pos in batch_positions(network, network.input_shape)}
    outputs, weighted, definitions, parameters, auxiliary, constants, states = {}, {}, {}, [], {}, {}, {}
    previous = inputs
    for layer in network.layers:
        l, spec = layer.index, layer.spec
        if layer.recurrent:
            states[l] = {pos: Site("a", l, *pos) for pos in positions(layer.state_shape)}
            last = layer.state_shape[0]
            outputs[l] = dict(states[l]) if spec.output == "every" else \
                {(j,): states[l][(last, j)] for j in range(1, spec.size + 1)}
        else:
            outputs[l] = {pos: Site("a", l, *pos) for pos in batch_positions(network, layer.output_shape)}
        if layer.has_z:
            weighted[l] = {pos: Site("z", l, *pos) for pos in batch_positions(network, layer.state_shape)}
        if type(spec) in _DEFINE_BATCH:
            definitions[l], params, named, fixed = _DEFINE_BATCH[type(spec)](layer, previous, network.examples)
            auxiliary.update(named)
            constants.update(fixed)
        else:
            definitions[l], params = {}, []
            for e in network.examples:
                extra = ()
                if isinstance(spec, Residual):
                    extra = (of_example(inputs if spec.source == 0 else outputs[spec.source], e),)
                defs, params = _DEFINE[type(spec)](layer, of_example(previous, e), *extra)
                definitions[l].update({e + pos: d for pos, d in defs.items()})
        parameters.extend(params)
        previous = outputs[l]
    last = positions(network.layers[-1].output_shape)
    targets = tuple(Site("y", None, *e, *pos) for e in network.examples for pos in last)
    return LayeredForward(network, inputs, outputs, weighted, tuple(parameters), definitions, targets,
                          auxiliary, constants, states)


def _define_dense(layer, previous):
    flat = list(previous.values())
    l = layer.index
    defs, params = {}, []
    for (j,) in positions(layer.output_shape):
        weights = [Site("w", l, j, k) for k in range(1, len(flat) + 1)]
        params.extend(weights)
        terms = [w * a for w, a in zip(weights, flat)]
        if layer.bias:
            bias = Site("b", l, j)
            terms.append(bias)
        defs[(j,)] = sp.Add(*terms)
    if layer.bias:
        params.extend(Site("b", l, j) for (j,) in positions(layer.output_shape))
    return defs, params


def padded_value(previous: dict, channel: int, coords, padding: int):
    """ã^{l−1}_{c, coords}: the input at the padded coordinates, or 0 in the padding."""
    pos = (channel, *(x - padding for x in coords))
    return previous.get(pos, sp.S.Zero)


def _define_conv(layer, previous):
    spec, l = layer.spec, layer.index
    channels_in = layer.input_shape[0]
    offsets = list(grid(*([range(1, spec.kernel + 1)] * spec.dims)))
    kernel = {(o, c, *off): Site("K", l, o, c, *off)
              for o in range(1, spec.channels + 1) for c in range(1, channels_in + 1) for off in offsets}
    defs = {}
    for pos in positions(layer.output_shape):
        o, where = pos[0], pos[1:]
        terms = []
        for c in range(1, channels_in + 1):
            for off in offsets:
                coords = [spec.stride * (i - 1) + p for i, p in zip(where, off)]
                value = padded_value(previous, c, coords, spec.padding)
                if value != 0:
                    terms.append(kernel[(o, c, *off)] * value)
        if spec.bias:
            terms.append(Site("b", l, o))
        defs[pos] = sp.Add(*terms)
    params = list(kernel.values()) + ([Site("b", l, o) for o in range(1, spec.channels + 1)] if spec.bias else [])
    return defs, params


def pool_window(layer, pos):
    """The input positions of the window of output ``pos``, in reading order."""
    spec = layer.spec
    c, where = pos[0], pos[1:]
    offsets = grid(*([range(spec.size)] * len(where)))
    return [(c, *(spec.step * (i - 1) + 1 + p for i, p in zip(where, off))) for off in offsets]


def _define_pool(layer, previous):
    defs = {}
    for pos in positions(layer.output_shape):
        window = [previous[p] for p in pool_window(layer, pos)]
        if layer.spec.kind == "max":
            defs[pos] = _maximum(tuple(window))
        else:
            defs[pos] = sp.Add(*window) / len(window)
    return defs, []


@functools.lru_cache(maxsize=4096)
def _maximum(window: tuple) -> sp.Expr:
    """``Max`` of a pooling window, kept per process: SymPy compares every pair of entries to build it, and every
    derivation of a network builds the same windows."""
    return sp.Max(*window)


def _define_flatten(layer, previous):
    return {(k,): a for k, a in enumerate(previous.values(), start=1)}, []


def _define_rnn(layer, previous):
    """z^l_{t,j} = Σ_i W^l_{j,i} a^l_{t−1,i} + Σ_k U^l_{j,k} a^{l−1}_{t,k} + b^l_j; no W term at t = 1 (a^l_0 = 0)."""
    spec, l = layer.spec, layer.index
    steps, width = layer.input_shape
    units = range(1, spec.size + 1)
    recurrent = {(j, i): Site("W", l, j, i) for j in units for i in units}
    reading = {(j, k): Site("U", l, j, k) for j in units for k in range(1, width + 1)}
    defs = {}
    for t in range(1, steps + 1):
        for j in units:
            terms = [recurrent[(j, i)] * Site("a", l, t - 1, i) for i in units] if t > 1 else []
            terms += [reading[(j, k)] * previous[(t, k)] for k in range(1, width + 1)]
            if spec.bias:
                terms.append(Site("b", l, j))
            defs[(t, j)] = sp.Add(*terms)
    params = list(recurrent.values()) + list(reading.values()) + ([Site("b", l, j) for j in units] if spec.bias else [])
    return defs, params



def channel_groups(network: LayeredNetwork, shape: tuple) -> dict:
    """Batch normalisation's groups: channel c → every position (in every example) of channel c.

    A vector's entry j is its own channel; a map's channel c holds every row and column."""
    k = len(network.examples[0])
    groups: dict = {}
    for pos in batch_positions(network, shape):
        groups.setdefault(pos[k], []).append(pos)
    return groups


def batchnorm_symbols(l: int):
    """γ^l_c, β^l_c, μ^l_c, σ^l_c and x̂^l at a position, and ε^l, as functions of the channel or position."""
    return (lambda c: Site("gamma", l, c), lambda c: Site("beta", l, c), lambda c: Site("mu", l, c),
            lambda c: Site("sigma", l, c), lambda pos: Site("xhat", l, *pos), Site("eps", l))


def _define_batchnorm(layer, previous, examples):
    """a^l_i = γ_c x̂_i + β_c written out in a^{l−1} (for the chain rule), and μ, σ, x̂ as named
    intermediates, each in the quantities before it (for the textbook rule)."""
    l = layer.index
    gamma, beta, mu, sigma, xhat, eps = batchnorm_symbols(l)
    k = len(examples[0])
    groups: dict = {}
    for pos in previous:
        groups.setdefault(pos[k], []).append(pos)
    defs, named = {}, {}
    for c, members in groups.items():
        n = len(members)
        mean = sp.Add(*[previous[p] for p in members]) / n
        spread = sp.sqrt(sp.Add(*[(previous[p] - mean) ** 2 for p in members]) / n + eps)
        named[mu(c)] = sp.Add(*[previous[p] for p in members]) / n
        named[sigma(c)] = sp.sqrt(sp.Add(*[(previous[p] - mu(c)) ** 2 for p in members]) / n + eps)
        for p in members:
            named[xhat(p)] = (previous[p] - mu(c)) / sigma(c)
            defs[p] = gamma(c) * (previous[p] - mean) / spread + beta(c)
    channels = sorted(groups)
    params = [gamma(c) for c in channels] + [beta(c) for c in channels]
    return {p: defs[p] for p in previous}, params, named, {eps: layer.spec.epsilon}


def _define_residual(layer, previous, source):
    """a^l = a^{l−1} + a^m entry by entry."""
    return {pos: a + source[pos] for pos, a in previous.items()}, []


#: the forward pass of every layer type that works on one example at a time
_DEFINE = {Dense: _define_dense, Conv: _define_conv, Pool: _define_pool, Flatten: _define_flatten,
           Residual: _define_residual, Recurrent: _define_rnn}
#: of every layer type that couples the examples of a batch
_DEFINE_BATCH = {BatchNorm: _define_batchnorm}
