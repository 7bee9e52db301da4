"""Numbers: the network at a point, and the independent finite-difference oracle.

Two separate computations live here and must stay separate:

* :class:`Evaluator` puts numbers into the *derivation*: it evaluates the named
  intermediates z, a, δ and every gradient's closed form at a point, from the
  derivation's own definitions and expressions (:func:`evaluate`, :func:`named_values`).
* :class:`CostOracle` knows nothing of the derivation. It runs the network
  forward in mpmath at high precision (from the activation and cost
  *definitions* only) and differentiates the cost by central differences
  (``mpmath.diff``): along one parameter, along any direction in parameter
  space, or along one weighted input z^l_j. Agreement between the two is
  numeric evidence, never a proof.

A generic activation σ has no numbers; the numeric check realises it as the
stand-in :data:`GENERIC_STAND_IN` (and σ' as that function's derivative).
"""

from __future__ import annotations

import functools
import operator
import random
import re
from functools import partial
from dataclasses import dataclass
from typing import Mapping, Sequence

import mpmath
import sympy as sp
from mpmath.libmp import mpf_mul, mpf_pos, round_nearest

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


def with_numbers(expr: sp.Expr, values: Mapping, memo: dict | None = None) -> sp.Expr:
    """``expr.xreplace(values)``, for ``values`` that map symbols to SymPy numbers: the same result, bit
    for bit, at a fraction of the cost.

    ``xreplace`` rebuilds every sum and product and lets ``Add`` and ``Mul`` combine the numbers in it.
    Here a sum or product whose terms have all become numbers is added or multiplied directly, as ``Add`` and
    ``Mul`` combine them (see :func:`_combined`), and the condition of a piece is decided directly where
    comparing its two numbers needs no rounding (see :func:`_compared_exactly`); every other node is rebuilt
    by its own constructor, as ``xreplace`` does. ``memo``, kept by the caller while ``values`` only grows,
    remembers each subexpression that became a number, so the parts that many expressions share are
    evaluated once.
    """
    if memo is None:
        memo = {}
    return _with_numbers(expr, values, memo)


#: the comparisons of two SymPy numbers, which give SymPy's true or false
_ORDERINGS = {">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le}


def _compared_exactly(left, right) -> bool:
    """Whether comparing two numbers directly gives what the relation's constructor gives: the constructor
    subtracts them at the Float's precision, which rounds a Rational (or a large Integer) first, but keeps the
    sign of the difference of two Floats, of two Rationals and of a Float and 0."""
    if not (left.is_Number and right.is_Number):
        return False
    if left.is_Float or right.is_Float:
        return (left.is_Float or left.is_zero) and (right.is_Float or right.is_zero)
    return True


def _combined(numbers: list, identity, combine):
    """The numbers of a sum (identity 0) or product (identity 1) combined as ``Add`` and ``Mul`` combine them:
    arguments that are the identity itself dropped, a single one left as it is, else combined left to right
    starting from the identity."""
    numbers = [number for number in numbers if number is not identity]
    if len(numbers) == 1:
        return numbers[0]
    return functools.reduce(combine, numbers, identity)


def _with_numbers(expr, values, memo):
    found = values.get(expr)
    if found is None:
        found = memo.get(expr)
    if found is not None:
        return found
    args = expr.args
    if not args:
        return expr
    new = [_with_numbers(argument, values, memo) for argument in args]
    if expr.is_Add and all(term.is_Number for term in new):
        result = _combined(new, sp.S.Zero, operator.add)
    elif expr.is_Mul and all(factor.is_Number for factor in new):
        result = _combined(new, sp.S.One, operator.mul)
    elif expr.is_Relational and expr.rel_op in _ORDERINGS and _compared_exactly(*new):
        result = _ORDERINGS[expr.rel_op](new[0], new[1])  # the condition of a piece: SymPy's true or false
    elif all(n is a for n, a in zip(new, args)):
        result = expr
    else:
        result = expr.func(*new)
    if result.is_Number:  # a part still waiting for a value is not remembered
        memo[expr] = result
    return result


@functools.lru_cache(maxsize=256)
def mpmath_function(arguments, expr: sp.Expr):
    """``sympy.lambdify(arguments, expr, modules="mpmath")``, made once per process for each expression: the
    function keeps no state, and making it costs about a millisecond."""
    return sp.lambdify(arguments, expr, modules="mpmath")


def stand_in_for(network) -> sp.Expr:
    """The stand-in for the generic σ of ``network``: one with values in (0, 1) when a generic
    output feeds a cost that takes its logarithm, :data:`GENERIC_STAND_IN` otherwise."""
    output = network.output.activation
    return PROBABILITY_STAND_IN if network.cost.outputs and output.name == "generic" else GENERIC_STAND_IN


def is_generic(network) -> bool:
    return any(isinstance(layer.activation, Activation) and layer.activation.name == "generic" for layer in network.layers)


# ------------------------------------------------------------------ the oracle


#: how close to a kink a weighted input may lie at a point the oracle differentiates at
KINK_MARGIN = mpmath.mpf("1e-8")


def kinks(definition: sp.Expr) -> tuple:
    """The values of z at which an activation's definition changes its formula, as mpmath numbers.

    ReLU and the leaky ReLU switch at z = 0; a custom rule's Piecewise conditions, Heaviside
    steps, Max, Min and Abs are read the same way when their boundary is linear in z.
    """
    boundaries = set()
    for node in sp.preorder_traversal(definition):
        if isinstance(node, sp.core.relational.Relational):
            boundaries.add(node.lhs - node.rhs)
        elif isinstance(node, (sp.Heaviside, sp.Abs)):
            boundaries.add(node.args[0])
        elif isinstance(node, (sp.Max, sp.Min)):
            boundaries.update(a - b for a in node.args for b in node.args if a != b)
    values = set()
    for boundary in boundaries:
        poly = sp.Poly(boundary, Z) if boundary.has(Z) and boundary.is_polynomial(Z) else None
        if poly is not None and poly.degree() == 1 and not (poly.free_symbols - {Z}):
            a, b = poly.all_coeffs()
            values.add(-b / a)
    return tuple(mpmath.mpf(sp.Rational(v)) if v.is_Rational else mpmath.mpf(sp.N(v, 30)) for v in sorted(values))


class CostOracle:
    """C(θ) computed forward in mpmath from the definitions; its derivatives by central differences.

    :meth:`at` runs the forward pass at a point and keeps it (a :class:`ForwardPass`);
    derivatives along a direction then recompute only what the direction moves.
    """

    def __init__(self, network, digits: int = DIGITS):
        self.network = network
        self.digits = digits
        self._forward = []
        for layer in network.layers:
            rule = layer.activation
            if isinstance(rule, VectorActivation):
                self._forward.append(None)
            else:
                self._forward.append(mpmath_function(Z, realise(rule.forward, stand_in_for(network))))
        self._term = mpmath_function((A, Y), network.cost.term)
        #: per layer, the weighted inputs at which its activation has a kink (ReLU's 0)
        self.kinks = [() if isinstance(layer.activation, VectorActivation) else kinks(layer.activation.forward)
                      for layer in network.layers]

    def near_kink(self, run: "ForwardPass", margin=KINK_MARGIN) -> bool:
        """Whether some weighted input of ``run`` lies within ``margin`` of its activation's kink.

        Central differences across a kink measure neither one-sided slope, so such a point
        cannot test a derivative there (a dead ReLU feeding a layer without bias puts the
        next weighted input exactly on the kink).
        """
        return any(abs(z - c) < margin for l, points in enumerate(self.kinks, start=1) if points
                   for z in run.z[l] for c in points)

    def at(self, params: Mapping, x: Sequence, y: Sequence, l2: Mapping | None = None) -> "ForwardPass":
        """The forward pass at a point: ``params`` maps canonical keys to numbers."""
        with mpmath.workdps(self.digits):
            return ForwardPass(self, params, x, y, l2 or {})

    def cost(self, params: Mapping, x: Sequence, y: Sequence, l2: Mapping | None = None):
        """C at a point."""
        return self.at(params, x, y, l2).cost

    def gradient(self, key: tuple, params: Mapping, x, y, l2: Mapping | None = None):
        """∂C/∂θ: the derivative of the cost along the parameter ``key`` alone, by central differences."""
        return self.at(params, x, y, l2).directional({key: 1})

    def activate(self, l: int, zs: list, changed=None) -> list:
        """a^l from z^l by the activation's definition; with ``changed`` (a dict index → previous
        activation list) only those neurons of an element-wise layer are recomputed."""
        f = self._forward[l - 1]
        if f is None:  # softmax, from its definition
            exps = [mpmath.exp(z) for z in zs]
            total = mpmath.fsum(exps)
            return [e / total for e in exps]
        if changed is None:
            return [mpmath.mpf(f(z)) for z in zs]
        indices, previous = changed
        a = list(previous)
        for j in indices:
            a[j] = mpmath.mpf(f(zs[j]))
        return a

    def output_cost(self, a: list, y: list):
        """Σ_j c(a^L_j, y_j), without the regulariser."""
        return mpmath.fsum(self._term(ai, yi) for ai, yi in zip(a, y))


@dataclass(frozen=True)
class Direction:
    """A direction in parameter space, layer by layer: ``layers[l] = (rows, biases)`` where
    ``rows[j]`` lists the components along w^l_{j1}, w^l_{j2}, … and ``biases[j]`` the one along b^l_j
    (neurons numbered from 0)."""

    layers: dict

    @classmethod
    def from_keys(cls, direction: Mapping, sizes: Sequence[int]) -> "Direction":
        """A direction given by canonical key (``("w", l, j, k)`` or ``("b", l, j)``) → component."""
        layers: dict = {}
        for key, value in direction.items():
            rows, biases = layers.setdefault(key[1], ({}, {}))
            if key[0] == "w":
                row = rows.setdefault(key[2] - 1, [0] * sizes[key[1] - 1])
                row[key[3] - 1] = _mpf(value)
            else:
                biases[key[2] - 1] = _mpf(value)
        return cls(layers)


class ForwardPass:
    """The oracle's forward pass at one point, kept for derivatives along directions.

    ``z[l]`` and ``a[l]`` are the layers' values (``a[0]`` is x), ``cost`` is C. A
    derivative moves the parameters (or one layer's weighted inputs) by t times a
    direction and differentiates C in t at 0 with ``mpmath.diff`` (central
    differences at raised precision). Each evaluation recomputes the network from
    the first layer the direction touches, and only the weighted inputs that move
    when fewer than all of a layer's activations changed.
    """

    def __init__(self, oracle: CostOracle, params: Mapping, x: Sequence, y: Sequence, l2: Mapping):
        network = oracle.network
        self.oracle = oracle
        self.network = network
        sizes = network.sizes
        self.weights = {}
        self.biases = {}
        for layer in network.layers:
            l = layer.index
            self.weights[l] = [[_mpf(params[("w", l, j, k)]) for k in range(1, sizes[l - 1] + 1)]
                               for j in range(1, sizes[l] + 1)]
            self.biases[l] = [_mpf(params[("b", l, j)]) for j in range(1, sizes[l] + 1)] if layer.bias else None
        self.y = [_mpf(v) for v in y]
        self.z = [None]
        self.a = [[_mpf(v) for v in x]]
        for layer in network.layers:
            self.z.append(self._weighted_inputs(layer.index, self.a[-1]))
            self.a.append(oracle.activate(layer.index, self.z[-1]))
        self.penalty = None
        if network.l2 is not None:
            strength = l2["lambda"] if network.l2 == LAMBDA else network.l2
            # (λ/2n) Σ w², with Σ w² over every weight
            self.penalty = _mpf(strength) / (2 * _mpf(l2["n"]))
            self.squares = mpmath.fsum(w * w for rows in self.weights.values() for row in rows for w in row)
        self.cost = self._cost(self.a[-1])

    def _weighted_inputs(self, l: int, previous: list) -> list:
        biases = self.biases[l]
        zs = [mpmath.fdot(row, previous) for row in self.weights[l]]
        return [z + b for z, b in zip(zs, biases)] if biases is not None else zs

    def _cost(self, a: list, moved_squares=0):
        total = self.oracle.output_cost(a, self.y)
        if self.penalty is not None:
            total += self.penalty * (self.squares + moved_squares)
        return total

    # ------------------------------------------------------------ derivatives

    def shift(self, l: int, rows: Mapping, biases: Mapping) -> dict:
        """How fast z^l moves when layer l's weights and biases move along (rows, biases): neuron → rate.

        z^l_j = Σ_k w^l_{jk} a^{l-1}_k + b^l_j, so moving w^l_j by t·v and b^l_j by t·u moves z^l_j by
        t·(v · a^{l-1} + u), and nothing else in layer l.
        """
        with mpmath.workdps(self.oracle.digits):
            previous = self.a[l - 1]
            shift = {j: mpmath.fdot(row, previous) for j, row in rows.items()}
            for j, u in biases.items():
                shift[j] = shift.get(j, 0) + u
            return shift

    def directional(self, direction, shift: Mapping | None = None) -> mpmath.mpf:
        """d/dt C(θ + t v) at t = 0 for the direction v (a :class:`Direction` or key → component).

        ``shift`` is :meth:`shift` of the first layer the direction touches, when the caller has it.
        """
        with mpmath.workdps(self.oracle.digits):
            if not isinstance(direction, Direction):
                direction = Direction.from_keys(direction, self.network.sizes)
            start = min(direction.layers)
            if shift is None:
                shift = self.shift(start, *direction.layers[start])
            # the regulariser along v: Σ (w + t v)² − Σ w² = 2t Σ w v + t² Σ v²
            linear = quadratic = 0
            if self.penalty is not None:
                pairs = [(w, v) for l, (rows, _) in direction.layers.items() for j, row in rows.items()
                         for w, v in zip(self.weights[l][j], row)]
                linear = 2 * mpmath.fdot(pairs)
                quadratic = mpmath.fdot((v, v) for _, v in pairs)
            later = {l: moves for l, moves in direction.layers.items() if l > start}
            return mpmath.diff(lambda t: self._along(t, start, shift, later, t * linear + t * t * quadratic), 0)

    def along_z(self, l: int, j: int) -> mpmath.mpf:
        """∂C/∂z^l_j: the derivative of the cost when z^l_j alone moves (j from 1)."""
        with mpmath.workdps(self.oracle.digits):
            return mpmath.diff(lambda t: self._along(t, l, {j - 1: 1}, {}, 0), 0)

    def _along(self, t, start: int, shift: dict, later: dict, moved_squares):
        """C when the weighted inputs of layer ``start`` move by t·shift and the parameters of later
        layers by t times their direction."""
        oracle = self.oracle
        z = list(self.z[start])
        for j, s in shift.items():
            z[j] += t * s
        changed = set(shift)
        a = oracle.activate(start, z, (changed, self.a[start]))
        if oracle._forward[start - 1] is None:
            changed = set(range(len(a)))
        for l in range(start + 1, self.network.depth + 1):
            moves = later.get(l)
            if moves is None and len(changed) == 1:
                # one activation moved: z^l_i changes by w^l_{ik} (a_k − a_k at t = 0)
                (k,) = changed
                step = a[k] - self.a[l - 1][k]
                z = [zi + row[k] * step for zi, row in zip(self.z[l], self.weights[l])]
            elif moves is None and 2 * len(changed) < len(a):
                # only some activations moved: z^l_i changes by Σ_k w^l_{ik} (a_k − a_k at t = 0)
                before = self.a[l - 1]
                steps = [(k, a[k] - before[k]) for k in sorted(changed)]
                z = [zi + mpmath.fdot((row[k], d) for k, d in steps) for zi, row in zip(self.z[l], self.weights[l])]
            else:
                z = self._weighted_inputs(l, a)
                if moves is not None:
                    rows, biases = moves
                    for j, row in rows.items():
                        z[j] += t * mpmath.fdot(row, a)
                    for j, v in biases.items():
                        z[j] += t * v
            a = oracle.activate(l, z)
            changed = set(range(len(a)))
        return self._cost(a, moved_squares)


# ------------------------------------------------------------------ points


@dataclass(frozen=True)
class Point:
    """A numeric point: parameters, one example (x, y) and, for symbolic L2, λ and n."""

    params: dict
    x: tuple
    y: tuple
    l2: dict

    def substitution(self, derivation, number=sp.Rational) -> dict:
        """SymPy symbol → exact number, for every parameter, input, target (and λ, n).

        ``number`` converts each value (``_mpf`` gives mpmath numbers at the working precision).
        """
        fw = derivation.forward
        values = {fw.q(*key): number(v) for key, v in self.params.items()}
        values.update({s: number(v) for s, v in zip(fw.inputs, self.x)})
        values.update({s: number(v) for s, v in zip(fw.targets, self.y)})
        if "lambda" in self.l2:
            values[LAMBDA] = number(self.l2["lambda"])
        if "n" in self.l2:
            values[N_EXAMPLES] = number(self.l2["n"])
        return values


@functools.lru_cache(maxsize=4096)
def _thousandths(n: int) -> sp.Rational:
    return sp.Rational(n, 1000)


def random_components(rng: random.Random, count: int) -> list:
    """``count`` random components of a direction in parameter space: nonzero multiples of 1/1000 in
    [−1, 1], as mpmath numbers at the working precision."""
    return rng.choices(_components(mpmath.mp.prec), k=count)


@functools.lru_cache(maxsize=8)
def _components(prec: int) -> tuple:
    return tuple(_rational(n, 1000, prec) for n in range(-1000, 1001) if n)


def random_decimal(rng: random.Random, lo, hi) -> sp.Rational:
    """A random exact decimal in [lo, hi], to three places."""
    return _thousandths(rng.randint(int(lo * 1000), int(hi * 1000)))


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


# ------------------------------------------------------------------ numbers in the derivation

#: SymPy functions the evaluator computes with mpmath directly; any other is evaluated by SymPy
_FUNCTIONS = {sp.exp: mpmath.exp, sp.log: mpmath.log, sp.tanh: mpmath.tanh, sp.sinh: mpmath.sinh,
              sp.cosh: mpmath.cosh, sp.sin: mpmath.sin, sp.cos: mpmath.cos, sp.tan: mpmath.tan,
              sp.atan: mpmath.atan, sp.Abs: mpmath.fabs}

_RELATIONS = {**_ORDERINGS, "==": operator.eq, "!=": operator.ne}


class Evaluator:
    """Numbers for the derivation's expressions, in mpmath at the working precision.

    ``values`` gives the free symbols (parameters, x, y, λ, n) their numbers; further
    symbols (z, a, δ) are given values with :meth:`set` as they are computed. Every
    subexpression is evaluated once and remembered, so the factors that thousands of
    gradients share (a^l_j, 1 − a^l_j, the sum over the next layer) cost nothing after the
    first. A generic σ and σ' are realised by ``stand_in`` and its derivative.
    Call it inside ``mpmath.workdps(digits)``.
    """

    def __init__(self, values: Mapping, stand_in: sp.Expr = GENERIC_STAND_IN):
        self.memo = {symbol: _mpf(value) for symbol, value in values.items()}
        sigma, sigma_prime = opaque_functions("sigma")
        self.functions = dict(_FUNCTIONS)
        self.functions[sigma] = mpmath_function(Z, stand_in)
        self.functions[sigma_prime] = mpmath_function(Z, sp.diff(stand_in, Z))

    def set(self, symbol: sp.Symbol, value) -> None:
        self.memo[symbol] = value

    def __call__(self, expr: sp.Expr):
        value = self.memo.get(expr)
        if value is None:
            value = self.memo[expr] = self._compute(expr)
        return value

    def once(self, expr: sp.Expr):
        """The value of an expression that nothing else contains (a gradient), not remembered."""
        value = self.memo.get(expr)
        return self._compute(expr) if value is None else value

    def _compute(self, expr: sp.Expr):
        if expr.is_Add:
            # a weighted input is a long sum of products of two known numbers: one exact dot product
            memo = self.memo
            pairs = []
            for term in expr.args:
                if term.is_Mul and len(term.args) == 2:
                    left, right = memo.get(term.args[0]), memo.get(term.args[1])
                    if left is not None and right is not None:
                        pairs.append((left, right))
                        continue
                pairs.append((self(term), 1))
            return mpmath.fdot(pairs)
        if expr.is_Mul:
            # computed exactly and rounded once
            memo = self.memo
            exact = None
            for factor in expr.args:
                value = memo.get(factor)
                if value is None:
                    value = self(factor)
                exact = value._mpf_ if exact is None else mpf_mul(exact, value._mpf_)
            return mpmath.mp.make_mpf(mpf_pos(exact, mpmath.mp.prec, round_nearest))
        if expr.is_Pow:
            base, exponent = self(expr.base), expr.exp
            return base ** int(exponent) if exponent.is_Integer else mpmath.power(base, self(exponent))
        if expr.is_Rational or expr.is_Float:
            return _mpf(expr)
        if isinstance(expr, sp.Piecewise):
            for piece, condition in expr.args:
                if self._holds(condition):
                    return self(piece)
        function = self.functions.get(expr.func)
        if function is not None:
            return mpmath.mpf(function(*[self(argument) for argument in expr.args]))
        if expr.is_Symbol:
            raise ValueError(f"{expr} has no value at this point")
        # anything else (π, a function of a custom activation): SymPy evaluates it from the numbers
        numbers = {s: sp.Float(self(s), mpmath.mp.dps) for s in expr.free_symbols}
        return mpmath.mpf(sp.Float(expr.xreplace(numbers).evalf(mpmath.mp.dps), mpmath.mp.dps)._mpf_)

    def _holds(self, condition) -> bool:
        if condition is sp.true or condition is sp.false:
            return condition is sp.true
        if isinstance(condition, sp.core.relational.Relational) and condition.rel_op in _RELATIONS:
            return _RELATIONS[condition.rel_op](self(condition.lhs), self(condition.rhs))
        if isinstance(condition, sp.And):
            return all(self._holds(c) for c in condition.args)
        if isinstance(condition, sp.Or):
            return any(self._holds(c) for c in condition.args)
        numbers = {s: sp.Float(self(s), mpmath.mp.dps) for s in condition.free_symbols}
        return bool(condition.xreplace(numbers))

    def network(self, derivation) -> None:
        """Give z, a and δ of every neuron their values: z and a from the forward definitions,
        δ from the derivation's closed forms (output layer first)."""
        fw, network = derivation.forward, derivation.network
        for layer in network.layers:
            l = layer.index
            for j in range(1, layer.size + 1):
                self.set(fw.q("z", l, j), self(fw.z_definition(l, j)))
            for j in range(1, layer.size + 1):
                self.set(fw.q("a", l, j), self(fw.a_definition(l, j)))
        for l in range(network.depth, 0, -1):
            for j in range(1, network.sizes[l] + 1):
                self.set(fw.q("delta", l, j), self(derivation.delta(l, j)))


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
    """An exact SymPy number or a Python number as an mpmath number at the working precision
    (an mpmath number is taken as it is)."""
    if type(value) is mpmath.mpf:
        return value
    if isinstance(value, sp.Rational):
        return _rational(int(value.p), int(value.q), mpmath.mp.prec)
    if isinstance(value, sp.Float):
        return mpmath.mpf(value._mpf_)
    return mpmath.mpf(value)


@functools.lru_cache(maxsize=1 << 14)
def _rational(p: int, q: int, prec: int):
    """p/q rounded to ``prec`` bits; random points reuse a few thousand such values."""
    with mpmath.workprec(prec):
        return mpmath.mpf(p) / q
