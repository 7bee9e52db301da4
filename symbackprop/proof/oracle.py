"""Numbers: the network at a point, and the independent finite-difference oracle.

Two separate computations live here and must stay separate:

* :func:`evaluate` puts numbers into the *derivation*: it evaluates the named
  intermediates z, a, δ and every gradient's closed form at a point.
* :class:`CostOracle` knows nothing of the derivation. It runs the network
  forward in mpmath at high precision (from the activation and cost
  *definitions* only) and differentiates the cost by central differences
  (``mpmath.diff``). Agreement between the two is numeric evidence, never a proof.

A generic activation σ has no numbers; the numeric check realises it as the
stand-in :data:`GENERIC_STAND_IN` (and σ' as that function's derivative).
"""

from __future__ import annotations

import random
import re
from functools import partial
from dataclasses import dataclass
from typing import Mapping, Sequence

import mpmath
import sympy as sp

from ..model.activations import A, Z, Activation, VectorActivation, opaque_functions
from ..model.costs import Y
from ..errors import SpecError
from ..model.symbols import LAMBDA, N_EXAMPLES

#: σ(z) for a generic activation when numbers are needed: smooth, not odd, not monotone-saturating
GENERIC_STAND_IN = sp.atan(Z) + Z**2 / 4
#: σ(z) for a generic output under a cost that takes log a^L (the cross-entropies): values in (0, 1),
#: not symmetric about 1/2, and σ' is not σ(1 − σ)
PROBABILITY_STAND_IN = sp.Rational(1, 2) + sp.atan(Z + Z**2 / 4) / sp.pi

#: a parameter key as a values file spells it: "w,1,2,1" or "w[1,2,1]"
_KEY = re.compile(r"^\s*([wb])\s*(?:\[([^\]]*)\]|,(.*))\s*$")

#: working precision of the oracle, in decimal digits
DIGITS = 40


def realise(expr: sp.Expr, stand_in: sp.Expr = GENERIC_STAND_IN) -> sp.Expr:
    """``expr`` with the generic σ and σ' replaced by ``stand_in`` (a function of ``Z``) and its derivative."""
    sigma, sigma_prime = opaque_functions("sigma")
    if not expr.has(sigma, sigma_prime):
        return expr
    return expr.replace(sigma, sp.Lambda(Z, stand_in)).replace(
        sigma_prime, sp.Lambda(Z, sp.diff(stand_in, Z))
    )


def stand_in_for(network) -> sp.Expr:
    """The stand-in for the generic σ of ``network``: one with values in (0, 1) when a generic
    output feeds a cost that takes its logarithm, :data:`GENERIC_STAND_IN` otherwise."""
    output = network.output.activation
    return PROBABILITY_STAND_IN if network.cost.outputs and output.name == "generic" else GENERIC_STAND_IN


def is_generic(network) -> bool:
    return any(isinstance(layer.activation, Activation) and layer.activation.name == "generic" for layer in network.layers)


# ------------------------------------------------------------------ the oracle


class CostOracle:
    """C(θ) computed forward in mpmath; ∂C/∂θ by high-precision central differences."""

    def __init__(self, network, digits: int = DIGITS):
        self.network = network
        self.digits = digits
        self._forward = []
        for layer in network.layers:
            rule = layer.activation
            if isinstance(rule, VectorActivation):
                self._forward.append(None)
            else:
                self._forward.append(sp.lambdify(Z, realise(rule.forward, stand_in_for(network)), modules="mpmath"))
        self._term = sp.lambdify((A, Y), network.cost.term, modules="mpmath")

    def cost(self, params: Mapping, x: Sequence, y: Sequence, l2: Mapping | None = None):
        """C at a point: ``params`` maps canonical keys to numbers."""
        with mpmath.workdps(self.digits):
            return self._cost(params, x, y, l2 or {})

    def _layer(self, layer, params, previous):
        l = layer.index
        zs = []
        for j in range(1, layer.size + 1):
            z = mpmath.fsum(params[("w", l, j, k)] * a for k, a in enumerate(previous, start=1))
            if layer.bias:
                z += params[("b", l, j)]
            zs.append(z)
        rule = layer.activation
        if isinstance(rule, VectorActivation):  # softmax, from its definition
            exps = [mpmath.exp(z) for z in zs]
            total = mpmath.fsum(exps)
            return [e / total for e in exps]
        f = self._forward[l - 1]
        return [mpmath.mpf(f(z)) for z in zs]

    def _cost(self, params, x, y, l2):
        a = [_mpf(v) for v in x]
        for layer in self.network.layers:
            a = self._layer(layer, params, a)
        total = mpmath.fsum(self._term(ai, _mpf(yi)) for ai, yi in zip(a, y))
        if self.network.l2 is not None:
            strength = l2["lambda"] if self.network.l2 == LAMBDA else self.network.l2
            weights = mpmath.fsum(v**2 for key, v in params.items() if key[0] == "w")
            total += _mpf(strength) * weights / (2 * _mpf(l2["n"]))
        return total

    def gradient(self, key: tuple, params: Mapping, x, y, l2: Mapping | None = None):
        """∂C/∂θ by central differences at ``self.digits`` digits (``mpmath.diff``)."""
        l2 = l2 or {}
        with mpmath.workdps(self.digits):
            point = {k: _mpf(v) for k, v in params.items()}

            def f(t):
                point[key] = t
                return self._cost(point, x, y, l2)

            return mpmath.diff(f, _mpf(params[key]))


# ------------------------------------------------------------------ points


@dataclass(frozen=True)
class Point:
    """A numeric point: parameters, one example (x, y) and, for symbolic L2, λ and n."""

    params: dict
    x: tuple
    y: tuple
    l2: dict

    def substitution(self, derivation) -> dict:
        """SymPy symbol → exact number, for every parameter, input, target (and λ, n)."""
        fw = derivation.forward
        values = {fw.q(*key): sp.Rational(v) for key, v in self.params.items()}
        values.update({s: sp.Rational(v) for s, v in zip(fw.inputs, self.x)})
        values.update({s: sp.Rational(v) for s, v in zip(fw.targets, self.y)})
        if "lambda" in self.l2:
            values[LAMBDA] = sp.Rational(self.l2["lambda"])
        if "n" in self.l2:
            values[N_EXAMPLES] = sp.Rational(self.l2["n"])
        return values


def random_decimal(rng: random.Random, lo, hi) -> sp.Rational:
    """A random exact decimal in [lo, hi], to three places."""
    return sp.Rational(rng.randint(int(lo * 1000), int(hi * 1000)), 1000)


def random_targets(cost, m: int, rng: random.Random) -> tuple:
    """``m`` random targets that fit the cost: a distribution, values in (0, 1), or any in [−1, 1]."""
    if cost.targets_sum_to_one:
        raw = [sp.Rational(rng.randint(1, 1000), 1000) for _ in range(m)]
        return tuple(v / sum(raw) for v in raw)
    if cost.name == "binary_cross_entropy":
        return tuple(random_decimal(rng, 0.05, 0.95) for _ in range(m))
    return tuple(random_decimal(rng, -1, 1) for _ in range(m))


def random_point(derivation, rng: random.Random) -> Point:
    """A random point with exact decimal coordinates; targets fit the cost's domain."""
    uniform = partial(random_decimal, rng)
    network = derivation.network
    params = {key: uniform(-1, 1) for key in derivation.params}
    x = tuple(uniform(-1, 1) for _ in derivation.inputs)
    y = random_targets(network.cost, len(derivation.targets), rng)
    l2 = {}
    if network.l2 == LAMBDA:
        l2 = {"lambda": uniform(0.01, 1), "n": sp.Integer(rng.randint(1, 100))}
    elif network.l2 is not None:
        l2 = {"n": sp.Integer(rng.randint(1, 100))}
    return Point(params, x, y, l2)


# ------------------------------------------------------------------ evaluate


@dataclass(frozen=True)
class Evaluation:
    """The network and its gradients at one point, as floats.

    ``z[l][j-1]``, ``a[l][j-1]`` and ``delta[l][j-1]`` for l = 1..L (index 0 of
    ``a`` is the input), ``cost``, and ``gradients`` keyed like ``Derivation.params``.
    """

    z: tuple
    a: tuple
    delta: tuple
    cost: float
    gradients: dict


def named_values(derivation, substitution: dict, digits: int = DIGITS) -> dict:
    """Every named intermediate (z, a, δ) at a point, from its definition in the derivation."""
    fw = derivation.forward
    network = derivation.network
    values = dict(substitution)
    stand_in = stand_in_for(network)

    def number(expr):
        value = realise(expr, stand_in).xreplace(values)
        return sp.Float(value.evalf(digits), digits)

    for layer in network.layers:
        l = layer.index
        for j in range(1, layer.size + 1):
            values[fw.q("z", l, j)] = number(fw.z_definition(l, j))
        for j in range(1, layer.size + 1):
            values[fw.q("a", l, j)] = number(fw.a_definition(l, j))
    for l in range(network.depth, 0, -1):
        for j in range(1, network.sizes[l] + 1):
            values[fw.q("delta", l, j)] = number(derivation.delta(l, j))
    return values


def key_name(key) -> str:
    """The JSON spelling of a canonical key: ``("w", 1, 2, 1)`` → ``"w,1,2,1"`` (a string stays as it is)."""
    return key if isinstance(key, str) else ",".join(str(part) for part in key)


def parse_key(text: str) -> tuple | None:
    """A canonical key from ``"w,1,2,1"`` or ``"w[1,2,1]"`` (``None`` if it is neither).

    >>> parse_key("w[1, 2, 1]"), parse_key("b,2,1"), parse_key("v,1")
    (('w', 1, 2, 1), ('b', 2, 1), None)
    """
    match = _KEY.match(text)
    if not match:
        return None
    kind, bracketed, listed = match.groups()
    parts = [p.strip() for p in (bracketed if bracketed is not None else listed).split(",")]
    if not all(p.isascii() and p.isdigit() for p in parts) or len(parts) != (3 if kind == "w" else 2):
        return None
    return (kind, *map(int, parts))


def key_list(keys: Sequence, head: int = 6, tail: int = 2) -> str:
    """Keys as the user writes them, abbreviated when there are many.

    >>> key_list([("w", 2, 1, 1), ("b", 2, 1)])
    'w,2,1,1 b,2,1'
    >>> key_list([("b", 1, j) for j in range(1, 31)])
    'b,1,1 b,1,2 b,1,3 b,1,4 b,1,5 b,1,6 … b,1,29 b,1,30 (30 keys)'
    """
    names = [key_name(key) for key in keys]
    if len(names) <= head + tail + 1:
        return " ".join(names)
    shown = [*names[:head], "…", *names[len(names) - tail:]]
    return f"{' '.join(shown)} ({len(names)} keys)"


def _number_map(values: Mapping, what: str, expected: Sequence, keyed: bool):
    problems = []
    if keyed:
        missing = [k for k in expected if k not in values]
        unknown = [k for k in values if k not in set(expected)]
        if missing:
            problems.append(f"{what}: no value for {len(missing)} parameter(s): {key_list(missing, 5, 0)}")
        if unknown:
            problems.append(f"{what}: unknown key(s) {', '.join(map(key_name, unknown[:5]))}; expected the "
                            f"parameters of this network: {key_list(expected)}")
    elif len(values) != len(expected):
        problems.append(f"{what} has {len(values)} values; expected {len(expected)}")
    for key, value in (values.items() if keyed else enumerate(values)):
        if isinstance(value, bool) or not isinstance(value, (int, float, sp.Number, mpmath.mpf)):
            problems.append(f"{what}[{key!r}] is {value!r}; expected a number")
    return problems


def assumes_targets_sum_to_one(derivation) -> bool:
    """Whether the derivation's output δ used Σ_j y_j = 1 (softmax with cross-entropy gives a − y only then)."""
    return any(step.rule == "targets_sum_to_one" for step in derivation.deltas[(derivation.network.depth, 1)].steps)


def targets_problem(derivation, total, tolerance=0) -> str | None:
    """The message for targets adding up to ``total`` when the derivation assumed they add up to 1."""
    if not assumes_targets_sum_to_one(derivation) or abs(total - 1) <= tolerance:
        return None
    return (f"y adds up to {sp.nsimplify(total) if tolerance else total}; the output δ of "
            f"{derivation.network.output.activation.label} with {derivation.network.cost.name} was simplified to "
            f"a − y using Σ_j y_j = 1 (the targets are a probability distribution); expected targets that add "
            f"up to 1, such as a one-hot label")


def evaluate(derivation, values: Mapping, x: Sequence, y: Sequence) -> Evaluation:
    """z, a, δ per layer, the cost and every gradient at a point, from the derivation's forms."""
    network = derivation.network
    if is_generic(network):
        raise SpecError("a generic activation σ has no numeric values; choose a concrete activation to evaluate")
    values = {(k if k in ("lambda", "n") else parse_key(k) or k) if isinstance(k, str) else tuple(k): v
              for k, v in dict(values).items()}
    l2 = {k: values.pop(k) for k in ("lambda", "n") if k in values}
    problems = _number_map(values, "values", derivation.params, keyed=True)
    problems += _number_map(l2, "values", list(l2), keyed=True)
    problems += _number_map(list(x), "x", derivation.inputs, keyed=False)
    problems += _number_map(list(y), "y", derivation.targets, keyed=False)
    needed = {"lambda": network.l2 == LAMBDA, "n": network.l2 is not None}
    for name, wanted in needed.items():
        if wanted and name not in l2:
            problems.append(f"values: the L2 regulariser needs a value for {name!r}")
    if not problems:
        # floats are taken exactly as stored, and 0.1 + 0.2 + 0.7 is not exactly 1 in binary
        problems += filter(None, [targets_problem(derivation, sum(map(_exact, y)), tolerance=sp.Rational(1, 10**12))])
    if problems:
        raise SpecError(problems)
    point = Point(
        {k: _exact(v) for k, v in values.items()}, tuple(map(_exact, x)), tuple(map(_exact, y)),
        {k: _exact(v) for k, v in l2.items()},
    )
    known = named_values(derivation, point.substitution(derivation))
    fw = derivation.forward
    L = network.depth
    z = tuple(tuple(float(known[s]) for s in fw.weighted_inputs(l)) for l in range(1, L + 1))
    a = tuple(tuple(float(known[s]) for s in fw.activations(l)) for l in range(0, L + 1))
    delta = tuple(tuple(float(known[s]) for s in fw.deltas(l)) for l in range(1, L + 1))
    cost = float(fw.cost.xreplace(known).evalf(DIGITS))
    gradients = {key: float(derivation.gradient(key).xreplace(known).evalf(DIGITS)) for key in derivation.params}
    return Evaluation((None,) + z, a, (None,) + delta, cost, gradients)


def _exact(value) -> sp.Rational:
    """A number as an exact Rational (a float exactly as stored)."""
    if isinstance(value, (float, mpmath.mpf)):
        return sp.Rational(*float(value).as_integer_ratio())
    return sp.Rational(value)


def _mpf(value):
    """An exact SymPy number or a Python number as an mpmath number at the working precision."""
    if isinstance(value, sp.Rational):
        return mpmath.mpf(int(value.p)) / int(value.q)
    if isinstance(value, sp.Float):
        return mpmath.mpf(value._mpf_)
    return mpmath.mpf(value)
