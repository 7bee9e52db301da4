"""Describing a network: layer sizes, an activation and a bias switch per layer, a cost.

Validation happens here, once, at the boundary: every problem is collected and
raised together in one :class:`~symbackprop.errors.SpecError`, each problem
quoting the offending value and what was expected.

>>> net = Network([2, 3, 2], activation="sigmoid", cost="quadratic")
>>> net.sizes, net.depth, net.parameter_count
((2, 3, 2), 2, 17)
>>> Network([2, 0], activation="swish")
Traceback (most recent call last):
...
symbackprop.errors.SpecError: 2 problems:
  - layer 1 has size 0; expected a positive integer
  - unknown activation 'swish'; expected one of: generic, identity, leaky_relu, relu, sigmoid, softmax, softplus, tanh
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from typing import Any, Mapping

import sympy as sp

from .activations import Activation, VectorActivation, activation as lookup_activation, exact_number
from .costs import Cost, cost as lookup_cost
from .layers import is_layered, layered_from_mapping
from ..errors import SpecError
from .symbols import LAMBDA

try:  # Python 3.11+
    import tomllib
except ModuleNotFoundError:  # pragma: no cover - Python 3.10
    import tomli as tomllib


@dataclass(frozen=True)
class Layer:
    """Layer ``index`` (1-based; layer 0 is the input) with its neurons' activation and bias."""

    index: int
    size: int
    activation: Activation | VectorActivation
    bias: bool


class Network:
    """A feed-forward network to derive.

    ``sizes`` lists the layer sizes, input first. ``activation`` is a registered
    name, a SymPy ``Lambda`` of one variable, or a list with one of those per
    layer after the input. ``bias`` is a bool or a list of bools, one per layer.
    ``l2`` adds the regularisation (λ/2n) Σ w²: ``True`` for a symbolic λ, or a
    non-negative number. ``mean`` states that the cost is the mean of the
    per-example costs over n training examples. ``first_layer`` is only the
    number that messages give the input layer: 0, as the canonical keys count
    (the default), or the input layer's number in the notation the user reads
    (1 in Nielsen's).
    """

    __slots__ = ("sizes", "layers", "cost", "l2", "mean")

    sizes: tuple[int, ...]
    layers: tuple[Layer, ...]
    cost: Cost
    l2: sp.Expr | None
    mean: bool

    def __init__(self, sizes, activation="sigmoid", cost="quadratic", bias=True, l2=None, mean=False, *,
                 first_layer: int = 0):
        problems: list[str] = []
        sizes = _check_sizes(sizes, problems, first_layer)
        depth = max(len(sizes) - 1, 0)
        activations = _per_layer("activation", activation, depth, problems, _resolve_activation)
        biases = _per_layer("bias", bias, depth, problems, _resolve_bias)
        rule = _collect(problems, lookup_cost, cost)
        strength = _resolve_l2(l2, problems)
        if not isinstance(mean, bool):
            problems.append(f"mean {mean!r} is not a bool; expected true or false")
        if activations and depth:
            for index, act in enumerate(activations[:-1], start=1):
                if isinstance(act, VectorActivation):
                    problems.append(
                        f"{act.name} on layer {index + first_layer} mixes the neurons of a hidden layer; "
                        f"expected it on the output layer ({depth + first_layer}) only"
                    )
            problems.extend(_output_problems(rule, activations[-1]))
        if problems:
            raise SpecError(problems)
        layers = tuple(
            Layer(index, size, act, has_bias)
            for index, (size, act, has_bias) in enumerate(zip(sizes[1:], activations, biases), start=1)
        )
        for name, value in (("sizes", tuple(sizes)), ("layers", layers), ("cost", rule), ("l2", strength), ("mean", mean)):
            object.__setattr__(self, name, value)

    def __setattr__(self, name, value):
        raise AttributeError("a Network is immutable")

    def __eq__(self, other):
        return isinstance(other, Network) and self._key() == other._key()

    def __hash__(self):
        return hash(self._key())

    def _key(self):
        return (self.sizes, self.layers, self.cost, self.l2, self.mean)

    def __repr__(self):
        acts = [layer.activation.label for layer in self.layers]
        act = acts[0] if len(set(acts)) == 1 else acts
        biases = [layer.bias for layer in self.layers]
        bias = biases[0] if len(set(biases)) == 1 else biases
        extra = "".join(
            [f", l2={self.l2}" if self.l2 is not None else "", ", mean=True" if self.mean else ""]
        )
        return f"Network({list(self.sizes)}, activation={act!r}, cost={self.cost.name!r}, bias={bias!r}{extra})"

    @property
    def depth(self) -> int:
        """L, the number of layers after the input."""
        return len(self.layers)

    @property
    def output(self) -> Layer:
        return self.layers[-1]

    def layer(self, index: int) -> Layer:
        """Layer ``index``, 1-based."""
        return self.layers[index - 1]

    @property
    def parameter_count(self) -> int:
        return sum(
            layer.size * (self.sizes[layer.index - 1] + (1 if layer.bias else 0)) for layer in self.layers
        )


# ---------------------------------------------------------------- validation helpers


def _collect(problems: list[str], resolve, value):
    try:
        return resolve(value)
    except SpecError as error:
        problems.extend(error.problems)
        return None


def _check_sizes(sizes, problems: list[str], first_layer: int = 0) -> list[int]:
    if isinstance(sizes, (str, bytes)) or not hasattr(sizes, "__iter__"):
        problems.append(f"layer sizes {sizes!r} are not a list; expected a list of positive integers, input first")
        return []
    sizes = list(sizes)
    if len(sizes) < 2:
        problems.append(
            f"layer sizes {sizes!r} describe no layer of neurons; expected at least two sizes, "
            "the input layer first"
        )
    good = []
    for index, size in enumerate(sizes, start=first_layer):
        if isinstance(size, bool) or not isinstance(size, int):
            problems.append(f"layer {index} has size {size!r}; expected a positive integer")
        elif size <= 0:
            problems.append(f"layer {index} has size {size}; expected a positive integer")
        else:
            good.append(size)
    return sizes if len(good) == len(sizes) else good


def _per_layer(what: str, value, depth: int, problems: list[str], resolve) -> list:
    if isinstance(value, (list, tuple)):
        if len(value) != depth:
            problems.append(
                f"{what} list {list(value)!r} has {len(value)} entries; expected {depth}, "
                "one per layer after the input"
            )
            return []
        resolved = [_collect(problems, resolve, item) for item in value]
        return resolved if None not in resolved else []
    item = _collect(problems, resolve, value)
    return [item] * depth if item is not None else []


def _output_problems(rule: Cost | None, output) -> list[str]:
    """The cost's complaint about the output activation, if its values do not suit the cost.

    The cross-entropies take logarithms of a^L and need it in (0, 1): sigmoid and
    softmax qualify, and so does the generic σ, an undefined function assumed to
    be suitable. A custom activation cannot be judged and is allowed.
    """
    if rule is None or not rule.outputs or output.name in rule.outputs or getattr(output, "custom", False):
        return []
    return [
        f"cost {rule.name} takes the logarithm of the output activation, which {output.label} does not "
        f"keep in (0, 1); expected an output activation of: {', '.join(rule.outputs)} (or a custom one)"
    ]


def _resolve_activation(value):
    return lookup_activation(value)


def _resolve_bias(value):
    if not isinstance(value, bool):
        raise SpecError(f"bias {value!r} is not a bool; expected true or false")
    return value


def _resolve_l2(value, problems: list[str]):
    if value is None or value is False:
        return None
    if value is True:
        return LAMBDA
    if isinstance(value, sp.Symbol):
        return value
    number = _collect(problems, lambda v: exact_number(v, "l2 strength"), value)
    if number is None:
        return None
    if number < 0:
        problems.append(f"l2 strength {value!r} is negative; expected a number >= 0 or true for a symbolic λ")
        return None
    return number


# ---------------------------------------------------------------- loading

SPEC_KEYS = ("layers", "activation", "cost", "bias", "l2", "mean")


def network_from_mapping(data: Mapping[str, Any], source: str = "spec", first_layer: int = 0) -> Network:
    """A network from a parsed spec: ``{"layers": [2, 3, 2], "activation": ..., ...}``.

    Messages number the input layer ``first_layer`` (see :class:`Network`). A description with
    ``input`` and ``[[layer]]`` entries gives a :class:`~symbackprop.model.layers.LayeredNetwork` instead.
    """
    if is_layered(data):
        return layered_from_mapping(data, source)
    if not isinstance(data, Mapping):
        raise SpecError(f"{source}: the spec is a {type(data).__name__}; expected a table of {', '.join(SPEC_KEYS)}")
    unknown = sorted(set(data) - set(SPEC_KEYS))
    problems = [f"{source}: unknown key {key!r}; expected one of: {', '.join(SPEC_KEYS)}" for key in unknown]
    if "layers" not in data:
        problems.append(f"{source}: missing key 'layers'; expected a list of layer sizes such as [2, 3, 2]")
    if problems:
        raise SpecError(problems)
    kwargs = {key: data[key] for key in SPEC_KEYS[1:] if key in data}
    try:
        return Network(data["layers"], **kwargs, first_layer=first_layer)
    except SpecError as error:
        raise SpecError([f"{source}: {problem}" for problem in error.problems]) from None


#: the deepest nesting a spec or values file may have; each needs three levels at most
MAX_NESTING = 16
#: the most digits of a whole number read from a file (a number beyond it is no weight or size)
MAX_INTEGER_DIGITS = 300


def _whole_number(text: str) -> int:
    """A JSON integer, refused (before Python converts it) when it has more than MAX_INTEGER_DIGITS digits."""
    digits = len(text.lstrip("-"))
    if digits > MAX_INTEGER_DIGITS:
        raise _TooLong(digits)
    return int(text)


class _TooLong(ValueError):
    """A whole number longer than MAX_INTEGER_DIGITS, found while reading JSON."""


def _nesting(data) -> int:
    """How deeply lists and tables nest in ``data`` (a number is 0), counted without recursion,
    stopping once the count passes MAX_NESTING."""
    deepest, stack = 0, [(data, 0)]
    while stack and deepest <= MAX_NESTING:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, Mapping) else item if isinstance(item, list) else None
        if children is not None:
            deepest = max(deepest, depth + 1)
            stack.extend((child, depth + 1) for child in children)
    return deepest


def _checked_nesting(data, source: str):
    if _nesting(data) > MAX_NESTING:
        raise SpecError(f"{source}: lists or tables nested more than {MAX_NESTING} levels deep; expected a table "
                        "of numbers, names and lists")
    return data


def load_json(text: str, source: str):
    """The value of a JSON text from a file, with a message (never a traceback) for what cannot be read:
    a syntax error (with its line and column), a whole number of more than MAX_INTEGER_DIGITS digits,
    nesting deeper than MAX_NESTING levels."""
    try:
        data = json.loads(text, parse_int=_whole_number)
    except json.JSONDecodeError as error:
        raise SpecError(f"{source}: invalid JSON at line {error.lineno}, column {error.colno}: {error.msg}") from None
    except _TooLong as error:
        raise SpecError(f"{source}: a whole number with {error.args[0]} digits; expected at most "
                        f"{MAX_INTEGER_DIGITS} digits") from None
    except RecursionError:
        raise SpecError(f"{source}: lists or tables nested too deeply to read; expected at most {MAX_NESTING} "
                        "levels") from None
    return _checked_nesting(data, source)


def load_toml(text: str, source: str):
    """The table of a TOML text from a file, read as :func:`load_json` reads JSON."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise SpecError(f"{source}: invalid TOML: {error}") from None
    except RecursionError:
        raise SpecError(f"{source}: lists or tables nested too deeply to read; expected at most {MAX_NESTING} "
                        "levels") from None
    except ValueError:  # a whole number beyond Python's limit on the digits it converts from text
        raise SpecError(f"{source}: a whole number with more than {sys.get_int_max_str_digits()} digits; "
                        f"expected at most {MAX_INTEGER_DIGITS} digits") from None
    return _checked_nesting(data, source)


def parse_spec(text: str, fmt: str, source: str = "spec", first_layer: int = 0):
    """A network from the text of a TOML or JSON spec file (``fmt`` is ``"toml"`` or ``"json"``): a
    :class:`Network`, or a :class:`~symbackprop.model.layers.LayeredNetwork` for ``[[layer]]`` entries."""
    if fmt == "toml":
        data = load_toml(text, source)
    elif fmt == "json":
        data = load_json(text, source)
    else:
        raise SpecError(f"{source}: unknown spec format {fmt!r}; expected toml or json")
    return network_from_mapping(data, source, first_layer)


def parse_sizes(text: str) -> list:
    """Layer sizes from flag text such as ``"2,3,2"``.

    Items that are not whole numbers are kept as text, so that validating the
    network reports them together with every other problem.
    """
    items = [item.strip() for item in text.split(",")]
    return [int(item) if item.isdigit() and item.isascii() else item for item in items]


def parse_names(text: str) -> str | list[str]:
    """One name, or a comma-separated list of names with one per layer, from flag text."""
    names = [item.strip() for item in text.split(",")]
    return names[0] if len(names) == 1 else names
