"""A worked numeric example: the derivation with numbers carried through it.

Given every parameter, one example (x, y) and a learning rate η,
:func:`worked_example` evaluates, from the derivation's own closed forms:

* every weighted input z and activation a (from the forward definitions), and
  every δ (from ``Derivation.delta``);
* the cost C of the example;
* every gradient ∂C/∂θ (``Derivation.gradient``) and each factor of its chain
  rule, read off ``Derivation.steps``: ∂C/∂a, ∂a/∂z = σ'(z) and ∂z/∂θ for an
  element-wise activation (with ∂C/∂a of a hidden neuron as the sum over the
  next layer, Σ_k ∂C/∂z^{l+1}_k · ∂z^{l+1}_k/∂a^l_j), ∂C/∂z and ∂z/∂θ under
  softmax (∂C/∂z as the sum Σ_i ∂C/∂a_i · ∂a_i/∂z_j), and the regulariser's
  (λ/n) w;
* every parameter after one step of gradient descent, θ − η ∂C/∂θ.

Numbers are exact Rationals while they can be (parameters, inputs, targets, η,
the first layer's z, every value of a network of identity or ReLU layers) and
SymPy Floats of :data:`~symbackprop.oracle.DIGITS` (40) significant digits
otherwise; nothing is rounded along the way. A :class:`WorkedExample` keeps
those values and its ``digits``; only :meth:`WorkedExample.show` and
:meth:`WorkedExample.rounded` round, for display.

A Python float is read as the decimal it prints as (0.1 is 1/10), the way JSON
text writes it; ints, SymPy numbers and mpmath numbers are taken exactly.

>>> from symbackprop import Network, derive
>>> d = derive(Network([1, 1], activation="identity", cost="quadratic"))
>>> ex = worked_example(d, {("w", 1, 1, 1): 0.5, ("b", 1, 1): 0}, x=[2], y=[3], lr=0.1)
>>> ex.cost.value, ex.gradient(("w", 1, 1, 1)).gradient.value, ex.updated[("w", 1, 1, 1)]
(2, -4, 9/10)
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import cached_property
from typing import Mapping, Sequence

import mpmath
import sympy as sp

from ..collector import without_cycle_collection
from ..model.activations import VectorActivation, exact_number
from ..errors import SpecError
from ..proof.oracle import (DIGITS, Point, _mpf, _number_map, is_generic, key_list, key_name, parse_key, targets_problem,
                            with_numbers)
from ..documents import printing
from ..documents.render import (FLAVORS, LANGUAGES, Document, check_choice, check_heading_level, environment,
                                get_template)
from ..model.symbols import (COST, LAMBDA, N_EXAMPLES, Chain, Partial, written_difference, written_product,
                            written_sum)

#: η, the learning rate, as it appears in the update θ − η ∂C/∂θ (the printers write it η)
ETA = sp.Symbol("eta", positive=True)

#: the largest network (in parameters) whose worked example is written as a document (text, md, tex):
#: each parameter takes a few lines, so a 784-30-10 network (23,860 parameters) would fill a book;
#: its numbers are still available as JSON
DOCUMENT_PARAMETERS = 200

#: the keys of the JSON form besides the parameters
POINT_KEYS = ("x", "y", "lambda", "n")


# ---------------------------------------------------------------------- values


@dataclass(frozen=True)
class Value:
    """One named number of the example.

    ``symbol`` is what is evaluated: a :class:`~symbackprop.symbols.Quantity`
    (z, a, δ, a parameter, C), a :class:`~symbackprop.symbols.Partial` (a
    factor of the chain rule) or, for the regulariser's term, the expression
    (λ/n) w itself. ``forms`` are the expressions the derivation equates with
    it, in order (for ∂a/∂z: σ'(z), then σ'(z) written in a such as a(1 − a));
    the value is that of the last form. ``value`` is exact (a Rational) or a
    40-digit Float. ``(value.symbol, value.value)`` is the pair to display.
    """

    symbol: sp.Expr
    value: sp.Expr
    forms: tuple = ()


@dataclass(frozen=True)
class LayerValues:
    """Layer ``index`` (1..L) at the point: z, a and δ of each neuron, in neuron order."""

    index: int
    activation: str
    z: tuple[Value, ...]
    a: tuple[Value, ...]
    delta: tuple[Value, ...]


@dataclass(frozen=True)
class GradientValues:
    """One parameter θ at the point: its gradient, the chain rule's factors, the step.

    * ``parameter``: θ and its value before the step.
    * ``gradient``: ∂C/∂θ, whose form is ``Derivation.gradient(key)``.
    * ``factors``: the chain rule as a product. Element-wise activation:
      (∂C/∂a^l_j, ∂a^l_j/∂z^l_j, ∂z^l_j/∂θ); softmax output:
      (∂C/∂z^L_j, ∂z^L_j/∂θ). Their product is ``gradient`` less
      ``regularisation``.
    * ``terms``: the sum that gives ``factors[0]``, as (left, right) pairs whose
      products add up to it. A hidden neuron: (∂C/∂z^{l+1}_k, ∂z^{l+1}_k/∂a^l_j)
      for every neuron k of the next layer, that is δ^{l+1}_k and w^{l+1}_{kj};
      a softmax output: (∂C/∂a^L_i, ∂a^L_i/∂z^L_j) for every output i; an
      element-wise output neuron: empty.
    * ``delta``: δ^l_j = ∂C/∂z^l_j of θ's neuron.
    * ``regularisation``: (λ/n) w for a weight under L2, else ``None``.
    * ``updated``: θ after one step, with the form θ − η ∂C/∂θ.
    """

    key: tuple
    parameter: Value
    gradient: Value
    factors: tuple[Value, ...]
    terms: tuple[tuple[Value, Value], ...]
    delta: Value
    regularisation: Value | None
    updated: Value


@dataclass(frozen=True)
class WorkedExample:
    """A derivation at one point, and one step of gradient descent from it.

    ``x`` and ``y`` hold the example, ``l2`` the regulariser's λ and n (empty
    without L2), ``layers`` the layers 1..L, ``cost`` the example's cost and
    ``gradients`` one :class:`GradientValues` per parameter in the order of
    ``Derivation.params``. ``lr`` is η, exact. Values are never rounded;
    ``digits`` is the number of significant digits that :meth:`show` and
    :meth:`rounded` give them.
    """

    network: object
    digits: int
    lr: sp.Rational
    x: tuple[Value, ...]
    y: tuple[Value, ...]
    l2: tuple[Value, ...]
    layers: tuple[LayerValues, ...]
    cost: Value
    gradients: tuple[GradientValues, ...]

    @cached_property
    def _by_key(self) -> dict:
        return {g.key: g for g in self.gradients}

    def gradient(self, key) -> GradientValues:
        """The record of the parameter ``key`` (a canonical key such as ``("w", 1, 2, 1)``)."""
        try:
            return self._by_key[tuple(key)]
        except KeyError:
            raise KeyError(f"no parameter {tuple(key)!r} in this example") from None

    @property
    def params(self) -> dict:
        """Canonical key → value before the step."""
        return {g.key: g.parameter.value for g in self.gradients}

    @property
    def updated(self) -> dict:
        """Canonical key → value after the step θ − η ∂C/∂θ."""
        return {g.key: g.updated.value for g in self.gradients}

    def rounded(self, value) -> sp.Number:
        """``value`` rounded to ``digits`` significant digits, as a SymPy Float for the printers.

        An exact whole number stays an Integer (it prints as ``3``, not ``3.0``).
        """
        if isinstance(value, sp.Integer) or (isinstance(value, int) and not isinstance(value, bool)):
            return sp.Integer(value)
        return decimal_rounded(value, self.digits)

    def show(self, value) -> str:
        """``value`` as text with at most ``digits`` significant digits (``1.23e-7`` when small).

        An exact whole number stays whole, as in :meth:`rounded` (``1``, not ``1.0``).
        """
        rounded = self.rounded(value)
        if isinstance(rounded, sp.Integer):
            return str(rounded)
        with mpmath.workdps(DIGITS):
            return mpmath.nstr(_mpf(value), self.digits)

    def as_data(self, notation: str = "nielsen") -> dict:
        """The numbers as plain JSON-ready data, keyed by canonical keys written ``"w,1,2,1"``.

        Each number has ``value``, the text :meth:`show` writes, ``rounded``,
        that text as a JSON number, and ``exact``, the full value as text (a
        fraction, or 40 significant digits). A factor also has its ``symbol``
        in Unicode text, in ``notation``.
        """
        sizes = self.network.sizes

        def number(v):
            shown = self.show(v)
            whole = isinstance(self.rounded(v), sp.Integer)
            return {"value": shown, "rounded": int(shown) if whole else float(shown), "exact": _full(v)}

        def factor(v: Value):
            return {"symbol": printing.text(v.symbol, notation=notation, sizes=sizes), **number(v.value)}

        return {
            "digits": self.digits,
            "lr": number(self.lr),
            "x": [number(v.value) for v in self.x],
            "y": [number(v.value) for v in self.y],
            "l2": {("lambda" if v.symbol == LAMBDA else "n"): number(v.value) for v in self.l2},
            "layers": [
                {"layer": layer.index, "activation": layer.activation,
                 "z": [number(v.value) for v in layer.z], "a": [number(v.value) for v in layer.a],
                 "delta": [number(v.value) for v in layer.delta]}
                for layer in self.layers
            ],
            "cost": number(self.cost.value),
            "gradients": [
                {"key": key_name(g.key), "parameter": number(g.parameter.value),
                 "gradient": number(g.gradient.value),
                 "factors": [factor(f) for f in g.factors],
                 "terms": [[factor(left), factor(right)] for left, right in g.terms],
                 "regularisation": None if g.regularisation is None else number(g.regularisation.value),
                 "updated": number(g.updated.value)}
                for g in self.gradients
            ],
        }


# ---------------------------------------------------------------------- input


def parse_values(data: Mapping, derivation) -> tuple[dict, tuple, tuple, dict]:
    """The JSON form of a point, read and checked: ``(params, x, y, l2)``, every number exact.

    ``data`` maps ``"w,l,j,k"`` (or ``"w[l,j,k]"``) and ``"b,l,j"`` to numbers,
    ``"x"`` and ``"y"`` to lists of numbers, and, for the L2 regulariser,
    ``"lambda"`` (when λ is symbolic) and ``"n"`` to numbers. ``params`` is keyed
    by canonical keys, ``l2`` by ``"lambda"`` and ``"n"``. Every problem found is
    reported in one :class:`~symbackprop.errors.SpecError`.
    """
    if not isinstance(data, Mapping):
        raise SpecError(f"values: the values are a {type(data).__name__}; expected an object mapping "
                        "parameter keys such as \"w,1,2,1\" to numbers, with \"x\" and \"y\" lists")
    problems: list[str] = []
    params, spelling = {}, {}
    for text, value in data.items():
        if text in POINT_KEYS:
            continue
        key = parse_key(text) if isinstance(text, str) else None
        if key is None:
            problems.append(f"values: unknown key {text!r}; expected \"w,l,j,k\" (or \"w[l,j,k]\"), "
                            "\"b,l,j\", \"x\", \"y\", \"lambda\" or \"n\"")
        elif key in params:
            problems.append(f"values: {key_name(key)} is given twice, as {spelling[key]!r} and {text!r}")
        else:
            params[key], spelling[key] = value, text
    sequences = {}
    for name, expected in (("x", derivation.inputs), ("y", derivation.targets)):
        if name not in data:
            problems.append(f"values: no {name!r}; expected a list of {len(expected)} numbers")
            sequences[name] = None
        elif not isinstance(data[name], (list, tuple)):
            problems.append(f"values: {name!r} is {data[name]!r}; expected a list of {len(expected)} numbers")
            sequences[name] = None
        else:
            sequences[name] = data[name]
    l2 = {name: data[name] for name in ("lambda", "n") if name in data}
    problems += _point_problems(derivation, params, sequences["x"], sequences["y"], l2,
                                spell=lambda key: spelling.get(key, key_name(key)))
    if problems:
        raise SpecError(problems)
    return ({key: _exact(v) for key, v in params.items()}, tuple(map(_exact, sequences["x"])),
            tuple(map(_exact, sequences["y"])), {name: _exact(v) for name, v in l2.items()})


def _sequence(values, name: str, expected, problems: list) -> list | None:
    """``values`` as a list, or ``None`` (with the problem noted) when it is not a sequence."""
    if isinstance(values, (str, bytes, Mapping)) or not hasattr(values, "__iter__"):
        problems.append(f"{name} is {values!r}; expected a list of {len(expected)} numbers")
        return None
    return list(values)


def _point_problems(derivation, params: Mapping, x, y, l2: Mapping, spell=lambda key: key) -> list[str]:
    """Every problem of a point, checked as :func:`symbackprop.oracle.evaluate` checks it.

    ``x`` or ``y`` is ``None`` when it has already been reported missing;
    ``spell`` gives a canonical key as the caller wrote it, for the messages.
    """
    network = derivation.network
    problems = []
    if is_generic(network):
        problems.append("a generic activation σ has no numeric values; choose a concrete activation to evaluate")
    shown = {spell(key): v for key, v in params.items()}
    problems += _number_map(shown, "values", [spell(key) for key in derivation.params], keyed=True)
    problems += _number_map(dict(l2), "values", list(l2), keyed=True)
    if x is not None:
        problems += _number_map(list(x), "x", derivation.inputs, keyed=False)
    if y is not None:
        problems += _number_map(list(y), "y", derivation.targets, keyed=False)
    needed = {"lambda": network.l2 == LAMBDA, "n": network.l2 is not None}
    for name, wanted in needed.items():
        if wanted and name not in l2:
            problems.append(f"values: the L2 regulariser needs a value for {name!r}")
        elif name in l2 and not wanted:
            why = "has no L2 regulariser" if network.l2 is None else f"has the fixed L2 strength {network.l2}"
            problems.append(f"values: {name!r} is given but the network {why}")
    named = [(f"values[{spell(k)!r}]", v) for k, v in params.items()]
    named += [(f"values[{name!r}]", v) for name, v in l2.items()]
    named += [(f"x[{i}]", v) for i, v in enumerate(x or ())] + [(f"y[{i}]", v) for i, v in enumerate(y or ())]
    for what, value in named:
        if _is_number(value) and not _finite(value):
            problems.append(f"{what} is {value!r}; expected a finite number")
    if y is not None and all(_is_number(v) and _finite(v) for v in y) and len(y) == len(derivation.targets):
        problems += filter(None, [targets_problem(derivation, sum(map(_exact, y)))])
    n = l2.get("n")
    if _is_number(n) and _finite(n) and n <= 0:
        problems.append(f"values['n'] is {n!r}; expected the number of training examples, a positive number")
    return problems


def _is_number(value) -> bool:
    return not isinstance(value, bool) and isinstance(value, (int, float, sp.Number, mpmath.mpf))


def _finite(value) -> bool:
    if isinstance(value, (int, sp.Rational)):
        return True
    if isinstance(value, sp.Number):
        return bool(value.is_finite)
    return math.isfinite(value)


def _exact(value) -> sp.Rational:
    """A number as an exact Rational: a Python float as the decimal it prints as, others exactly."""
    if isinstance(value, sp.Rational):
        return value
    if isinstance(value, sp.Float):
        return sp.Rational(value)
    if isinstance(value, mpmath.mpf):
        mantissa, exponent = value.man_exp
        return sp.Integer(mantissa) * sp.Integer(2) ** exponent
    return exact_number(value, "value")




def _full(value) -> str:
    """The full value as text: a fraction, or every digit of a Float."""
    return str(value) if isinstance(value, sp.Rational) else sp.Float(value, DIGITS).__str__()


# ---------------------------------------------------------------------- the example


def _number(expr: sp.Expr, known: Mapping) -> sp.Expr:
    """``expr`` at the point: exact when the result is rational, else a Float of DIGITS digits."""
    value = with_numbers(sp.sympify(expr), known)
    if value.is_Rational:
        return value
    value = value.evalf(DIGITS)
    if not (value.is_Number and value.is_finite):
        raise SpecError(f"{expr} is {value} at this point; expected a finite number "
                        "(the point may lie outside the domain of the cost or an activation)")
    return sp.Float(value, DIGITS)


def _known_values(derivation, substitution: dict) -> dict:
    """Every z, a (forward definitions) and δ (the derivation's closed forms) at the point."""
    fw = derivation.forward
    network = derivation.network
    known = dict(substitution)
    for layer in network.layers:
        l = layer.index
        for j in range(1, layer.size + 1):
            known[fw.q("z", l, j)] = _number(fw.z_definition(l, j), known)
        for j in range(1, layer.size + 1):
            known[fw.q("a", l, j)] = _number(fw.a_definition(l, j), known)
    for l in range(network.depth, 0, -1):
        for j in range(1, network.sizes[l] + 1):
            known[fw.q("delta", l, j)] = _number(derivation.delta(l, j), known)
    return known


#: step rules that say what one factor of the chain rule equals
_DEFINING_RULES = ("delta_definition", "weighted_input_derivative", "cost_derivative",
                   "activation_derivative", "activation_identity", "softmax_jacobian")


def _forms(symbol: sp.Expr, rewrites: Mapping) -> tuple:
    """The chain of forms a factor is equated with by the steps (∂a/∂z → σ'(z) → a(1 − a))."""
    forms = []
    current = symbol
    while current in rewrites and len(forms) < len(rewrites):
        current = rewrites[current]
        forms.append(current)
    return tuple(forms)


class _Evaluator:
    """The chain-rule factors of each parameter, from its steps, at one point."""

    def __init__(self, derivation, known: dict):
        self.derivation = derivation
        self.fw = derivation.forward
        self.known = known
        self._neurons: dict = {}

    def value(self, symbol, forms=()) -> Value:
        forms = tuple(forms)
        return Value(symbol, _number(forms[-1] if forms else symbol, self.known), forms)

    def factor(self, symbol, rewrites) -> Value:
        forms = _forms(symbol, rewrites)
        if not forms:
            raise ValueError(f"the derivation's steps do not say what {symbol} equals")
        return self.value(symbol, forms)

    def neuron(self, l: int, j: int, steps) -> tuple[tuple[Value, ...], tuple, Value]:
        """(the factors before ∂z/∂θ, the terms of the first one's sum, δ) of neuron j in layer l."""
        if (l, j) in self._neurons:
            return self._neurons[(l, j)]
        fw, derivation = self.fw, self.derivation
        network = derivation.network
        rules = {s.rule for s in steps}
        rewrites = {s.before: s.after for s in steps if s.rule in _DEFINING_RULES}
        z, a = fw.q("z", l, j), fw.q("a", l, j)
        delta = self.value(Partial(COST, z), (fw.q("delta", l, j), derivation.delta(l, j)))
        rule = network.layer(l).activation
        if isinstance(rule, VectorActivation):
            if "output_jacobian" not in rules:
                raise ValueError(f"no Jacobian step in the derivation of δ^{l}_{j}")
            terms = tuple(
                (self.factor(Partial(COST, ai), rewrites), self.factor(Partial(ai, z), rewrites))
                for ai in fw.activations(l)
            )
            paths = sp.Add(*[left.symbol * right.symbol for left, right in terms])
            head = (self.value(Partial(COST, z), (paths, derivation.delta(l, j))),)
        elif l == network.depth:
            if "output_chain" not in rules:
                raise ValueError(f"no output chain step in the derivation of δ^{l}_{j}")
            terms = ()
            head = (self.factor(Partial(COST, a), rewrites), self.factor(Partial(a, z), rewrites))
        else:
            if "sum_over_paths" not in rules:
                raise ValueError(f"no sum over paths in the derivation of δ^{l}_{j}")
            following = fw.weighted_inputs(l + 1)
            terms = tuple(
                (self.factor(Partial(COST, zk), rewrites), self.factor(Partial(zk, a), rewrites))
                for zk in following
            )
            paths = sp.Add(*[left.symbol * right.symbol for left, right in terms])
            named = sp.Add(*[left.forms[-1] * right.forms[-1] for left, right in terms])
            head = (self.value(Partial(COST, a), (paths, named)), self.factor(Partial(a, z), rewrites))
        self._neurons[(l, j)] = (head, terms, delta)
        return self._neurons[(l, j)]

    def parameter(self, key: tuple, current, lr) -> GradientValues:
        derivation, fw = self.derivation, self.fw
        theta = fw.q(*key)
        steps = derivation.steps(key)
        rewrites = {s.before: s.after for s in steps if s.rule in _DEFINING_RULES}
        l, j = key[1], key[2]
        head, terms, delta = self.neuron(l, j, steps)
        dz = self.factor(Partial(fw.q("z", l, j), theta), rewrites)
        regularisation = None
        if key[0] == "w" and derivation.network.l2 is not None:
            term = fw.regulariser_gradient(theta)
            regularisation = Value(term, _number(term, self.known))
        form = derivation.gradient(key)
        gradient = self.value(Partial(COST, theta), (form,))
        updated = Value(theta, current - lr * gradient.value, (theta - ETA * Partial(COST, theta),))
        return GradientValues(key, Value(theta, current), gradient, head + (dz,), terms, delta,
                              regularisation, updated)


@without_cycle_collection
def worked_example(derivation, values: Mapping, x: Sequence, y: Sequence, lr=0.5, digits: int = 6) -> WorkedExample:
    """The derivation evaluated at a point, with one gradient-descent step of rate ``lr``.

    ``values`` maps canonical keys (``("w", 1, 2, 1)``, or the JSON spellings
    ``"w,1,2,1"`` and ``"w[1,2,1]"``) to numbers, plus ``"lambda"`` (symbolic
    L2) and ``"n"`` (any L2). ``digits`` (1..40) is how many significant digits
    the example shows; it does not change any value. Every problem with the
    input is reported in one :class:`~symbackprop.errors.SpecError`.
    """
    network = derivation.network
    params, l2, problems = {}, {}, []
    for key, value in dict(values).items():
        if key in ("lambda", "n"):
            l2[key] = value
            continue
        canonical = parse_key(key) if isinstance(key, str) else tuple(key) if isinstance(key, (tuple, list)) else None
        if canonical is None:
            problems.append(f"values: unknown key {key!r}; expected a parameter of this network "
                            f"({key_list(derivation.params)}), \"lambda\" or \"n\"")
        elif canonical in params:
            problems.append(f"values: {key_name(canonical)} is given twice")
        else:
            params[canonical] = value
    x, y = _sequence(x, "x", derivation.inputs, problems), _sequence(y, "y", derivation.targets, problems)
    problems += _point_problems(derivation, params, x, y, l2)
    if not _is_number(lr) or not _finite(lr) or lr <= 0:
        problems.append(f"learning rate {lr!r}; expected a positive number")
    if isinstance(digits, bool) or not isinstance(digits, int) or not 1 <= digits <= DIGITS:
        problems.append(f"digits {digits!r}; expected a whole number of significant digits from 1 to {DIGITS}")
    if problems:
        raise SpecError(problems)
    params = {key: _exact(v) for key, v in params.items()}
    point = Point(params, tuple(map(_exact, x)), tuple(map(_exact, y)), {k: _exact(v) for k, v in l2.items()})
    eta = _exact(lr)
    known = _known_values(derivation, point.substitution(derivation))
    fw = derivation.forward

    layers = []
    for layer in network.layers:
        l = layer.index
        layers.append(LayerValues(
            l, layer.activation.label,
            tuple(Value(s, known[s], (fw.z_definition(l, j),)) for j, s in enumerate(fw.weighted_inputs(l), 1)),
            tuple(Value(s, known[s], (fw.a_definition(l, j),)) for j, s in enumerate(fw.activations(l), 1)),
            tuple(Value(s, known[s], (derivation.delta(l, j),)) for j, s in enumerate(fw.deltas(l), 1)),
        ))
    evaluator = _Evaluator(derivation, known)
    gradients = tuple(evaluator.parameter(key, params[key], eta) for key in derivation.params)
    strength = []
    if network.l2 is not None:
        strength = [Value(LAMBDA, known[LAMBDA] if network.l2 == LAMBDA else network.l2),
                    Value(N_EXAMPLES, known[N_EXAMPLES])]
    return WorkedExample(
        network=network,
        digits=digits,
        lr=eta,
        x=tuple(Value(s, known[s]) for s in fw.inputs),
        y=tuple(Value(s, known[s]) for s in fw.targets),
        l2=tuple(strength),
        layers=tuple(layers),
        cost=Value(COST, _number(fw.cost, known), (fw.cost,)),
        gradients=gradients,
    )


# -------------------------------------------------------------------- the worked example as a document


def decimal_rounded(value, digits: int) -> sp.Float:
    """``value`` (exact, or a 40-digit Float) rounded to ``digits`` significant decimal digits, as a Float that prints
    as that decimal. (``sp.Float(value, digits)`` rounds the binary value to about ``digits`` digits' worth of bits,
    which can print a different last digit: −0.54528449… would print as −0.545285.)"""
    with mpmath.workdps(DIGITS):
        decimal = mpmath.nstr(_mpf(value if isinstance(value, sp.Float) else _exact(value)), digits,
                              strip_zeros=False, min_fixed=-mpmath.inf, max_fixed=mpmath.inf)
    return sp.Float(decimal, digits)


def _worked_links(value, arithmetic=None, shown=None) -> Chain:
    """symbol = each form = the arithmetic with rounded numbers = the rounded value.

    A form that is a number is left out: the value at the end of the chain shows it.
    """
    forms = [form for form in value.forms if not sp.sympify(form).is_Number]
    return Chain(value.symbol, *forms, *([arithmetic] if arithmetic is not None else []), shown(value.value))


def worked_context(example, notation: str = "nielsen") -> dict:
    """What the worked-example templates loop over: every number of the example as a chain of equalities.

    Forward pass: z = its definition = the sum with numbers = value, and
    a = its definition = value. Backward pass, one entry per neuron from the
    output layer back: the chain rule's factors before ∂z/∂θ, each with its
    forms and value (for ∂C/∂a of a hidden neuron, and ∂C/∂z under softmax,
    the sum over the next layer with numbers), δ as their product, then per
    parameter of the neuron ∂z/∂θ, the gradient as the product of its factors
    with numbers (plus (λ/n) w under L2) and the step θ − η ∂C/∂θ. Numbers are
    rounded to ``example.digits`` for display only.
    """
    def product(*factors):  # the chain rule's factors, then their values, joined by dots
        return written_product(factors, dotted=True)

    n = example.rounded
    network = example.network
    values = {g.key: g.parameter.value for g in example.gradients}
    layers = []
    previous = example.x
    for layer in example.layers:
        l = layer.index
        fan_in = network.sizes[l - 1]
        rows = []
        for j, (z, a) in enumerate(zip(layer.z, layer.a), start=1):
            terms = []
            for k in range(1, fan_in + 1):
                weight, source = n(values[("w", l, j, k)]), n(previous[k - 1].value)
                terms.append(product(weight, source) if l == 1 else product(source, weight))
            if network.layer(l).bias:
                terms.append(n(values[("b", l, j)]))
            rows.append({"z": _worked_links(z, written_sum(terms), n), "a": _worked_links(a, None, n)})
        layers.append({"index": l, "activation": layer.activation, "size": len(layer.z),
                       "neurons": rows, "a": [Chain(v.symbol, n(v.value)) for v in layer.a]})
        previous = layer.a

    neurons, order = {}, []
    for g in example.gradients:
        l, j = g.key[1], g.key[2]
        if (l, j) not in neurons:
            head = g.factors[:-1]
            factors = []
            for index, factor in enumerate(head):
                arithmetic = None
                if index == 0 and g.terms:
                    arithmetic = written_sum([product(n(left.value), n(right.value)) for left, right in g.terms])
                factors.append(_worked_links(factor, arithmetic, n))
            delta_symbol = g.delta.forms[0]
            if len(head) > 1:
                delta = Chain(delta_symbol, product(*[f.symbol for f in head]),
                              product(*[n(f.value) for f in head]), n(g.delta.value))
            else:
                delta = Chain(delta_symbol, head[0].symbol, n(g.delta.value))
            neurons[(l, j)] = {"layer": l, "neuron": j, "softmax": len(head) == 1, "factors": factors,
                               "delta": delta, "delta_symbol": delta_symbol, "parameters": []}
            order.append((l, j))
        theta = g.parameter.symbol
        dz = g.factors[-1]
        symbolic = product(*[f.symbol for f in g.factors])
        numeric = product(*[n(f.value) for f in g.factors])
        regularisation = None
        if g.regularisation is not None:
            reg = g.regularisation
            regularisation = Chain(reg.symbol, n(reg.value))
            symbolic, numeric = written_sum([symbolic, reg.symbol]), written_sum([numeric, n(reg.value)])
        gradient = Partial(COST, theta)
        neurons[(l, j)]["parameters"].append({
            "key": g.key,
            "symbol": theta,
            "link": _worked_links(dz, None, n),
            "regularisation": regularisation,
            "gradient": Chain(gradient, symbolic, numeric, n(g.gradient.value)),
            "descent": Chain(written_difference(theta, sp.Mul(ETA, gradient)),
                            written_difference(n(g.parameter.value), product(n(example.lr), n(g.gradient.value))),
                            n(g.updated.value)),
            "before": n(g.parameter.value),
            "partial": gradient,
            "value": n(g.gradient.value),
            "after": n(g.updated.value),
        })
    backward = [neurons[key] for key in sorted(order, key=lambda key: (-key[0], key[1]))]
    return {
        "example": example,
        "network": network,
        "digits": example.digits,
        "precision": DIGITS,
        "lr": Chain(ETA, n(example.lr)),
        "eta": ETA,
        "inputs": [Chain(v.symbol, n(v.value)) for v in example.x],
        "targets": [Chain(v.symbol, n(v.value)) for v in example.y],
        "l2": [Chain(v.symbol, n(v.value)) for v in example.l2],
        "parameters": [Chain(g.parameter.symbol, n(g.parameter.value)) for g in example.gradients],
        "layers": layers,
        "cost": _worked_links(example.cost, None, n),
        "backward": backward,
        "summary": [p for g in example.gradients for p in neurons[g.key[1], g.key[2]]["parameters"] if p["key"] == g.key],
    }


WORKED_FORMATS = ("text", "md", "tex", "json")


def render_worked(example, fmt: str = "md", lang: str = "en", notation: str = "nielsen", flavor: str = "github",
                  standalone: bool = True, templates=None, heading_level: str = "section",
                  front_matter: dict | None = None) -> Document:
    """A worked numeric example (:func:`symbackprop.numbers.worked_example`) as a document.

    ``heading_level`` and ``front_matter`` mean what they mean for a derivation
    (:func:`symbackprop.proof.report.render`).

    ``fmt`` is ``text`` (the terminal), ``md``, ``tex`` (``standalone=False``
    gives a fragment to ``\\input``) or ``json``: the network, then
    :meth:`~symbackprop.numbers.WorkedExample.as_data` (each number as
    rounded text, a rounded JSON number and its full value).
    """
    check_choice("format", fmt, WORKED_FORMATS)
    check_heading_level(heading_level)
    check_choice("language", lang, LANGUAGES)
    check_choice("notation", notation, printing.NOTATIONS)
    check_choice("flavor", flavor, FLAVORS)
    network = example.network
    if fmt == "json":
        data = {
            "network": {"layers": list(network.sizes),
                        "activation": [layer.activation.label for layer in network.layers],
                        "bias": [layer.bias for layer in network.layers], "cost": network.cost.name,
                        "l2": None if network.l2 is None else str(network.l2), "mean": network.mean},
            "notation": notation,
            **example.as_data(notation),
        }
        return Document(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    env = environment(notation, network.sizes, templates, fmt, flavor)
    suffix = "txt" if fmt == "text" else fmt
    text = get_template(env, f"{lang}/worked.{suffix}.j2").render(
        standalone=standalone, lang=lang, heading_level=heading_level,
        front_matter=front_matter if fmt == "md" else None, **worked_context(example, notation))
    return Document(text)


__all__ = ["ETA", "GradientValues", "LayerValues", "Value", "WorkedExample",
           "key_name", "parse_key", "parse_values", "worked_example", "worked_context", "render_worked", "WORKED_FORMATS"]
