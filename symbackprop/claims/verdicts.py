"""Checking a hand derivation: is a claimed formula right, and if not, where is it wrong.

A :class:`~symbackprop.formula.Claim` names a quantity (one gradient, one δ,
a whole gradient matrix or δ vector, or the cost) and gives the user's formula for it. The
truth is the derivation's own result. The answer, a :class:`Verdict`, is one of

``correct``
    established exactly: both sides, rewritten by the definitions of the network's
    named quantities into rational functions of independent generators, are
    identical (:mod:`symbackprop.claims.exact`); or, when that rewriting does not
    show them identical and no counterexample is found, by agreement at N random
    points with the numbers of the forward pass, which is reported as numeric
    evidence, never as a proof;
``incorrect``
    with a counterexample: a concrete point (inputs, targets, parameters) and
    both values there. The formula is then compared with mutations of the
    correct one (a missing transpose, swapped indices, a sign, a factor 2, ½ or
    1/n, a missing σ', σ' taken at a, a(1 − a) for a non-sigmoid, a missing sum
    over the next layer, a wrong layer, a wrong neuron, a missing regularisation
    term or its 1/n, a matrix written entry by entry in the transposed layout, a
    term of the cost subtracted); the mutations it matches are the diagnosis. A
    formula whose vectors and matrices do not fit together (method ``dimensions``)
    is wrong without any point: the product that does not fit is named, and the
    repair that makes it fit (a transpose, ⊙ for a product, a product for ⊙) is
    the diagnosis; the repaired formula is then checked too, and the point where
    it is still wrong, if any, is the counterexample;
``undecided``
    when the exact comparison would expand past ``max_terms`` terms and no
    counterexample is found; the numeric evidence is given.

The work is bounded by counting terms, never by the clock: one claim gets one verdict on
every machine at any load.
"""

from __future__ import annotations

import math
import random
import re
import weakref
from dataclasses import dataclass, replace
from functools import lru_cache

import mpmath
import sympy as sp

from ..collector import without_cycle_collection
from ..errors import SpecError
from ..model.activations import VectorActivation, opaque_functions
from .exact import MAX_TERMS, SIGMA, SIGMA_PRIME, decide, rule_for
from .formula import claim_instances, read_shown_formula
from .transform import _shape_of
from ..proof.oracle import DIGITS, GENERIC_STAND_IN, kinks, mpmath_function, random_point, realise, stand_in_for
from ..model.symbols import COST, LAMBDA, N_EXAMPLES, UNREGULARISED, LayerMatrix, Partial, Quantity, written_difference

#: random points of the numeric comparison
POINTS = 3
#: relative tolerance of the numeric comparison (values are computed with 40 digits)
TOLERANCE = sp.Float("1e-20")

STATUSES = ("correct", "incorrect", "undecided")
#: a vector or matrix claim of at most this many entries is also compared with the mutations every entry
#: makes the same way (a count, so that a large matrix's diagnosis stays a bounded amount of work)
ELEMENTWISE_LIMIT = 400


@dataclass(frozen=True)
class Counterexample:
    """A point where the two sides differ: parameters, one example, and both values."""

    params: dict
    x: tuple
    y: tuple
    l2: dict
    claimed: object
    actual: object


@dataclass(frozen=True)
class Verdict:
    """The answer about one claim."""

    claim: object
    status: str
    method: str                      # "exact", "numeric" or "dimensions" (the shapes alone decide)
    points: int                      # random points compared numerically (0 when the proof needed none)
    truth: object                    # the correct formula, in named intermediates
    counterexample: Counterexample | None = None
    diagnosis: tuple[str, ...] = ()  # names of the mutations the claim matches
    #: why, as a key the templates phrase: "work" (undecided: the exact comparison would pass ``max_terms``
    #: terms), "not_proven" (correct by numbers only), "shapes" (``mismatches`` say which operands do not fit)
    #: or "result_shape" (the formula's shape is ``shape``, the quantity's that of ``truth``)
    reason: str | None = None
    line: int | None = None          # where the claim stands in a document
    #: kept for callers of earlier releases, which bounded the proof by seconds; always None now
    time_limit: float | None = None
    mismatches: tuple = ()           # formula.Mismatch of the products whose shapes do not fit
    shape: tuple | None = None       # the shape of the formula, when it is not that of the quantity
    #: with ``mismatches``, how the repaired formula fared: "exact" or "numeric" (it is right: the shapes are
    #: the only mistake), "incorrect" (``counterexample`` is where it differs), "unfit" (it still has the
    #: wrong shape); None when no repair fits
    repaired: str | None = None
    #: with reason "work", the bound of terms the exact comparison would have passed
    max_terms: int | None = None
    #: with the diagnosis "wrong_neuron" or "swapped_activation_index": (written, right) pairs of quantities,
    #: each a quantity of the claim that stands where another neuron's belongs
    neurons: tuple = ()
    #: a claim with index letters (l, j, k): each letter with the values it was checked at, how many
    #: concrete instances were checked, and the assignment of the instance this verdict shows (the first
    #: that is wrong or undecided, else the first)
    letters: tuple = ()
    instances: int = 1
    instance: tuple = ()

    @property
    def ok(self) -> bool:
        return self.status == "correct"


# ------------------------------------------------------------------ the truth


_TRUTHS: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def truth(derivation, target):
    """The correct value of what a claim's left-hand side names, in named intermediates (kept per derivation)."""
    known = _TRUTHS.setdefault(derivation, {})
    if target not in known:
        known[target] = _truth(derivation, target)
    return known[target]


def _truth(derivation, target):
    network = derivation.network
    if target.kind == "matrix":
        return sp.ImmutableMatrix([[truth(derivation, entry) for entry in row] for row in target.key])
    if target.kind == "cost":
        return derivation.forward.cost
    if target.kind == "gradient":
        return derivation.gradient(target.key, form="named")
    if target.kind == "delta":
        _, l, j = target.key
        return derivation._without_deltas(derivation.delta(l, j), opaque=False)
    if target.kind == "delta_vector":
        l = target.key[1]
        return sp.ImmutableMatrix([derivation._without_deltas(derivation.delta(l, j), opaque=False)
                                   for j in range(1, network.sizes[l] + 1)])
    if target.kind == "gradient_matrix":
        kind, l = target.key
        m, m_prev = network.sizes[l], network.sizes[l - 1]
        if kind == "W":
            return sp.ImmutableMatrix(m, m_prev, lambda j, k: derivation.gradient(("w", l, j + 1, k + 1), form="named"))
        if not network.layer(l).bias:
            raise ValueError(f"layer {l} has no biases")
        return sp.ImmutableMatrix([derivation.gradient(("b", l, j), form="named") for j in range(1, m + 1)])
    raise ValueError(f"unknown target kind {target.kind!r}")


def corrected_form(derivation, target):
    """The right formula to show a user: compact, in named intermediates, matrices as products."""
    network = derivation.network
    if target.kind == "matrix":
        return sp.ImmutableMatrix([[corrected_form(derivation, entry) for entry in row] for row in target.key])
    if target.kind == "cost":
        return derivation.forward.cost
    if target.kind == "gradient":
        return derivation.gradient(target.key)
    if target.kind == "delta":
        return derivation.delta(*target.key[1:])
    l = target.key[1]
    m = network.sizes[l]
    delta = LayerMatrix("delta", l, m)
    if target.kind == "gradient_matrix" and target.key[0] == "W":
        form = sp.MatMul(delta, sp.Transpose(LayerMatrix("a", l - 1, network.sizes[l - 1])))
        if network.l2 is not None:
            form = sp.MatAdd(form, sp.MatMul(network.l2 / N_EXAMPLES, LayerMatrix("W", l, m, network.sizes[l - 1])))
        return form
    if target.kind == "gradient_matrix":
        return delta
    rule = network.layer(l).activation
    if l == network.depth:
        if isinstance(rule, VectorActivation):
            fw = derivation.forward
            if all(derivation.delta(l, j) == fw.q("a", l, j) - fw.q("y", j) for j in range(1, m + 1)):
                return written_difference(LayerMatrix("a", l, m), LayerMatrix("y", l, m))
            from ..proof.general import Jacobian

            return sp.MatMul(sp.Transpose(Jacobian(l, m)), LayerMatrix("grad_a", l, m))
        return sp.HadamardProduct(LayerMatrix("grad_a", l, m), LayerMatrix("dsigma", l, m))
    W = LayerMatrix("W", l + 1, network.sizes[l + 1], m)
    return sp.HadamardProduct(sp.MatMul(sp.Transpose(W), LayerMatrix("delta", l + 1, network.sizes[l + 1])),
                              LayerMatrix("dsigma", l, m))


def _named(derivation, expr):
    """A user's formula in the derivation's named quantities: δ and chain-rule factors written out, λ as the
    network's regularisation strength when that is a number; σ and σ' stay as written."""
    if isinstance(expr, sp.MatrixBase):
        return expr.applyfunc(lambda e: _named(derivation, e))
    expr = sp.sympify(expr)
    network = derivation.network
    if network.l2 is not None and network.l2 != LAMBDA:  # λ is the network's strength, as in --l2 0.1
        expr = expr.xreplace({LAMBDA: network.l2})
    if expr.has(Partial):
        expr = expr.replace(lambda e: isinstance(e, Partial), lambda e: _partial_value(derivation, e))
    if expr.has(UNREGULARISED):  # C₀, the cost without its regulariser
        fw = derivation.forward
        expr = expr.xreplace({UNREGULARISED: fw.cost - fw.regulariser})
    return derivation._without_deltas(expr, opaque=False)


def _resolve(derivation, expr, named: bool = False):
    """A user's formula as numbers can evaluate it: :func:`_named` (unless ``named`` says it is already), with σ
    and σ' as the network's activation."""
    if isinstance(expr, sp.MatrixBase):
        return expr.applyfunc(lambda e: _resolve(derivation, e, named))
    if not named:
        expr = _named(derivation, expr)
    sigma, sigma_prime = opaque_functions("sigma")
    if not expr.has(sigma, sigma_prime):
        return expr

    def apply(function, prime):
        def replace(argument):
            rule = rule_for(derivation.network, argument)
            if rule is None:
                return (sigma_prime if prime else sigma)(argument)
            return rule.prime(argument) if prime else rule.apply(argument)
        return replace

    return expr.replace(sigma_prime, apply(sigma_prime, True)).replace(sigma, apply(sigma, False))


def _partial_value(derivation, partial):
    """The value of one chain-rule factor a claim writes (∂C/∂a^L_j, ∂a/∂z, ∂z/∂w, ∂z^{l+1}_k/∂z^l_j, ...).

    ∂C/∂(w, b, z, a, x) are the derivation's results: the gradients, δ, and for an
    activation of a hidden layer Σ_k w^{l+1}_{kj} δ^{l+1}_k. A derivative of one
    quantity of the forward pass with respect to another follows the layers by the
    chain rule (:func:`_forward_partial`).
    """
    from .reading import FormulaError

    fw, network = derivation.forward, derivation.network
    of, wrt = partial.of, partial.wrt
    if not (isinstance(wrt, Quantity) and wrt.kind in _FORWARD):
        raise FormulaError(f"the factor {partial} differentiates with respect to {wrt}; expected a weight, a bias, "
                           "an input, a weighted input z or an activation a")
    if of == UNREGULARISED:  # ∂C₀/∂θ: the gradient without the regulariser's term
        whole = _partial_value(derivation, Partial(COST, wrt))
        return whole - (fw.regulariser_gradient(wrt) if wrt.kind == "w" and network.l2 is not None else 0)
    if of == COST:
        if wrt.kind in ("w", "b"):
            return derivation.gradient((wrt.kind, *wrt.indices), form="named")
        if wrt.kind == "z":
            return fw.q("delta", *wrt.indices)
        if wrt.kind == "a" and wrt.indices[0] == network.depth:
            return sp.diff(fw.cost, wrt)
        # a hidden activation (or an input, the activation of layer 0) feeds every neuron of the next layer
        l, j = (wrt.indices if wrt.kind == "a" else (0, *wrt.indices))
        return sp.Add(*[fw.q("w", l + 1, k, j) * fw.q("delta", l + 1, k)
                        for k in range(1, network.sizes[l + 1] + 1)])
    if isinstance(of, Quantity) and of.kind in _FORWARD:
        return _forward_partial(fw, of, wrt, {})
    raise FormulaError(f"the factor {partial} differentiates {of}; expected the cost, or a weighted input z or an "
                       "activation a of the forward pass")


#: the kinds of quantity of the forward pass: inputs (the activations of layer 0), parameters, z and a
_FORWARD = ("x", "w", "b", "z", "a")


def _layer_of(q) -> int:
    return 0 if q.kind == "x" else q.indices[0]


def _depends(of, wrt) -> bool:
    """Whether the forward quantity ``of`` can depend on ``wrt`` at all (``wrt`` comes earlier in the pass)."""
    if of.kind in ("x", "w", "b"):
        return False
    l, m = _layer_of(of), _layer_of(wrt)
    if wrt.kind in ("w", "b"):                    # parameters of layer m feed z^m and everything after it
        return m <= l
    # a quantity of layer m: z^m feeds a^m and layers above; a^m (or x, m = 0) feeds layer m + 1 and above
    return m < l or (m == l and of.kind == "a" and wrt.kind == "z")


def _forward_partial(fw, of, wrt, memo):
    """∂of/∂wrt for two quantities of the forward pass, by the chain rule through the layers.

    One layer deep:  ∂z^l_j/∂w^l_{jk} = a^{l-1}_k,  ∂z^l_j/∂b^l_j = 1,  ∂z^l_j/∂a^{l-1}_k = w^l_{jk},
    ∂a^l_j/∂z^l_j = σ'(z^l_j) (an element-wise activation; 0 for another neuron), and for softmax
    ∂a^l_j/∂z^l_i = a^l_j (δ_ji − a^l_i). Further apart, every path is summed:
    ∂z^l_j/∂Y = ∂z^l_j/∂Y|direct + Σ_k w^l_{jk} ∂a^{l-1}_k/∂Y and ∂a^l_j/∂Y = Σ_i ∂a^l_j/∂z^l_i ∂z^l_i/∂Y,
    so that ∂z^{l+1}_k/∂z^l_j = w^{l+1}_{kj} σ'(z^l_j). A quantity that does not depend on Y gives 0.
    Memoised in ``memo`` per (of, wrt): the work is polynomial in the size of the network.
    """
    if of == wrt:
        return sp.S.One
    if not _depends(of, wrt):
        return sp.S.Zero
    key = (of, wrt)
    if key in memo:
        return memo[key]
    l, j = of.indices
    if of.kind == "z":
        direct = sp.diff(fw.z_definition(l, j), wrt) if wrt.kind in ("w", "b") and wrt.indices[0] == l else 0
        paths = [fw.q("w", l, j, k) * _forward_partial(fw, a, wrt, memo)
                 for k, a in enumerate(fw.activations(l - 1), start=1)]
        value = sp.Add(direct, *paths)
    else:
        rule = fw.network.layer(l).activation
        if isinstance(rule, VectorActivation):
            outputs = list(fw.activations(l))
            value = sp.Add(*[rule.jacobian_named(j - 1, i, outputs) * _forward_partial(fw, z, wrt, memo)
                             for i, z in enumerate(fw.weighted_inputs(l))])
        else:
            z = fw.q("z", l, j)
            value = rule.prime_named(z, of) * _forward_partial(fw, z, wrt, memo)
    memo[key] = value
    return value


# ------------------------------------------------------------------ numbers


_SAMPLES: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def _points(derivation, count, seed, extra=()):
    """``count`` random points (seeded), each with the values of the quantities of the forward pass there.

    The number of examples n gets a value when the cost is a mean, and so does every symbol of
    ``extra`` (symbols a claim writes that the network leaves free, such as η, or λ without
    regularisation): a formula that depends on them is checked at their values too. (A λ of a
    network with a fixed strength is that number already: see :func:`_resolve`.) The points of one
    derivation are kept while it lives: the claims of one document share them.
    """
    key = (count, seed, frozenset(extra))
    cache = _SAMPLES.setdefault(derivation, {})
    if key in cache:
        return cache[key]
    rng = random.Random(seed)

    def draw():
        point = random_point(derivation, rng)
        if derivation.network.mean and "n" not in point.l2:
            point = replace(point, l2={**point.l2, "n": sp.Integer(rng.randint(1, 100))})
        known = _forward_values(derivation, point)
        free = {}
        for symbol in sorted(extra, key=sp.default_sort_key):
            if symbol not in known:
                free[symbol] = sp.Rational(rng.randint(1, 99), 100)
        if free:
            point = replace(point, l2={**point.l2, **free})
            known = _Values({**known, **free})
        return point, known

    points = [draw() for _ in range(count)]
    # A formula with a kink (ReLU's slope) can be wrong on one side only: more points are drawn until every
    # weighted input of a kinked activation has been seen on both sides of each kink, or the draws run out.
    unseen = _branches(derivation) - {side for _, known in points for side in _sides(derivation, known)}
    for _ in range(BRANCH_DRAWS if unseen else 0):
        point, known = draw()
        if unseen & _sides(derivation, known):
            unseen -= _sides(derivation, known)
            points.append((point, known))
            if not unseen:
                break
    cache[key] = points
    return points


#: the most extra points drawn to see each kinked weighted input on both sides of its kink
BRANCH_DRAWS = 60


def _kinked(derivation) -> list:
    """(z, kink) for every weighted input of an activation with kinks (ReLU and the leaky ReLU at 0)."""
    fw, found = derivation.forward, []
    for layer in derivation.network.layers:
        rule = layer.activation
        if isinstance(rule, VectorActivation):
            continue
        for kink in kinks(rule.forward):
            found += [(fw.q("z", layer.index, j), kink) for j in range(1, layer.size + 1)]
    return found


def _branches(derivation) -> set:
    """Every (z, kink, side) a sample should cover: each kinked weighted input below and above each kink."""
    return {(z, kink, side) for z, kink in _kinked(derivation) for side in (False, True)}


def _sides(derivation, known) -> set:
    """The (z, kink, side) of one point: on which side of each kink its weighted inputs lie."""
    return {(z, kink, bool(known[z] > kink)) for z, kink in _kinked(derivation)}


def _forward_values(derivation, point) -> dict:
    """Every quantity of the forward pass at ``point``: the point's exact numbers, and z and a layer by layer
    (40-digit mpmath numbers; z of the first layer exactly, in integers over a common denominator)."""
    network, fw = derivation.network, derivation.forward
    known = _Values({fw.q(*key): value for key, value in point.params.items()})
    known.update(zip(fw.inputs, point.x))
    known.update(zip(fw.targets, point.y))
    if "lambda" in point.l2:
        known[LAMBDA] = sp.Rational(point.l2["lambda"])
    if "n" in point.l2:
        known[N_EXAMPLES] = sp.Rational(point.l2["n"])
    stand_in = stand_in_for(network)
    with mpmath.workdps(DIGITS):
        previous = [sp.Rational(v) for v in point.x]
        for layer in network.layers:
            l = layer.index
            rows = [[point.params[("w", l, j, k)] for k in range(1, len(previous) + 1)]
                    for j in range(1, layer.size + 1)]
            biases = [point.params[("b", l, j)] if layer.bias else 0 for j in range(1, layer.size + 1)]
            zs = [_dot(row, previous, bias) for row, bias in zip(rows, biases)]
            rule = layer.activation
            if isinstance(rule, VectorActivation):  # softmax, from its definition
                exps = [mpmath.exp(z) for z in zs]
                total = mpmath.fsum(exps)
                outputs = [e / total for e in exps]
            else:
                f = _numeric_activation(rule, stand_in)
                outputs = [mpmath.mpf(f(z)) for z in zs]
            for j, (z, a) in enumerate(zip(zs, outputs), start=1):
                known[fw.q("z", l, j)] = sp.Float(z, DIGITS)
                known[fw.q("a", l, j)] = sp.Float(a, DIGITS)
            previous = outputs
    return known


def _dot(weights, inputs, bias):
    """Σ_k w_k a_k + b at 40 digits; exact (integers over a common denominator) when every number is rational."""
    if all(isinstance(v, sp.Rational) for v in inputs):
        numbers = [*weights, *inputs, sp.Rational(bias)]
        scale = 1
        for q in {v.q for v in numbers}:
            scale = math.lcm(scale, q)
        total = sum((w.p * (scale // w.q)) * (a.p * (scale // a.q)) for w, a in zip(weights, inputs))
        bias = sp.Rational(bias)
        total += bias.p * (scale // bias.q) * scale
        return mpmath.mpf(total) / (scale * scale)
    return mpmath.fdot([_mpf(w) for w in weights], inputs) + _mpf(bias)


def _mpf(value):
    value = sp.Rational(value)
    return mpmath.mpf(value.p) / value.q


@lru_cache(maxsize=64)
def _numeric_activation(rule, stand_in):
    """σ of an element-wise rule as an mpmath function (a generic σ realised by ``stand_in``)."""
    from ..model.activations import Z

    return mpmath_function(Z, realise(rule.forward, stand_in))


def _unvalued(derivation, expr) -> set:
    """The symbols of ``expr`` that no point of the network gives a value (λ, n, η, m ...)."""
    symbols = expr.free_symbols if not isinstance(expr, sp.MatrixBase) else set().union(
        *(e.free_symbols for e in expr))
    known = set(derivation.forward.symbols.values()) | set(derivation.forward.inputs) \
        | set(derivation.forward.targets)
    return {s for s in symbols if s not in known and not (isinstance(s, Quantity) and s.kind in ("z", "a", "delta"))}


class _Values(dict):
    """The numbers of one point by symbol, with a memo of the values of the expressions evaluated there: the
    claim, the truth and their mutations share most subexpressions (a δ written out in every entry of ∂C/∂W)."""

    def __init__(self, *arguments):
        super().__init__(*arguments)
        self.memo: dict = {}


def _value(expr, known, stand_in=GENERIC_STAND_IN):
    """``expr`` at a point (40 digits); a generic σ is realised by ``stand_in``, as the point's own values were."""
    if isinstance(expr, sp.MatrixBase):
        return expr.applyfunc(lambda e: _value(e, known, stand_in))
    memo = known.memo if isinstance(known, _Values) else {}
    with mpmath.workdps(DIGITS):
        try:
            value = _evaluate(sp.sympify(expr), known, stand_in, memo)
        except TypeError:  # SymPy's complex value (the log of a negative number) as a real number
            return sp.nan
        # outside its domain (log 0, log of a negative number) a formula has no real value: NaN,
        # which agrees with nothing
        if not isinstance(value, mpmath.mpf) or not mpmath.isfinite(value):
            return sp.nan
        return sp.Float(value, DIGITS)


_FUNCTIONS = {sp.exp: mpmath.exp, sp.log: mpmath.log, sp.tanh: mpmath.tanh}


def _evaluate(expr, known, stand_in, memo):
    """The mpmath value of ``expr``, each subexpression once (``memo``); what has no rule here goes to SymPy."""
    if expr in memo:
        return memo[expr]
    if expr.is_Number:
        value = mpmath.mpf(expr._to_mpmath(mpmath.mp.prec))
    elif expr.is_Symbol and expr in known:
        value = mpmath.mpf(sp.sympify(known[expr])._to_mpmath(mpmath.mp.prec))
    elif expr.is_Add:
        value = mpmath.fsum(_evaluate(a, known, stand_in, memo) for a in expr.args)
    elif expr.is_Mul:
        value = mpmath.fprod(_evaluate(a, known, stand_in, memo) for a in expr.args)
    elif expr.is_Pow and expr.exp.is_Integer:
        value = _evaluate(expr.base, known, stand_in, memo) ** int(expr.exp)
    elif expr.func in _FUNCTIONS and len(expr.args) == 1:
        value = _FUNCTIONS[expr.func](_evaluate(expr.args[0], known, stand_in, memo))
    elif expr.func in (SIGMA, SIGMA_PRIME):
        function, derivative = _stand_in_functions(stand_in)
        value = (derivative if expr.func is SIGMA_PRIME else function)(_evaluate(expr.args[0], known, stand_in, memo))
    else:
        realised = realise(expr, stand_in)
        here = {s: known[s] for s in realised.free_symbols if s in known}
        value = mpmath.mpf(sp.Float(realised.xreplace(here).evalf(DIGITS), DIGITS)._to_mpmath(mpmath.mp.prec))
    memo[expr] = value
    return value


@lru_cache(maxsize=8)
def _stand_in_functions(stand_in):
    """The stand-in for a generic σ and its derivative, as mpmath functions."""
    from ..model.activations import Z

    return mpmath_function(Z, stand_in), mpmath_function(Z, sp.diff(stand_in, Z))


def _agree(left, right) -> bool:
    if isinstance(left, sp.MatrixBase) or isinstance(right, sp.MatrixBase):
        if not (isinstance(left, sp.MatrixBase) and isinstance(right, sp.MatrixBase)) or left.shape != right.shape:
            return False
        return all(_agree(a, b) for a, b in zip(left, right))
    if not (left.is_number and right.is_number) or sp.nan in (left, right):
        return False
    return abs(left - right) <= TOLERANCE * max(1, abs(right))


# ------------------------------------------------------------------ mutations


def mutations(derivation, target) -> dict:
    """Wrong versions of the correct formula, by the name of the mistake they make."""
    network = derivation.network
    correct = truth(derivation, target)
    found = {
        "sign": -correct,
        "factor_2": 2 * correct,
        "factor_half": correct / 2,
    }
    # an extra 1/n: the mean over the examples written into the formula of one example
    found["factor_1_over_n"] = correct / N_EXAMPLES
    if target.kind == "cost":
        found.update(_cost_mutations(derivation))
    if target.kind in ("gradient_matrix", "delta_vector"):
        if correct.shape[0] == correct.shape[1]:
            found["missing_transpose"] = correct.T
        if correct.shape[0] * correct.shape[1] <= ELEMENTWISE_LIMIT:
            found.update(_elementwise_mutations(derivation, target, correct.shape))
    if target.kind in ("gradient", "delta"):
        l, j = target.key[1], target.key[2]
        found.update(_delta_mutations(derivation, target, l, j))
    if target.kind == "gradient" and target.key[0] == "w":
        found.update(_weight_mutations(derivation, target.key))
    if target.kind in ("gradient", "gradient_matrix") and network.l2 is not None and target.key[0] in ("w", "W"):
        regulariser = _regulariser(derivation, target)
        found["missing_regularisation"] = correct - regulariser
        # the regulariser's derivative written λw instead of (λ/n)w
        found["regulariser_without_1_over_n"] = correct + (N_EXAMPLES - 1) * regulariser
    return found


def _cost_mutations(derivation) -> dict:
    """The cost with the term of one output subtracted instead of added, or without its regulariser."""
    fw, network = derivation.forward, derivation.network
    outputs = fw.activations(network.depth)
    terms = [network.cost.total([a], [y]) for a, y in zip(outputs, fw.targets)]
    found = {f"subtracted_term#{j}": sp.Add(*terms[:j], -terms[j], *terms[j + 1:]) + fw.regulariser
             for j in range(1, len(terms))}
    if network.l2 is not None:
        found["missing_regularisation"] = sp.Add(*terms)
    return found


def mistake_name(key: str) -> str:
    """The name of the mistake a mutation makes (several mutations can make one mistake)."""
    return key.split("#")[0]


def _elementwise_mutations(derivation, target, shape) -> dict:
    """A vector or matrix claim's mutations: those that every element makes the same way."""
    kind, l = target.key
    elements = []
    for index in range(shape[0] * shape[1]):
        r, c = divmod(index, shape[1])
        if target.kind == "delta_vector":
            element = _Target("delta", ("delta", l, r + 1))
        elif kind == "W":
            element = _Target("gradient", ("w", l, r + 1, c + 1))
        else:
            element = _Target("gradient", ("b", l, r + 1))
        elements.append(mutations(derivation, element))
    common = set(elements[0]).intersection(*elements[1:]) - {"sign", "factor_2", "factor_half", "factor_1_over_n",
                                                               "missing_regularisation"}
    found = {name: sp.ImmutableMatrix(shape[0], shape[1], [e[name] for e in elements]) for name in sorted(common)}
    # the next layer's weights without their transpose: (W^{l+1} δ^{l+1}) ⊙ σ'(z^l), for square W^{l+1}
    if "swapped_indices#next_layer" in found:
        found["missing_transpose#next_layer"] = found.pop("swapped_indices#next_layer")
    return found


@dataclass(frozen=True)
class _Target:
    kind: str
    key: tuple


def _regulariser(derivation, target):
    fw = derivation.forward
    if target.kind == "gradient":
        return fw.regulariser_gradient(fw.q(*target.key))
    _, l = target.key
    m, m_prev = derivation.network.sizes[l], derivation.network.sizes[l - 1]
    return sp.ImmutableMatrix(m, m_prev, lambda j, k: fw.regulariser_gradient(fw.q("w", l, j + 1, k + 1)))


def _rebuild(derivation, target, l, j, delta_value):
    """The claim's quantity with δ^l_j replaced by ``delta_value`` (in named intermediates)."""
    fw = derivation.forward
    delta_value = derivation._without_deltas(delta_value, opaque=False)
    if target.kind == "delta":
        return delta_value
    key = target.key
    if key[0] == "b":
        return delta_value
    grad = delta_value * fw.activations(l - 1)[key[3] - 1]
    if derivation.network.l2 is not None:
        grad += fw.regulariser_gradient(fw.q(*key))
    return grad


def _delta_mutations(derivation, target, l, j) -> dict:
    network, fw = derivation.network, derivation.forward
    rule = network.layer(l).activation
    found = {}
    if isinstance(rule, VectorActivation):
        return found
    z, a = fw.q("z", l, j), fw.q("a", l, j)
    raw = derivation.deltas[(l, j)].raw
    prime = rule.prime_function(z)
    found["missing_activation_derivative"] = _rebuild(derivation, target, l, j, raw.xreplace({prime: 1}))
    found["derivative_at_activation"] = _rebuild(derivation, target, l, j, raw.xreplace({prime: rule.prime(a)}))
    if rule.name != "sigmoid":
        found["sigmoid_derivative_for_other_activation"] = _rebuild(derivation, target, l, j,
                                                                      raw.xreplace({prime: a * (1 - a)}))
    if l < network.depth:
        following = fw.deltas(l + 1)
        size = network.sizes[l + 1]
        # Σ_k w^{l+1}_{kj} δ^{l+1}_k with the weight's indices swapped (only where w^{l+1}_{jk} exists)
        if j <= size and all(k <= network.sizes[l] for k in range(1, size + 1)):
            swapped = sp.Add(*[fw.q("w", l + 1, j, k) * following[k - 1] for k in range(1, size + 1)
                               if ("w", l + 1, j, k) in fw.symbols])
            found["swapped_indices#next_layer"] = _rebuild(derivation, target, l, j, swapped * rule.prime_named(z, a))
        # the weights of layer l instead of those of layer l + 1 (summed where w^l_{kj} exists)
        own = [fw.q("w", l, k, j) * following[k - 1] for k in range(1, size + 1) if ("w", l, k, j) in fw.symbols]
        if own:
            found["wrong_layer#weights"] = _rebuild(derivation, target, l, j, sp.Add(*own) * rule.prime_named(z, a))
        # one path only: the sum over the next layer dropped
        if size > 1:
            k = min(j, size)
            single = fw.q("w", l + 1, k, j) * following[k - 1] * rule.prime_named(z, a)
            found["missing_sum"] = _rebuild(derivation, target, l, j, single)
    return found


def _weight_mutations(derivation, key) -> dict:
    network, fw = derivation.network, derivation.forward
    _, l, j, k = key
    found = {}
    delta = derivation._without_deltas(derivation.delta(l, j), opaque=False)
    regulariser = fw.regulariser_gradient(fw.q(*key)) if network.l2 is not None else 0
    # w^l_{jk} read as w^l_{kj}: the gradient of the weight with swapped indices
    if ("w", l, k, j) in fw.symbols and k != j:
        found["swapped_indices"] = derivation.gradient(("w", l, k, j), form="named")
    # the activation taken from the wrong layer
    for shift in (1, -1):
        layer = l - 1 + shift
        if 0 <= layer <= network.depth and k <= network.sizes[layer]:
            found.setdefault("wrong_layer", delta * fw.activations(layer)[k - 1] + regulariser)
    # the error of the layer after or before the weight's own
    for place, layer in (("after", l + 1), ("before", l - 1)):
        if 1 <= layer <= network.depth and j <= network.sizes[layer]:
            other = derivation._without_deltas(derivation.delta(layer, j), opaque=False)
            found[f"wrong_layer_delta#{place}"] = other * fw.activations(l - 1)[k - 1] + regulariser
    return found


# ------------------------------------------------------------------ the check


def check_claim(claim, derivation, points: int = POINTS, seed: int = 0, time_limit: float | None = None,
                max_terms: int = MAX_TERMS) -> Verdict:
    """Decide whether ``claim`` holds for ``derivation`` (see the module docstring).

    ``max_terms`` bounds the work of the exact comparison (see :mod:`symbackprop.claims.exact`);
    ``time_limit`` is accepted for callers of earlier releases and has no effect: no verdict
    depends on the clock.
    """
    correct = truth(derivation, claim.target)
    if claim.repairs:
        return _mismatched(claim, derivation, correct, points, seed, max_terms)
    named = _named(derivation, claim.rhs)
    if _shape_of(correct) != _shape_of(named):
        return Verdict(claim, "incorrect", "dimensions", 0, correct,
                       diagnosis=_shape_diagnosis(_shape_of(correct), _shape_of(named)),
                       reason="result_shape", shape=_shape_of(named))
    proven = _prove(derivation, named, correct, max_terms)
    if proven:
        return Verdict(claim, "correct", "exact", 0, correct)
    # not shown identical: the numbers find the point where the two sides differ
    claimed = _resolve(derivation, named, named=True)
    sample = _points(derivation, points, seed, _unvalued(derivation, claimed))
    example = _counterexample(derivation, correct, claimed, sample)
    if example is not None:
        diagnosis, neurons = _diagnose(derivation, claim, claimed, sample)
        return Verdict(claim, "incorrect", "numeric", len(sample), correct, example, diagnosis, neurons=neurons)
    if proven is None:
        return Verdict(claim, "undecided", "numeric", len(sample), correct, reason="work", max_terms=max_terms)
    return Verdict(claim, "correct", "numeric", len(sample), correct, reason="not_proven")


def _counterexample(derivation, correct, claimed, sample) -> Counterexample | None:
    """The first point of ``sample`` where the two formulas differ, with both values there."""
    stand_in = stand_in_for(derivation.network)
    for point, known in sample:
        actual, value = _value(correct, known, stand_in), _value(claimed, known, stand_in)
        if not _agree(value, actual):
            return Counterexample(point.params, point.x, point.y, point.l2, value, actual)
    return None


def _prove(derivation, claimed, correct, max_terms: int = MAX_TERMS) -> bool | None:
    """Whether the two formulas are identical, decided exactly (None past ``max_terms`` terms)."""
    return decide(derivation, claimed, correct, max_terms)


def _mismatched(claim, derivation, correct, points, seed, max_terms) -> Verdict:
    """A claim whose shapes do not fit: wrong as written; the repairs that make it fit are the diagnosis.

    The repaired formula is then checked like any claim (``Verdict.repaired`` says how it fared): when
    it is right, the shapes are the only mistake; when it is still wrong, the point where it differs is
    the counterexample and the mutations it matches are added to the diagnosis.
    """
    names = [mismatch.mistake for mismatch in claim.repairs]
    def verdict(**found):
        return Verdict(claim, "incorrect", "dimensions", truth=correct, reason="shapes", mismatches=claim.repairs,
                       **found)

    if claim.rhs is None:                         # no repair fits
        return verdict(points=0, diagnosis=tuple(dict.fromkeys(names)))
    named = _named(derivation, claim.rhs)
    if _shape_of(named) != _shape_of(correct):
        return verdict(points=0, diagnosis=tuple(dict.fromkeys([*names, "wrong_shape"])), repaired="unfit")
    if _prove(derivation, named, correct, max_terms):
        return verdict(points=0, diagnosis=tuple(dict.fromkeys(names)), repaired="exact")
    repaired = _resolve(derivation, named, named=True)
    sample = _points(derivation, points, seed, _unvalued(derivation, repaired))
    example = _counterexample(derivation, correct, repaired, sample)
    if example is not None:
        found, neurons = _diagnose(derivation, claim, repaired, sample)
        return verdict(points=len(sample), counterexample=example, diagnosis=tuple(dict.fromkeys([*names, *found])),
                       repaired="incorrect", neurons=neurons)
    return verdict(points=len(sample), diagnosis=tuple(dict.fromkeys(names)), repaired="numeric")


def _diagnose(derivation, claim, claimed, sample) -> tuple[tuple[str, ...], tuple]:
    """The names of the mutations ``claimed`` agrees with at two points of ``sample`` (the first where the
    claim is wrong, and one more), and the (written, right) quantities of the wrong neurons among them.
    A mutation must match the claim where the claim fails: a slope wrong on one side of a kink is not
    explained by a mutation that agrees only on the other side.

    A transpose missing from a matrix written entry by entry is a layout mistake (``transposed_layout``).
    """
    found, neurons = [], []
    stand_in = stand_in_for(derivation.network)

    correct = truth(derivation, claim.target)
    wrong_first = sorted(sample, key=lambda entry: bool(_agree(_value(claimed, entry[1], stand_in),
                                                               _value(correct, entry[1], stand_in))))
    points = [(known, _value(claimed, known, stand_in)) for _, known in wrong_first[:2]]

    def agrees(mutant) -> bool:
        """Whether the mutant has the claim's values at the points, entry by entry until one differs."""
        try:
            for known, value in points:
                if isinstance(value, sp.MatrixBase) != isinstance(mutant, sp.MatrixBase):
                    return False
                if isinstance(value, sp.MatrixBase):
                    if value.shape != mutant.shape or not all(_agree(v, _value(m, known, stand_in))
                                                              for v, m in zip(value, mutant)):
                        return False
                elif not _agree(value, _value(mutant, known, stand_in)):
                    return False
            return True
        except (TypeError, ValueError, sp.ShapeError):
            return False

    for key, mutant in mutations(derivation, claim.target).items():
        if agrees(mutant):
            found.append(mistake_name(key))
    for name, pair, mutant in _neuron_mutations(derivation, claim.target, claimed, claim.rhs):
        if agrees(mutant):
            found.append(name)
            neurons.append(pair)
    if claim.entrywise:
        found = ["transposed_layout" if name == "missing_transpose" else name for name in found]
    return tuple(dict.fromkeys(found)), tuple(dict.fromkeys(neurons))


def _neuron_mutations(derivation, target, claimed, written) -> list:
    """The correct formula with one neuron's quantities (z, a, and y at the output) taken at another neuron of
    its layer that the claim writes: (name, (written, right), mutant). ``claimed`` is the claim in named
    quantities, ``written`` as the user wrote it (its quantities name the neuron in the pairs).

    For ∂C/∂w^l_{jk} the activation a^{l-1}_j where a^{l-1}_k belongs is ``swapped_activation_index`` (the
    index of the neuron the weight leads into); every other such mistake is ``wrong_neuron``.
    """
    if target.kind not in ("gradient", "delta"):
        return []
    network, fw = derivation.network, derivation.forward
    correct = truth(derivation, target)

    def neurons(expr) -> dict:
        found = {}
        for s in sorted(expr.free_symbols, key=sp.default_sort_key):
            if isinstance(s, Quantity) and s.kind in ("z", "a", "delta", "x", "y"):
                layer = {"x": 0, "y": network.depth}.get(s.kind, s.indices[0])
                found.setdefault((layer, s.indices[-1]), s)
        return found

    def quantities(l, j) -> dict:
        if l == 0:
            return {"x": fw.q("x", j)}
        found = {kind: fw.q(kind, l, j) for kind in ("z", "a", "delta")}
        if l == network.depth:
            found["y"] = fw.q("y", j)
        return found

    written = {**neurons(sp.sympify(claimed)), **neurons(sp.sympify(written))}
    results = []
    for (l, j) in sorted(neurons(correct)):
        for (m, k), wrong in sorted(written.items()):
            if m != l or k == j:
                continue
            old, new = quantities(l, j), quantities(l, k)
            mutant = correct.xreplace({old[kind]: new[kind] for kind in old})
            swapped = target.key[0] == "w" and l == target.key[1] - 1 and (j, k) == (target.key[3], target.key[2])
            pair = (wrong, quantities(l, j)[wrong.kind])
            results.append(("swapped_activation_index" if swapped else "wrong_neuron", pair, mutant))
    return results


def _shape_diagnosis(expected, got) -> tuple[str, ...]:
    if tuple(reversed(got)) == tuple(expected):
        return ("missing_transpose",)
    return ("wrong_shape",)


# ------------------------------------------------------------------ the API


@dataclass(frozen=True)
class Unreadable:
    """A formula of a document that could not be read as a claim; ``message`` says why."""

    text: str
    line: int
    message: str
    status: str = "unreadable"


#: why a display is not read as a claim, by the key the templates phrase
SKIP_REASONS = (
    "definition",  # an equation whose left-hand side names no gradient, error or cost (z = ..., a = ..., σ' = ...)
    "rewrite",     # a step A ⟼ B of a general proof: each is proven by the general prover that wrote it
    "value",       # a decimal number at the point of a worked example: a value, not a formula about the network
    "record",      # a JSON output's record of how derive checked its result (the formulas themselves are decided)
)


@dataclass(frozen=True)
class Skipped:
    """A display that is not a claim about a gradient, an error or the cost; ``reason`` (SKIP_REASONS) says why."""

    text: str
    line: int
    status: str = "skipped"
    reason: str = "definition"


@without_cycle_collection
def check_formula(text: str, network, notation: str = "nielsen", syntax: str = "auto", derivation=None,
                  star: str = "product", **options) -> Verdict:
    """Parse the claim ``LHS = RHS`` about ``network`` in ``notation`` and decide it.

    >>> from symbackprop import Network
    >>> v = check_formula(r"\\delta^{3}_{1} = (a^{3}_{1} - y_{1}) \\sigma'(z^{3}_{1})", Network([2, 2, 2]))
    >>> v.status, v.method
    ('correct', 'exact')
    """
    from ..proof.chain import derive
    from .formula import parse_claim

    claim = parse_claim(text, network, notation, syntax, repair=True, star=star)
    return check_claim(claim, derivation or derive(network), **options)


@without_cycle_collection
def check_document(document: str, fmt: str, network, notation: str = "nielsen", derivation=None,
                   star: str = "product", decided: dict | None = None, progress=None, values=None, equations=None,
                   **options) -> list:
    """Every claim among the display equations of a Markdown or LaTeX document, by line.

    A chain ``A = B = C`` whose first member names a gradient, an error or the cost
    gives the claims ``A = B`` and ``A = C``; a display that starts with ``=``
    continues the claim of the display before it (``A = B`` then ``= C`` gives
    ``A = C``). A claim with index letters (``\\delta^{(l)}_{j}``, ``w^{l}_{jk}``) holds
    when it holds at every concrete layer and index of the network where it can be
    written: it is checked at each of them, and the verdict lists the values
    (``Verdict.letters``). Other displays are skipped, with the reason
    (:data:`SKIP_REASONS`).

    A member of a chain that is arithmetic on numbers (a worked example's ``0.3 \\cdot 1 + 0.1`` or
    ``0.35``) is a value at one point: with ``values`` (a :class:`~symbackprop.claims.values.WorkedPoint`,
    the point the example was computed at) it is decided there (:mod:`symbackprop.claims.values`), giving
    a :class:`~symbackprop.claims.values.ValueVerdict`; without, it is skipped (reason ``value``). So are the
    numbers of a table row whose first cell names a parameter, an input or a target (a worked example's
    parameters before and after the step, :mod:`symbackprop.claims.tables`).

    ``decided`` may hold the readings and verdicts of an earlier call with the same derivation, notation
    and options (a dict this call fills): documents that state the same claims, such as one derivation
    in several languages and formats, then read and decide each claim once. ``progress``, when given, is
    called with (equations done, equations) before each display equation. ``equations``, when given, are the
    (line, LaTeX) pairs to read in place of the document's displays (the formulas of a JSON output).
    """
    from ..documents import printing
    from ..proof.chain import derive
    from .extraction import extract_equations, extract_table_rows
    from .tables import merged, table_results

    derivation = derivation or derive(network)
    known = {} if decided is None else decided  # verdicts by what a claim says, for claims stated again
    equations = list(extract_equations(document, fmt)) if equations is None else list(equations)

    def read_shown(text):
        return _remembered(known, ("shown", text), lambda: read_shown_formula(text, network, notation, star))

    def worked_value(lhs):
        return _remembered(known, ("worked", lhs, id(values)), lambda: _worked_value(derivation, lhs, notation, star, values))

    def claims(lhs, rhs, members):
        return _remembered(known, ("read", f"{lhs} = {rhs}", tuple(members)), lambda: claim_instances(
            f"{lhs} = {rhs}", network, notation, "latex", repair=True, star=star, context=tuple(members)))

    def names(lhs):
        return _remembered(known, ("names", lhs), lambda: _names_quantity(lhs, network, notation))

    def decide(claim):
        return _checked(claim, derivation, known, options)

    results = read_chains(equations, claims, names, decide, read_shown, worked_value, values, progress,
                          decimal_value=_decimal_value)
    if not document:
        return results
    return merged(results, table_results(extract_table_rows(document, fmt), lambda cell: _remembered(
        known, ("row", cell), lambda: _row_quantities(derivation, cell, notation, star)),
        lambda expr: _value_at(derivation, expr, values), read_shown, values,
        lambda expr: printing.latex(expr, notation=notation, sizes=network.sizes)))


def _row_quantities(derivation, cell: str, notation: str, star: str):
    """What a table row whose first cell is ``cell`` states about the network, column by column: a parameter's
    value, gradient and value after the step; an input's or a target's value; or None (no claim)."""
    from .formula import parse_formula
    from .outputs import ETA
    from .tables import step_quantities

    fw = derivation.forward
    try:
        expr = parse_formula(cell, derivation.network, notation, "latex", star)
    except SpecError:
        return None
    if isinstance(expr, sp.MatrixBase):
        return None
    if expr in {fw.q(*key) for key in derivation.params}:
        return step_quantities(expr, COST, ETA)
    if expr in set(fw.inputs) | set(fw.targets):
        return (expr,)
    return None


def read_chains(equations, claims, names, decide, read_shown, worked_value, values, progress=None,
                decimal_value=None, shorthand=None) -> list:
    """The verdicts of every chain of ``equations`` ((line, latex) pairs), for dense and layered documents alike.

    ``claims(lhs, rhs, members)`` reads one claim at every value of its letters (an ``Instances``), ``names(lhs)``
    says whether a left-hand side names a quantity claims can be about, ``decide(claim)`` decides one concrete
    claim; ``read_shown(text)`` reads a member as arithmetic with its decimals as symbols and ``worked_value(lhs)``
    evaluates a left-hand side at the point of ``values`` (see :mod:`symbackprop.claims.values`).
    ``shorthand(text)``, when given, decides a claim that does not read with the network's entries in another
    reading (batch normalisation's statements about one channel), or gives None.
    """
    from ..errors import SpecError
    from .extraction import split_chain
    from .values import has_decimal, numeric_members

    results = []
    chains = []  # each equation's members and the members that are arithmetic on numbers
    for line, latex in equations:
        members = split_chain(latex)
        chains.append((members, numeric_members(members, read_shown) if len(members) > 1 else {}))
    # a document that writes decimals as members of its chains is a worked example: its numbers are values
    worked = any(has_decimal(members[i]) for members, numbers in chains for i in numbers)
    previous = None                      # the left-hand side of the last display that named a quantity
    for done, ((line, latex), (members, numbers)) in enumerate(zip(equations, chains)):
        if progress is not None:
            progress(done, len(equations))
        if len(members) < 2:  # no equation: a rewriting step is listed, a lone expression or condition is not
            if _REWRITE.search(latex):
                results.append(Skipped(latex, line, reason="rewrite"))
            previous = None
            continue
        lhs = members[0]
        if not lhs and previous is not None:
            lhs = previous
        if not lhs:
            numbers = {}
        named = None  # whether the left-hand side names a quantity: known once a member reads, else asked
        definition = False  # a left-hand side that names no quantity: its formulas are one skipped definition
        previous = None
        for index, rhs in enumerate(members[1:], start=1):
            text = f"{lhs} = {rhs}"
            if index in numbers and (worked or values is not None):
                verdict = _number_verdict(text, line, lhs, rhs, numbers[index], worked_value, values)
                if verdict is not None:
                    results.append(verdict)
                    continue
            if definition:
                continue
            try:
                instances = claims(lhs, rhs, members)
            except SpecError as error:
                if named is None:
                    named = names(lhs)
                    previous = lhs if named else None
                other = shorthand(text) if shorthand is not None else None
                if named:  # unless it reads as a statement about one channel (whose letters name entries too)
                    results.append(_at_line(other, line) if other is not None else Unreadable(text, line, str(error)))
                    continue
                if other is not None:
                    results.append(_at_line(other, line))
                    continue
                results.append(Skipped(text, line))
                definition = True
                continue
            named, previous = True, lhs
            if decimal_value is not None and decimal_value(instances, rhs):
                results.append(Skipped(text, line, reason="value"))
                continue
            verdicts = [(assignment, decide(claim)) for assignment, claim in instances.claims]
            results.append(_at_line(_combined(verdicts, instances.letters), line))
    return results


def _number_verdict(text: str, line, lhs: str, rhs: str, number, worked_value, values):
    """A member of a chain that is arithmetic on numbers: skipped without ``values``, else decided at their point;
    None for a whole number given to what has no value at a point (the zero state, a_0 = 0: a definition)."""
    from ..errors import SpecError
    from .values import decide, has_decimal

    if values is None:
        return Skipped(text, line, reason="value")
    expr, shown = number
    try:
        exact = worked_value(lhs)
    except (SpecError, ValueError) as error:
        return Unreadable(text, line, str(error)) if has_decimal(rhs) else None
    try:
        return decide(text, line, expr, shown, exact, values.digits)
    except ValueError as error:
        return Unreadable(text, line, str(error))


def _worked_value(derivation, lhs: str, notation: str, star: str, values):
    """The exact value (40 digits) of a left-hand side of a worked example at the point of ``values``: read with
    the network's symbols, each chain-rule factor, error and gradient through the derivation, then evaluated with
    the checker's own forward pass at that point."""
    from .formula import parse_formula

    expr = parse_formula(lhs, derivation.network, notation, "latex", star)
    if isinstance(expr, sp.MatrixBase):
        raise ValueError(f"{lhs} is not one number; expected a quantity of one neuron")
    return _value_at(derivation, expr, values)


def _value_at(derivation, expr, values):
    """``expr``, in the network's symbols, at the point of ``values`` (a WorkedPoint)."""
    from .values import eta_values

    cache = _POINT_VALUES.setdefault(derivation, {})
    if id(values) not in cache:  # the point is kept with its values, so that its id stays its own
        cache[id(values)] = (values, _Values(_forward_values(derivation, values.point)))
    known = cache[id(values)][1]
    named = _named(derivation, expr).xreplace({COST: derivation.forward.cost})
    resolved = _resolve(derivation, named, named=True).xreplace(eta_values(named, values.lr))
    value = _value(resolved, known, stand_in_for(derivation.network))
    if value is sp.nan or not sp.sympify(value).is_number:
        raise ValueError(f"{expr} has no value at the example's point")
    return value


_POINT_VALUES: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def _remembered(known: dict, key, read):
    """``read()``, or what it gave (or raised) for ``key`` before: a display repeated in a document, or in
    another document of the same derivation, is read once."""
    if key not in known:
        try:
            known[key] = (read(), None)
        except SpecError as error:
            known[key] = (None, error)
    value, error = known[key]
    if error is not None:
        raise error
    return value


def _checked(claim, derivation, known: dict, options) -> Verdict:
    """``check_claim``, once for each thing claimed: the same quantity with the same formula (read to the same
    SymPy value, the same mismatches) is decided once per document and its verdict reused."""
    try:
        key = (claim.target, claim.rhs, claim.repairs, claim.entrywise)
        hash(key)
    except TypeError:
        return check_claim(claim, derivation, **options)
    if key not in known:
        known[key] = check_claim(claim, derivation, **options)
    return replace(known[key], claim=claim)


#: a rewriting step of a general proof, A ⟼ B
_REWRITE = re.compile(r"\\(?:longmapsto|mapsto)(?![A-Za-z])|⟼|↦")


def _decimal_value(instances, rhs: str) -> bool:
    """Whether a claim's right-hand side is a number written with decimals, as a worked example states values."""
    if not re.search(r"\d\.\d", rhs):
        return False
    values = [claim.rhs for _, claim in instances.claims]
    return all(value is not None and not sp.sympify(value).free_symbols for value in values)


def _names_quantity(lhs: str, network, notation: str) -> bool:
    """Whether a left-hand side names a gradient, an error or the cost, at some value of its index letters."""
    from .formula import FormulaInstancesError, lhs_instances
    from ..errors import SpecError

    try:
        lhs_instances(lhs, network, notation)
    except FormulaInstancesError:
        return True  # a quantity, at more values of the letters than a claim is read at
    except SpecError:
        return False
    return True


def _combined(verdicts, letters) -> Verdict:
    """One verdict for the instances of a claim: the first wrong one, else the first undecided, else the weakest."""
    order = {"incorrect": 0, "undecided": 1, "correct": 2}
    rank = min(range(len(verdicts)), key=lambda i: (order[verdicts[i][1].status],
                                                      verdicts[i][1].method != "numeric", i))
    assignment, verdict = verdicts[rank]
    if not letters:
        return verdict
    return replace(verdict, letters=letters, instances=len(verdicts), instance=assignment)


def _at_line(verdict: Verdict, line: int) -> Verdict:
    from dataclasses import replace

    return replace(verdict, line=line)
