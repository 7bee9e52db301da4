"""Numbers: evaluate() on the derivation, and the independent finite-difference oracle."""

import math
import random

import mpmath
import pytest
import sympy as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from symbackprop import Network, SpecError, derive
from symbackprop.proof.equations import numeric_facts
from symbackprop.proof.oracle import CostOracle, random_point


def plain_backprop(sizes, weights, biases, x, y):
    """A hand-written float backpropagation for a sigmoid network with quadratic cost."""
    sig = lambda t: 1 / (1 + math.exp(-t))  # noqa: E731
    activations, zs = [list(x)], []
    for W, b in zip(weights, biases):
        z = [sum(wjk * ak for wjk, ak in zip(row, activations[-1])) + bj for row, bj in zip(W, b)]
        zs.append(z)
        activations.append([sig(t) for t in z])
    delta = [(a - t) * a * (1 - a) for a, t in zip(activations[-1], y)]
    grads = {}
    for l in range(len(weights), 0, -1):
        for j, dj in enumerate(delta):
            grads[("b", l, j + 1)] = dj
            for k, ak in enumerate(activations[l - 1]):
                grads[("w", l, j + 1, k + 1)] = dj * ak
        if l > 1:
            W = weights[l - 1]
            delta = [sum(W[j][k] * delta[j] for j in range(len(delta))) * a * (1 - a)
                     for k, a in enumerate(activations[l - 1])]
    return activations, grads


def test_evaluate_matches_a_hand_written_backpropagation():
    sizes = [2, 3, 2]
    d = derive(Network(sizes, activation="sigmoid", cost="quadratic"))
    rng = random.Random(3)
    values = {key: rng.uniform(-1, 1) for key in d.params}
    x, y = [0.3, -0.7], [0.1, 0.9]
    W = [[[values[("w", l, j, k)] for k in range(1, sizes[l - 1] + 1)] for j in range(1, sizes[l] + 1)] for l in (1, 2)]
    b = [[values[("b", l, j)] for j in range(1, sizes[l] + 1)] for l in (1, 2)]
    activations, expected = plain_backprop(sizes, W, b, x, y)
    result = d.evaluate(values, x, y)
    assert result.a[2] == pytest.approx(tuple(activations[2]), rel=1e-12)
    assert result.cost == pytest.approx(sum((a - t) ** 2 for a, t in zip(activations[2], y)) / 2, rel=1e-12)
    for key in d.params:
        assert result.gradients[key] == pytest.approx(expected[key], rel=1e-12, abs=1e-15)


def test_evaluate_rejects_bad_values_with_one_clear_message():
    d = derive(Network([2, 2], activation="sigmoid"))
    good = {key: 0.1 for key in d.params}
    with pytest.raises(SpecError, match="no value for 1 parameter"):
        d.evaluate({k: v for k, v in good.items() if k != ("b", 1, 2)}, [0, 0], [0, 0])
    with pytest.raises(SpecError, match="expected a number"):
        d.evaluate({**good, ("w", 1, 1, 1): "0.1"}, [0, 0], [0, 0])
    with pytest.raises(SpecError, match="x has 3 values; expected 2"):
        d.evaluate(good, [0, 0, 0], [0, 0])
    with pytest.raises(SpecError, match="unknown key"):
        d.evaluate({**good, ("w", 9, 9, 9): 1.0}, [0, 0], [0, 0])


def test_evaluate_needs_lambda_and_n_for_symbolic_l2():
    d = derive(Network([1, 1], l2=True))
    values = {key: 0.5 for key in d.params}
    with pytest.raises(SpecError, match="'lambda'"):
        d.evaluate(values, [1.0], [0.0])
    result = d.evaluate({**values, "lambda": 0.2, "n": 10}, [1.0], [0.0])
    unregularised = derive(Network([1, 1])).evaluate(values, [1.0], [0.0])
    assert result.gradients[("w", 1, 1, 1)] == pytest.approx(unregularised.gradients[("w", 1, 1, 1)] + 0.2 * 0.5 / 10)


def test_evaluate_refuses_a_generic_activation():
    d = derive(Network([1, 1], activation="generic"))
    with pytest.raises(SpecError, match="generic activation"):
        d.evaluate({key: 0.1 for key in d.params}, [1], [0])


def test_the_oracle_is_accurate_to_many_digits():
    network = Network([1, 1], activation="sigmoid", bias=False)
    oracle = CostOracle(network)
    with mpmath.workdps(50):
        w, x, y = mpmath.mpf(3) / 10, mpmath.mpf(7) / 10, mpmath.mpf(1) / 5
        a = 1 / (1 + mpmath.exp(-w * x))
        exact = (a - y) * a * (1 - a) * x
    got = oracle.gradient(("w", 1, 1, 1), {("w", 1, 1, 1): sp.Rational(3, 10)}, [sp.Rational(7, 10)], [sp.Rational(1, 5)])
    assert abs(got - exact) < mpmath.mpf("1e-30")


# ------------------------------------------------------------ random networks against the oracle

ACTIVATIONS = ["sigmoid", "tanh", "relu", "leaky_relu", "softplus", "identity", "generic"]


@st.composite
def networks(draw):
    depth = draw(st.integers(1, 3))
    sizes = [draw(st.integers(1, 3)) for _ in range(depth + 1)]
    cost = draw(st.sampled_from(["quadratic", "binary_cross_entropy", "cross_entropy"]))
    hidden = [draw(st.sampled_from(ACTIVATIONS)) for _ in range(depth - 1)]
    if cost == "binary_cross_entropy":
        output = "sigmoid"  # outputs must lie in (0, 1)
    elif cost == "cross_entropy":
        output = draw(st.sampled_from(["softmax", "sigmoid"]))
    else:
        output = draw(st.sampled_from(ACTIVATIONS + ["softmax"]))
    bias = [draw(st.booleans()) for _ in range(depth)]
    l2 = draw(st.sampled_from([None, True, 0.25]))
    return Network(sizes, activation=hidden + [output], cost=cost, bias=bias, l2=l2)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(network=networks(), seed=st.integers(0, 10_000))
def test_random_networks_agree_with_the_finite_difference_oracle(network, seed):
    facts = numeric_facts(derive(network), points=1, seed=seed)
    assert facts and all(f.ok for f in facts), [f.detail for f in facts if not f.ok]


def test_random_points_fit_the_cost():
    d = derive(Network([2, 3], activation="softmax", cost="cross_entropy"))
    point = random_point(d, random.Random(0))
    assert sum(point.y) == 1 and all(v > 0 for v in point.y)


def test_points_on_a_kink_are_not_used_to_test_a_derivative():
    """A dead ReLU feeding a layer without bias puts the next z exactly on the kink, where central
    differences measure the mean of the two slopes; such points are drawn again."""
    d = derive(Network([1, 1, 1], activation="relu", bias=False))
    for seed in (1, 3, 8):  # seeds whose first point has the hidden neuron dead
        facts = numeric_facts(d, points=1, seed=seed)
        assert all(f.ok for f in facts), [f.detail for f in facts if not f.ok]


def test_kinks_are_read_from_the_definition():
    from symbackprop.model.activations import Z, activation
    from symbackprop.proof.oracle import kinks

    assert kinks(activation("relu").forward) == (0,)
    assert kinks(activation("leaky_relu:0.2").forward) == (0,)
    assert kinks(activation("sigmoid").forward) == ()
    assert kinks(sp.Piecewise((Z, Z > sp.Rational(1, 2)), (0, True))) == (mpmath.mpf(0.5),)


# ---------------------------------------------------------------------- with_numbers


_X = sp.symbols("x0:4", real=True)


def _trees():
    """Random expressions of the kinds the engine evaluates: sums and products (mixed with exact
    coefficients), powers, functions, the pieces of a kinked activation and a pooling maximum."""
    leaves = st.sampled_from(_X) | st.sampled_from([sp.Integer(2), sp.Rational(-1, 3), sp.Rational(5, 7), sp.S.Half])

    def grow(children):
        pair = st.tuples(children, children)
        return (st.lists(children, min_size=2, max_size=5).map(lambda a: sp.Add(*a))
                | st.lists(children, min_size=2, max_size=5).map(lambda a: sp.Mul(*a))
                | st.tuples(children, st.sampled_from([2, 3, -1, -2, sp.S.Half, sp.Rational(-3, 2)])).map(
                    lambda p: sp.Pow(p[0] ** 2 + 1, p[1]))
                | children.map(sp.exp) | children.map(sp.tanh) | children.map(lambda a: sp.log(a ** 2 + 1))
                | pair.map(lambda p: sp.Max(*p))
                | pair.map(lambda p: sp.Piecewise((p[0], p[1] > 0), (p[0] / 10, True))))

    return st.recursive(leaves, grow, max_leaves=14)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_trees(), min_size=1, max_size=len(_X)), st.lists(st.integers(-999, 1000), min_size=len(_X),
                                                                  max_size=len(_X)))
def test_with_numbers_is_xreplace_bit_for_bit(trees, thousandths):
    """A sum of products of three factors: the order in which numbers are added and multiplied shows in the last
    bit."""
    from symbackprop.proof.oracle import DIGITS, with_numbers

    expr = sp.Add(*[tree * x * _X[i - 1] for i, (tree, x) in enumerate(zip(trees, _X))])
    # mostly 40-digit Floats; 1000 and 999 give the identities 0 and 1 themselves and a Float zero
    special = {1000: sp.S.Zero, 999: sp.S.One, 998: sp.Float(0)}
    values = {x: special.get(t, sp.Float(sp.Rational(t, 1000) + sp.Rational(1, 7), DIGITS))
              for x, t in zip(_X, thousandths)}
    ours, theirs = with_numbers(expr, values), expr.xreplace(values)
    assert ours == theirs and type(ours) is type(theirs)
    if isinstance(theirs, sp.Float):
        assert (ours._mpf_, ours._prec) == (theirs._mpf_, theirs._prec)


def test_with_numbers_gives_the_named_values_of_a_network_bit_for_bit():
    """named_values (which uses with_numbers) against xreplace on each definition, at several points of a
    network with batch normalisation, a residual link and softmax."""
    from symbackprop.model.layers import layered_from_mapping
    from symbackprop.proof.layered import DIGITS, Site, derive_layered, named_values, random_layered_point, stand_in
    from symbackprop.proof.oracle import realise

    network = layered_from_mapping({"input": 2, "batch": 2, "cost": "cross_entropy", "layer": [
        {"type": "dense", "size": 3, "activation": "tanh"}, {"type": "batchnorm"}, {"type": "residual", "from": 1},
        {"type": "dense", "size": 2, "activation": "softmax"}]}, "test")
    derivation = derive_layered(network)
    fw, sub = derivation.forward, stand_in(network)
    for seed in range(3):
        point = random_layered_point(derivation, random.Random(seed))
        ours = named_values(derivation, point)
        theirs = {s: sp.Float(v, DIGITS) for s, v in point.substitution(fw).items()}
        # the order in which named_values fills them: each in the values before it
        order = [s for s in ours if s not in theirs]
        definitions = {**fw.auxiliary, **{s: d for l in fw.definitions for s, d in _targets(fw, network, l)},
                       **{Site("delta", l, *pos): d for l in derivation.deltas for pos, d in derivation.deltas[l].items()}}
        for symbol in order:
            expr = definitions.get(symbol)
            expr = fw.activation_of(symbol.layer, symbol.position) if expr is None else expr
            theirs[symbol] = sp.Float(realise(expr, sub).xreplace(theirs).evalf(DIGITS), DIGITS)
            assert ours[symbol]._mpf_ == theirs[symbol]._mpf_, symbol


def _targets(fw, network, l):
    layer = network.layers[l - 1]
    target = fw.weighted[l] if layer.has_z else fw.outputs[l]
    return [(target[pos], definition) for pos, definition in fw.definitions[l].items()]


def test_with_numbers_remembers_only_what_became_a_number():
    """A part whose symbols have no value yet is evaluated again once they have one."""
    from symbackprop.proof.oracle import with_numbers

    x, y = sp.symbols("x y")
    values, memo = {x: sp.Float(2)}, {}
    assert with_numbers((x + 1) * (y + 1), values, memo) == 3.0 * (y + 1)
    values[y] = sp.Float("0.5")
    assert with_numbers((x + 1) * (y + 1), values, memo) == sp.Float("4.5")
    assert with_numbers(x + 1, {}, memo) == 3.0  # remembered with its value


def test_the_oracles_make_each_mpmath_function_once_per_process():
    """A second oracle of the same network makes no function of its own; another activation gets its own."""
    from symbackprop.proof import oracle

    oracle.mpmath_function.cache_clear()
    first = CostOracle(Network([2, 2, 1], activation="tanh"))
    made = oracle.mpmath_function.cache_info().misses
    second = CostOracle(Network([2, 2, 1], activation="tanh"))
    assert oracle.mpmath_function.cache_info().misses == made
    assert second._forward == first._forward and second._term is first._term
    other = CostOracle(Network([2, 2, 1], activation="sigmoid"))
    assert oracle.mpmath_function.cache_info().misses > made
    with mpmath.workdps(30):
        assert other._forward[0](mpmath.mpf(0)) == mpmath.mpf("0.5") and first._forward[0](mpmath.mpf(0)) == 0


def test_with_numbers_decides_a_piece_as_xreplace_does():
    """At its kink, and where a Float meets a threshold that it only approximates (the relation's constructor
    rounds the threshold to the Float's precision before it compares)."""
    from symbackprop.proof.oracle import with_numbers

    x, t = sp.Symbol("x", real=True), sp.Symbol("t", real=True)
    cases = [(sp.Integer(0), 0), (sp.Float(0), 0), (sp.Float("1e-30", 40), 0), (sp.Rational(-1, 3), 0),
             (sp.Float(0.1, 15), sp.Rational(1, 10)), (sp.Float(sp.Rational(1, 3), 20), sp.Rational(1, 3)),
             (sp.Float(10**50, 40), sp.Integer(10**50 + 1)), (sp.Float(2, 40), sp.Float(2, 15))]
    for condition in (x > t, x >= t, x < t, x <= t):
        piece = sp.Piecewise((x + 1, condition), (x - 1, True))
        for value, threshold in cases:
            at = {x: value, t: sp.sympify(threshold)}
            assert with_numbers(piece, at) == piece.xreplace(at), (condition, value, threshold)


def test_with_numbers_drops_the_identities_as_add_and_mul_do():
    """0 + 0.0 is the Float 0.0 to Add (which drops the exact 0 first), and 1 · 0.0 is 0.0 to Mul."""
    from symbackprop.proof.oracle import with_numbers

    x, y, z = sp.symbols("x y z")
    for expr, values in [(x * y, {x: sp.Float(0), y: sp.S.One}), (x + y, {x: sp.Float(0), y: sp.S.Zero}),
                         (x + y + z, {x: sp.S.Zero, y: sp.S.Zero, z: sp.S.Zero}), (x * y * z, {x: 1, y: 1, z: 1})]:
        values = {k: sp.sympify(v) for k, v in values.items()}
        ours, theirs = with_numbers(expr, values), expr.xreplace(values)
        assert ours == theirs and type(ours) is type(theirs), (expr, values, ours, theirs)
