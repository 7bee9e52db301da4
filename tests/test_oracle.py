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
