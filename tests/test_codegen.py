"""The exported NumPy module: it trains, and its gradients agree with the finite-difference oracle."""

import random

import mpmath
import pytest
import sympy as sp

from symbackprop import Network, SpecError, derive
from symbackprop.codegen import module_context, numpy_module
from symbackprop.proof.oracle import CostOracle, random_point

from tooling import import_generated

np = pytest.importorskip("numpy")

def load(tmp_path, derivation):
    """Write the module of ``derivation`` to ``tmp_path`` and import it from there."""
    return import_generated(numpy_module(derivation), tmp_path, "generated_network")


def arrays(derivation, params):
    """Canonical keys → numbers, as the module's W^l and b^l arrays."""
    network = derivation.network
    result = {}
    for layer in network.layers:
        l, fan_in = layer.index, network.sizes[layer.index - 1]
        result[f"W{l}"] = np.array([[float(params[("w", l, j, k)]) for k in range(1, fan_in + 1)]
                                    for j in range(1, layer.size + 1)])
        if layer.bias:
            result[f"b{l}"] = np.array([[float(params[("b", l, j)])] for j in range(1, layer.size + 1)])
    return result


def entry(grads, key):
    """The module's gradient of one canonical parameter."""
    if key[0] == "w":
        return grads[f"W{key[1]}"][key[2] - 1, key[3] - 1]
    return grads[f"b{key[1]}"][key[2] - 1, 0]


def l2_arguments(network, l2):
    if network.l2 is None:
        return {}
    extra = {"n": float(l2["n"])}
    if "lambda" in l2:
        extra["lam"] = float(l2["lambda"])
    return extra


# ---------------------------------------------------------------------- (a) it trains


XOR_X = [[0, 0, 1, 1], [0, 1, 0, 1]]
XOR_Y = [[0, 1, 1, 0]]


def test_the_module_learns_xor_by_gradient_descent(tmp_path):
    module = load(tmp_path, derive(Network([2, 2, 1], activation="sigmoid", cost="binary_cross_entropy", mean=True)))
    params = module.init_params(seed=1)
    X, Y = np.array(XOR_X, dtype=float), np.array(XOR_Y, dtype=float)
    initial = module.cost(params, X, Y)
    for _ in range(3000):
        grads = module.gradients(params, X, Y)
        params = {name: params[name] - 2.0 * grads[name] for name in module.PARAMETERS}
    final = module.cost(params, X, Y)
    assert final < initial / 2
    assert final < 0.05
    assert (module.predict(params, X) > 0.5).astype(int).tolist() == XOR_Y


def test_the_module_describes_itself(tmp_path):
    d = derive(Network([2, 2, 1], activation="sigmoid", cost="binary_cross_entropy", mean=True))
    module = load(tmp_path, d)
    assert module.SIZES == (2, 2, 1)
    assert module.ACTIVATIONS == ("sigmoid", "sigmoid")
    assert module.PARAMETERS == ("W1", "b1", "W2", "b2")
    assert module.MEAN is True and module.L2 is None
    params = module.init_params(0)
    assert {name: params[name].shape for name in params} == {"W1": (2, 2), "b1": (2, 1), "W2": (1, 2), "b2": (1, 1)}
    # δ^L is the derivation's simplified output δ: a − y for sigmoid with binary cross-entropy
    source = numpy_module(d)
    assert "delta2 = a2 - y\n" in source
    assert "delta1 = (W2.T @ delta2) * (a1*(1 - a1))\n" in source


# ---------------------------------------------------------------------- (b) the oracle

CASES = [
    # sizes, activation, cost, bias, l2, mean
    ([2, 3, 2], "sigmoid", "quadratic", True, None, False),
    ([3, 2, 2], "tanh", "quadratic", False, True, False),
    ([2, 3, 1], ["relu", "sigmoid"], "binary_cross_entropy", True, 0.1, True),
    ([2, 2, 3], ["softplus", "softmax"], "cross_entropy", True, True, True),
    ([3, 2], "identity", "quadratic", True, None, False),
    ([2, 3, 2], ["leaky_relu:0.2", "identity"], "quadratic", [True, False], 0.5, False),
    ([2, 3, 3, 2], ["sigmoid", "tanh", "softmax"], "cross_entropy", True, None, False),
    ([2, 2, 3], ["tanh", "softmax"], "quadratic", True, None, False),
    ([3, 2, 2], ["softplus", "sigmoid"], "binary_cross_entropy", False, True, False),
    ([2, 2, 2], ["leaky_relu", "tanh"], "quadratic", True, None, True),
]


@pytest.mark.parametrize("sizes, activation, cost, bias, l2, mean", CASES,
                         ids=[f"{'-'.join(map(str, c[0]))}-{c[1]}-{c[2]}-bias{c[3]}-l2{c[4]}-mean{c[5]}" for c in CASES])
def test_gradients_agree_with_the_finite_difference_oracle(tmp_path, sizes, activation, cost, bias, l2, mean):
    d = derive(Network(sizes, activation=activation, cost=cost, bias=bias, l2=l2, mean=mean))
    module = load(tmp_path, d)
    oracle = CostOracle(d.network)
    for seed in (1, 2):
        point = random_point(d, random.Random(seed))
        params = arrays(d, point.params)
        x = [float(v) for v in point.x]
        y = [float(v) for v in point.y]
        extra = l2_arguments(d.network, point.l2)
        grads = module.gradients(params, x, y, **extra)
        assert set(grads) == set(module.PARAMETERS) == set(params)
        for name in params:
            assert grads[name].shape == params[name].shape
        with mpmath.workdps(40):
            expected_cost = float(oracle.cost(point.params, point.x, point.y, point.l2))
        assert module.cost(params, x, y, **extra) == pytest.approx(expected_cost, rel=1e-12, abs=1e-14)
        for key in d.params:
            expected = float(oracle.gradient(key, point.params, point.x, point.y, point.l2))
            assert entry(grads, key) == pytest.approx(expected, rel=1e-9, abs=1e-12), (key, seed)


def test_the_forward_pass_matches_the_derivation(tmp_path):
    d = derive(Network([2, 3, 2], activation=["tanh", "softmax"], cost="cross_entropy"))
    module = load(tmp_path, d)
    point = random_point(d, random.Random(4))
    result = d.evaluate(point.params, point.x, point.y)
    zs, activations = module.forward(arrays(d, point.params), [float(v) for v in point.x])
    for l in (1, 2):
        assert zs[l - 1][:, 0] == pytest.approx(result.z[l], rel=1e-12)
        assert activations[l][:, 0] == pytest.approx(result.a[l], rel=1e-12)


# ---------------------------------------------------------------------- (c) batches


@pytest.mark.parametrize("mean", [True, False])
@pytest.mark.parametrize("l2", [None, True])
def test_batched_gradients_reduce_the_per_example_ones(tmp_path, mean, l2):
    d = derive(Network([3, 4, 2], activation=["tanh", "sigmoid"], cost="binary_cross_entropy", l2=l2, mean=mean))
    module = load(tmp_path, d)
    rng = np.random.default_rng(7)
    params = module.init_params(seed=3)
    X = rng.uniform(-1, 1, (3, 6))
    Y = rng.uniform(0.05, 0.95, (2, 6))
    extra = {"lam": 0.3, "n": 50.0} if l2 else {}
    reduce = np.mean if mean else np.sum
    batched = module.gradients(params, X, Y, **extra)
    singles = [module.gradients(params, X[:, i], Y[:, i], **extra) for i in range(X.shape[1])]
    for name in module.PARAMETERS:
        assert batched[name] == pytest.approx(reduce([g[name] for g in singles], axis=0), rel=1e-12, abs=1e-15)
    costs = [module.cost(params, X[:, i], Y[:, i], **extra) for i in range(X.shape[1])]
    assert module.cost(params, X, Y, **extra) == pytest.approx(float(reduce(costs)), rel=1e-12)
    # one example as a column is the same as one example as a 1-D array
    column = module.gradients(params, X[:, :1], Y[:, :1], **extra)
    assert all(np.array_equal(column[name], singles[0][name]) for name in module.PARAMETERS)


def test_bad_shapes_are_refused(tmp_path):
    module = load(tmp_path, derive(Network([2, 2, 1])))
    params = module.init_params()
    with pytest.raises(ValueError, match=r"X has shape \(3, 4\); expected \(2, N\)"):
        module.gradients(params, np.zeros((3, 4)), np.zeros((1, 4)))
    with pytest.raises(ValueError, match="Y has 3 columns and X has 4"):
        module.gradients(params, np.zeros((2, 4)), np.zeros((1, 3)))


# ---------------------------------------------------------------------- what is refused


def test_a_generic_activation_has_no_code():
    with pytest.raises(SpecError, match="generic activation"):
        numpy_module(derive(Network([2, 1], activation="generic")))


def test_the_context_holds_printed_expressions_only():
    context = module_context(derive(Network([2, 2, 2], activation=["relu", "softplus"], l2=True)))
    assert context["layers"][0]["forward"].startswith("numpy.select(")
    assert context["layers"][1]["forward"] == "numpy.log(numpy.exp(z2) + 1)"
    assert context["layers"][0]["prime"].startswith("numpy.select(")
    assert context["l2"]["gradient"] == ["W1*lam/n", "W2*lam/n"]
    assert context["output"]["elementwise"] is True
    assert all(isinstance(row, str) for row in context["l2"]["term"])
    assert sp.sympify(context["cost_term"].replace("numpy.", "")) == sp.sympify("(1/2)*(a2 - y)**2")
