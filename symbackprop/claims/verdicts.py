"""Checking a hand derivation: is a claimed formula right, and if not, where is it wrong.

A :class:`~symbackprop.formula.Claim` names a quantity (one gradient, one δ,
a whole gradient matrix or δ vector, or the cost) and gives the user's formula for it. The
truth is the derivation's own result. The answer, a :class:`Verdict`, is one of

``correct``
    established exactly (SymPy proves the two sides identical, as functions of
    the named intermediates with a = σ(z) written out), or, when that proof does
    not close, by agreement at N random points with the numbers of the forward
    pass, which is reported as numeric evidence, never as a proof;
``incorrect``
    with a counterexample: a concrete point (inputs, targets, parameters) and
    both values there. The formula is then compared with mutations of the
    correct one (a missing transpose, swapped indices, a sign, a factor 2, ½ or
    1/n, a missing σ', σ' taken at a, a(1 − a) for a non-sigmoid, a missing sum
    over the next layer, a wrong layer, a missing regularisation term or its 1/n,
    a matrix written entry by entry in the transposed layout, a term of the cost
    subtracted); the mutations it matches are the diagnosis. A formula whose
    vectors and matrices do not fit together (method ``dimensions``) is wrong
    without any point: the product that does not fit is named, and the repair
    that makes it fit (a transpose, ⊙ for a product, a product for ⊙) is the
    diagnosis; the repaired formula is then checked too, and the point where it
    is still wrong, if any, is the counterexample;
``undecided``
    when the symbolic work runs out of time; the numeric evidence is given.

Every check is bounded in time.
"""

from __future__ import annotations

import random
import re
import signal
import threading
from contextlib import contextmanager
from dataclasses import dataclass, replace

import sympy as sp

from ..errors import SpecError
from ..model.activations import VectorActivation, opaque_functions
from ..proof.equations import _identical, is_zero
from .formula import _shape_of, claim_instances
from ..proof.oracle import GENERIC_STAND_IN, named_values, random_point, realise, stand_in_for
from ..model.symbols import COST, LAMBDA, N_EXAMPLES, UNREGULARISED, LayerMatrix, Partial, Quantity

#: seconds allowed for the symbolic part of one claim
TIME_LIMIT = 2.0
#: random points of the numeric comparison
POINTS = 3
#: relative tolerance of the numeric comparison (values are computed with 40 digits)
TOLERANCE = sp.Float("1e-20")

STATUSES = ("correct", "incorrect", "undecided")


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
    points: int                      # random points compared numerically
    truth: object                    # the correct formula, in named intermediates
    counterexample: Counterexample | None = None
    diagnosis: tuple[str, ...] = ()  # names of the mutations the claim matches
    #: why, as a key the templates phrase: "timeout" (undecided; ``time_limit`` seconds), "not_proven"
    #: (correct by numbers only), "shapes" (``mismatches`` say which operands do not fit) or
    #: "result_shape" (the formula's shape is ``shape``, the quantity's that of ``truth``)
    reason: str | None = None
    line: int | None = None          # where the claim stands in a document
    time_limit: float | None = None
    mismatches: tuple = ()           # formula.Mismatch of the products whose shapes do not fit
    shape: tuple | None = None       # the shape of the formula, when it is not that of the quantity
    #: with ``mismatches``, how the repaired formula fared: "exact" or "numeric" (it is right: the shapes are
    #: the only mistake), "incorrect" (``counterexample`` is where it differs), "unfit" (it still has the
    #: wrong shape); None when no repair fits
    repaired: str | None = None
    #: a claim with index letters (l, j, k): each letter with the values it was checked at, how many
    #: concrete instances were checked, and the assignment of the instance this verdict shows (the first
    #: that is wrong or undecided, else the first)
    letters: tuple = ()
    instances: int = 1
    instance: tuple = ()

    @property
    def ok(self) -> bool:
        return self.status == "correct"


class _Timeout(Exception):
    pass


@contextmanager
def _time_limit(seconds: float):
    """Raise :class:`_Timeout` in the main thread after ``seconds``; elsewhere, no limit can be set."""
    if threading.current_thread() is not threading.main_thread():
        yield False
        return

    def expire(signum, frame):
        raise _Timeout()

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield True
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


# ------------------------------------------------------------------ the truth


def truth(derivation, target):
    """The correct value of what a claim's left-hand side names, in named intermediates."""
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
            return sp.ImmutableMatrix([derivation.delta(l, j) for j in range(1, m + 1)])
        return sp.HadamardProduct(LayerMatrix("grad_a", l, m), LayerMatrix("dsigma", l, m))
    W = LayerMatrix("W", l + 1, network.sizes[l + 1], m)
    return sp.HadamardProduct(sp.MatMul(sp.Transpose(W), LayerMatrix("delta", l + 1, network.sizes[l + 1])),
                              LayerMatrix("dsigma", l, m))


def _resolve(derivation, expr):
    """A user's formula in the derivation's terms: δ and chain-rule factors written out, σ and σ' as the
    network's activation, λ as the network's regularisation strength when that is a number."""
    if isinstance(expr, sp.MatrixBase):
        return expr.applyfunc(lambda e: _resolve(derivation, e))
    expr = sp.sympify(expr)
    network = derivation.network
    if network.l2 is not None and network.l2 != LAMBDA:  # λ is the network's strength, as in --l2 0.1
        expr = expr.xreplace({LAMBDA: network.l2})
    if expr.has(Partial):
        expr = expr.replace(lambda e: isinstance(e, Partial), lambda e: _partial_value(derivation, e))
    if expr.has(UNREGULARISED):  # C₀, the cost without its regulariser
        fw = derivation.forward
        expr = expr.xreplace({UNREGULARISED: fw.cost - fw.regulariser})
    expr = derivation._without_deltas(expr, opaque=False)
    sigma, sigma_prime = opaque_functions("sigma")
    if not expr.has(sigma, sigma_prime):
        return expr

    def rule_for(argument):
        layers = {s.indices[0] for s in argument.free_symbols if isinstance(s, Quantity) and s.kind in ("z", "a")}
        rules = [network.layer(l).activation for l in layers] if layers else [layer.activation
                                                                               for layer in network.layers]
        labels = {r.label for r in rules}
        if len(labels) != 1 or isinstance(rules[0], VectorActivation):
            return None
        return rules[0]

    def apply(function, prime):
        def replace(argument):
            rule = rule_for(argument)
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
    from .formula import FormulaError

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


def _in_z(derivation, expr):
    """``expr`` with every activation a written as σ(z), so that z, w, b, x, y are independent."""
    fw = derivation.forward
    replacements = {}
    for s in expr.free_symbols:
        if isinstance(s, Quantity) and s.kind == "a" and s.indices[0] >= 1:
            replacements[s] = fw.a_definition(*s.indices)
    return expr.xreplace(replacements) if replacements else expr


# ------------------------------------------------------------------ numbers


#: the random points of the last few (derivation, count, seed, extra symbols): a document's claims share them
_POINTS_CACHE: dict = {}
_POINTS_CACHE_SIZE = 8


def _points(derivation, count, seed, extra=()):
    """:func:`_random_points`, remembered for the last few derivations (the points depend on nothing else)."""
    key = (id(derivation), count, seed, frozenset(extra))
    cached = _POINTS_CACHE.get(key)
    if cached is not None and cached[0] is derivation:
        return cached[1]
    points = _random_points(derivation, count, seed, extra)
    if len(_POINTS_CACHE) >= _POINTS_CACHE_SIZE:
        _POINTS_CACHE.pop(next(iter(_POINTS_CACHE)))
    _POINTS_CACHE[key] = (derivation, points)
    return points


def _random_points(derivation, count, seed, extra=()):
    """``count`` random points (seeded), each with the values of every named intermediate there.

    The number of examples n gets a value when the cost is a mean, and so does every symbol of
    ``extra`` (symbols a claim writes that the network leaves free, such as η, or λ without
    regularisation): a formula that depends on them is checked at their values too. (A λ of a
    network with a fixed strength is that number already: see :func:`_resolve`.)
    """
    rng = random.Random(seed)
    points = []
    for _ in range(count):
        point = random_point(derivation, rng)
        if derivation.network.mean and "n" not in point.l2:
            point = replace(point, l2={**point.l2, "n": sp.Integer(rng.randint(1, 100))})
        known = named_values(derivation, point.substitution(derivation))
        free = {}
        for symbol in sorted(extra, key=sp.default_sort_key):
            if symbol not in known:
                free[symbol] = sp.Rational(rng.randint(1, 99), 100)
        if free:
            point = replace(point, l2={**point.l2, **free})
            known = {**known, **free}
        points.append((point, known))
    return points


def _unvalued(derivation, expr) -> set:
    """The symbols of ``expr`` that no point of the network gives a value (λ, n, η, m ...)."""
    symbols = expr.free_symbols if not isinstance(expr, sp.MatrixBase) else set().union(
        *(e.free_symbols for e in expr))
    known = set(derivation.forward.symbols.values()) | set(derivation.forward.inputs) \
        | set(derivation.forward.targets)
    return {s for s in symbols if s not in known and not (isinstance(s, Quantity) and s.kind in ("z", "a", "delta"))}


def _value(expr, known, stand_in=GENERIC_STAND_IN):
    """``expr`` at a point; a generic σ is realised by ``stand_in``, as the point's own values were."""
    if isinstance(expr, sp.MatrixBase):
        return expr.applyfunc(lambda e: _value(e, known, stand_in))
    return sp.Float(realise(sp.sympify(expr), stand_in).xreplace(known).evalf(40), 40)


def _agree(left, right) -> bool:
    if isinstance(left, sp.MatrixBase) or isinstance(right, sp.MatrixBase):
        if not (isinstance(left, sp.MatrixBase) and isinstance(right, sp.MatrixBase)) or left.shape != right.shape:
            return False
        return all(_agree(a, b) for a, b in zip(left, right))
    if not (left.is_number and right.is_number):
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


def check_claim(claim, derivation, points: int = POINTS, seed: int = 0, time_limit: float = TIME_LIMIT) -> Verdict:
    """Decide whether ``claim`` holds for ``derivation`` (see the module docstring)."""
    correct = truth(derivation, claim.target)
    if claim.repairs:
        return _mismatched(claim, derivation, correct, points, seed, time_limit)
    claimed = _resolve(derivation, claim.rhs)
    if _shape_of(correct) != _shape_of(claimed):
        return Verdict(claim, "incorrect", "dimensions", 0, correct,
                       diagnosis=_shape_diagnosis(_shape_of(correct), _shape_of(claimed)),
                       reason="result_shape", shape=_shape_of(claimed))
    # numbers first: a counterexample settles it
    sample = _points(derivation, points, seed, _unvalued(derivation, claimed))
    example = _counterexample(derivation, correct, claimed, sample)
    if example is not None:
        return Verdict(claim, "incorrect", "numeric", points, correct, example,
                       _diagnose(derivation, claim, claimed, sample))
    # then the proof, bounded in time
    proven = _bounded_proof(derivation, claimed, correct, time_limit)
    if proven is None:
        return Verdict(claim, "undecided", "numeric", points, correct, reason="timeout", time_limit=time_limit)
    if proven:
        return Verdict(claim, "correct", "exact", points, correct)
    return Verdict(claim, "correct", "numeric", points, correct, reason="not_proven")


def _counterexample(derivation, correct, claimed, sample) -> Counterexample | None:
    """The first point of ``sample`` where the two formulas differ, with both values there."""
    stand_in = stand_in_for(derivation.network)
    for point, known in sample:
        actual, value = _value(correct, known, stand_in), _value(claimed, known, stand_in)
        if not _agree(value, actual):
            return Counterexample(point.params, point.x, point.y, point.l2, value, actual)
    return None


def _bounded_proof(derivation, claimed, correct, time_limit) -> bool | None:
    """Whether SymPy proves the two formulas identical; None when it runs out of ``time_limit`` seconds."""
    try:
        with _time_limit(time_limit):
            return _prove(derivation, claimed, correct)
    except _Timeout:
        return None


def _prove(derivation, claimed, correct) -> bool:
    if isinstance(correct, sp.MatrixBase):
        return all(_prove(derivation, c, t) for c, t in zip(claimed, correct))
    left, right = _in_z(derivation, claimed), _in_z(derivation, correct)
    return _identical(left, right) or is_zero(left - right)


def _mismatched(claim, derivation, correct, points, seed, time_limit) -> Verdict:
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
    repaired = _resolve(derivation, claim.rhs)
    if _shape_of(repaired) != _shape_of(correct):
        return verdict(points=0, diagnosis=tuple(dict.fromkeys([*names, "wrong_shape"])), repaired="unfit")
    sample = _points(derivation, points, seed, _unvalued(derivation, repaired))
    example = _counterexample(derivation, correct, repaired, sample)
    if example is not None:
        names += _diagnose(derivation, claim, repaired, sample)
        return verdict(points=points, counterexample=example, diagnosis=tuple(dict.fromkeys(names)),
                       repaired="incorrect")
    proven = _bounded_proof(derivation, repaired, correct, time_limit)
    return verdict(points=points, diagnosis=tuple(dict.fromkeys(names)),
                   repaired="exact" if proven else "numeric")


def _diagnose(derivation, claim, claimed, sample) -> tuple[str, ...]:
    """The names of the mutations ``claimed`` agrees with at the first two points of ``sample``.

    A transpose missing from a matrix written entry by entry is a layout mistake (``transposed_layout``).
    """
    found = []
    stand_in = stand_in_for(derivation.network)
    for key, mutant in mutations(derivation, claim.target).items():
        try:
            if all(_agree(_value(claimed, known, stand_in), _value(mutant, known, stand_in)) for _, known in sample[:2]):
                found.append(mistake_name(key))
        except (TypeError, ValueError, sp.ShapeError):
            continue
    if claim.entrywise:
        found = ["transposed_layout" if name == "missing_transpose" else name for name in found]
    return tuple(dict.fromkeys(found))


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
)


@dataclass(frozen=True)
class Skipped:
    """A display that is not a claim about a gradient, an error or the cost; ``reason`` (SKIP_REASONS) says why."""

    text: str
    line: int
    status: str = "skipped"
    reason: str = "definition"


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


def check_document(document: str, fmt: str, network, notation: str = "nielsen", derivation=None,
                   star: str = "product", decided: dict | None = None, **options) -> list:
    """Every claim among the display equations of a Markdown or LaTeX document, by line.

    A chain ``A = B = C`` whose first member names a gradient, an error or the cost
    gives the claims ``A = B`` and ``A = C``; a display that starts with ``=``
    continues the claim of the display before it (``A = B`` then ``= C`` gives
    ``A = C``). A claim with index letters (``\\delta^{(l)}_{j}``, ``w^{l}_{jk}``) holds
    when it holds at every concrete layer and index of the network where it can be
    written: it is checked at each of them, and the verdict lists the values
    (``Verdict.letters``). Other displays are skipped, with the reason
    (:data:`SKIP_REASONS`).

    ``decided`` may hold the readings and verdicts of an earlier call with the same derivation, notation
    and options (a dict this call fills): documents that state the same claims, such as one derivation
    in several languages and formats, then read and decide each claim once.
    """
    from ..proof.chain import derive
    from ..errors import SpecError
    from .formula import extract_equations, split_chain

    derivation = derivation or derive(network)
    results = []
    known = {} if decided is None else decided  # verdicts by what a claim says, for claims stated again
    previous = None                      # the left-hand side of the last display that named a quantity
    for line, latex in extract_equations(document, fmt):
        members = split_chain(latex)
        if len(members) < 2:  # no equation: a rewriting step is listed, a lone expression or condition is not
            if _REWRITE.search(latex):
                results.append(Skipped(latex, line, reason="rewrite"))
            previous = None
            continue
        lhs = members[0]
        if not lhs and previous is not None:
            lhs = previous
        named = None  # whether the left-hand side names a quantity: known once a member reads, else asked
        previous = None
        for rhs in members[1:]:
            text = f"{lhs} = {rhs}"
            try:
                instances = _remembered(known, ("read", text, tuple(members)), lambda: claim_instances(
                    text, network, notation, "latex", repair=True, star=star, context=tuple(members)))
            except SpecError as error:
                if named is None:
                    named = _remembered(known, ("names", lhs), lambda: _names_quantity(lhs, network, notation))
                    previous = lhs if named else None
                if named:
                    results.append(Unreadable(text, line, str(error)))
                else:
                    results.append(Skipped(text, line))
                    break
                continue
            named, previous = True, lhs
            if _decimal_value(instances, rhs):
                results.append(Skipped(text, line, reason="value"))
                continue
            verdicts = [(assignment, _checked(claim, derivation, known, options))
                        for assignment, claim in instances.claims]
            results.append(_at_line(_combined(verdicts, instances.letters), line))
    return results


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
    from .formula import lhs_instances
    from ..errors import SpecError

    try:
        lhs_instances(lhs, network, notation)
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
