"""The chain rule per parameter, against derivations worked out by hand."""

import pytest
import sympy as sp

from symbackprop import Network, derive
from symbackprop.model.activations import opaque_functions
from symbackprop.proof.equations import matrix_form
from symbackprop.model.symbols import LAMBDA, N_EXAMPLES, Quantity

from conftest import same


def q(kind, *indices):
    return Quantity(kind, *indices)


# ------------------------------------------------------------ seed 002: 2-2-2, no bias
# Seed 002 numbers nodes across the network: inputs 1, 2; hidden 3, 4; outputs 5, 6.
# w_{ab} goes from node a to node b, so w_{35} is canonical w^2_{11}, w_{13} is w^1_{11}.
# f' = f(1 - f) for the sigmoid; y_{ij} is the activation a^i_j, x̂ the input, ŷ the target.


@pytest.fixture(scope="module")
def seed002():
    return derive(Network([2, 2, 2], activation="sigmoid", cost="quadratic", bias=False))


def fprime(l, j):
    a = q("a", l, j)
    return a * (1 - a)


OUTPUT_WEIGHTS = {
    # name in seed 002: (canonical key, hand result)
    "w35": (("w", 2, 1, 1), (q("a", 2, 1) - q("y", 1)) * fprime(2, 1) * q("a", 1, 1)),
    "w45": (("w", 2, 1, 2), (q("a", 2, 1) - q("y", 1)) * fprime(2, 1) * q("a", 1, 2)),
    "w36": (("w", 2, 2, 1), (q("a", 2, 2) - q("y", 2)) * fprime(2, 2) * q("a", 1, 1)),
    "w46": (("w", 2, 2, 2), (q("a", 2, 2) - q("y", 2)) * fprime(2, 2) * q("a", 1, 2)),
}


def hidden(j, x):
    # ((y21 - ŷ1) f'(z21) w_{j→5} + (y22 - ŷ2) f'(z22) w_{j→6}) f'(z1j) x̂
    back = (q("a", 2, 1) - q("y", 1)) * fprime(2, 1) * q("w", 2, 1, j) + (q("a", 2, 2) - q("y", 2)) * fprime(
        2, 2
    ) * q("w", 2, 2, j)
    return back * fprime(1, j) * q("x", x)


HIDDEN_WEIGHTS = {
    "w13": (("w", 1, 1, 1), hidden(1, 1)),
    "w14": (("w", 1, 2, 1), None),  # w14 goes from input 1 to hidden node 4 = neuron 2
    "w23": (("w", 1, 1, 2), hidden(1, 2)),
    "w24": (("w", 1, 2, 2), hidden(2, 2)),
}
HIDDEN_WEIGHTS["w14"] = (("w", 1, 2, 1), hidden(2, 1))


@pytest.mark.parametrize("name", sorted(OUTPUT_WEIGHTS))
def test_seed002_output_weights(seed002, name):
    key, expected = OUTPUT_WEIGHTS[name]
    assert same(seed002.gradient(key), expected)


@pytest.mark.parametrize("name", sorted(HIDDEN_WEIGHTS))
def test_seed002_hidden_weights(seed002, name):
    key, expected = HIDDEN_WEIGHTS[name]
    assert same(seed002.gradient(key, form="named"), expected)
    # and the compact form keeps δ of the next layer
    assert seed002.gradient(key).has(q("delta", 2, 1))


def test_seed002_has_exactly_eight_parameters(seed002):
    assert sorted(seed002.params) == sorted(key for key, _ in [*OUTPUT_WEIGHTS.values(), *HIDDEN_WEIGHTS.values()])


def test_seed002_merged_matrices(seed002):
    """∂C/∂W_1 = δ_2 y_1^T and ∂C/∂W_0 = (W_1^T δ_2) ⊙ f'(z_1) x^T, transposes included."""
    form = matrix_form(seed002)
    delta2 = sp.Matrix([(q("a", 2, j) - q("y", j)) * fprime(2, j) for j in (1, 2)])
    y1 = sp.Matrix([q("a", 1, 1), q("a", 1, 2)])
    x = sp.Matrix([q("x", 1), q("x", 2)])
    W1 = sp.Matrix(2, 2, lambda j, k: q("w", 2, j + 1, k + 1))
    fprime1 = sp.Matrix([fprime(1, 1), fprime(1, 2)])
    dW1 = delta2 * y1.T
    dW0 = (W1.T * delta2).multiply_elementwise(fprime1) * x.T
    for (l, expected) in ((2, dW1), (1, dW0)):
        assert form.weights[l].shape == (2, 2)
        for j in range(2):
            for k in range(2):
                assert same(seed002.gradient(("w", l, j + 1, k + 1), form="named"), expected[j, k])
    # the transpose matters: W_1 δ_2 (no transpose) gives a different ∂C/∂W_0
    wrong = (W1 * delta2).multiply_elementwise(fprime1) * x.T
    assert not same(seed002.gradient(("w", 1, 1, 2), form="named"), wrong[0, 1]) or not same(
        seed002.gradient(("w", 1, 2, 1), form="named"), wrong[1, 0]
    )


# ------------------------------------------------------------ Nielsen on 2-3-2, generic σ


@pytest.fixture(scope="module")
def nielsen():
    return derive(Network([2, 3, 2], activation="generic", cost="quadratic"))


def sigma_prime(l, j):
    return opaque_functions("sigma")[1](q("z", l, j))


def test_nielsen_bp1(nielsen):
    for j in (1, 2):
        assert nielsen.delta(2, j) == (q("a", 2, j) - q("y", j)) * sigma_prime(2, j)


def test_nielsen_bp2(nielsen):
    for j in (1, 2, 3):
        expected = sum(q("w", 2, k, j) * q("delta", 2, k) for k in (1, 2)) * sigma_prime(1, j)
        assert same(nielsen.delta(1, j), expected)


def test_nielsen_bp3_and_bp4(nielsen):
    for l, m, m_prev in ((1, 3, 2), (2, 2, 3)):
        for j in range(1, m + 1):
            assert nielsen.gradient(("b", l, j)) == nielsen.delta(l, j)
            for k in range(1, m_prev + 1):
                a_prev = q("x", k) if l == 1 else q("a", l - 1, k)
                assert same(nielsen.gradient(("w", l, j, k)), nielsen.delta(l, j) * a_prev)


def test_nielsen_matrix_form_shapes(nielsen):
    form = matrix_form(nielsen)
    assert form.delta[2].shape == (2, 1) and form.delta[1].shape == (3, 1)
    assert form.weights[2].shape == (2, 3) and form.weights[1].shape == (3, 2)
    assert form.jacobian is None


# ------------------------------------------------------------ seed 003: cross-entropy with sigmoid


@pytest.mark.parametrize("l2", [None, True])
def test_seed003_output_delta_is_a_minus_y(l2):
    d = derive(Network([3, 5, 5, 4], activation="sigmoid", cost="binary_cross_entropy", l2=l2))
    for j in range(1, 5):
        assert d.delta(3, j) == q("a", 3, j) - q("y", j)
    grad = d.gradient(("w", 3, 2, 4))
    expected = (q("a", 3, 2) - q("y", 2)) * q("a", 2, 4)
    if l2:
        expected += LAMBDA * q("w", 3, 2, 4) / N_EXAMPLES
    assert same(grad, expected)
    # biases are not regularised
    assert d.gradient(("b", 3, 2)) == q("a", 3, 2) - q("y", 2)
    rules = [step.rule for step in d.steps(("w", 3, 2, 4))]
    assert "simplify" in rules
    assert ("regularisation" in rules) == bool(l2)


def test_an_output_error_is_simplified_once_per_process_and_keeps_its_steps(monkeypatch):
    from symbackprop.proof import chain

    network = Network([2, 3, 2], activation="sigmoid", cost="binary_cross_entropy")
    chain._simplest_output.cache_clear()
    cancelled = []
    real_cancel = sp.cancel
    monkeypatch.setattr(chain.sp, "cancel", lambda e, *a, **k: cancelled.append(e) or real_cancel(e, *a, **k))
    first = derive(network)
    assert len(cancelled) == 1  # δ³₁ simplified; δ³₂ is its renaming
    second = derive(network)
    assert len(cancelled) == 1
    for d in (first, second):
        assert d.delta(2, 2) == q("a", 2, 2) - q("y", 2)
        assert "simplify" in [step.rule for step in d.steps(("w", 2, 2, 1))]


def test_softmax_with_categorical_cross_entropy():
    d = derive(Network([3, 4, 3], activation=["tanh", "softmax"], cost="cross_entropy"))
    for j in range(1, 4):
        assert d.delta(2, j) == q("a", 2, j) - q("y", j)
    rules = [step.rule for step in d.steps(("b", 2, 1))]
    assert "output_jacobian" in rules and "targets_sum_to_one" in rules


def test_softmax_with_quadratic_cost_keeps_the_full_jacobian():
    d = derive(Network([2, 3], activation="softmax", cost="quadratic"))
    a = [q("a", 1, j) for j in (1, 2, 3)]
    y = [q("y", j) for j in (1, 2, 3)]
    expected = sum((a[i] - y[i]) * a[i] * (sp.KroneckerDelta(i, 0) - a[0]) for i in range(3))
    assert same(d.delta(1, 1), expected)
    assert matrix_form(d).jacobian.shape == (3, 3)


def test_identity_activation_passes_errors_back_unchanged():
    d = derive(Network([2, 3, 2], activation="identity", cost="quadratic"))
    for j in (1, 2, 3):
        assert same(d.delta(1, j), sum(q("w", 2, k, j) * q("delta", 2, k) for k in (1, 2)))


# ------------------------------------------------------------ the API


def test_keys_symbols_inputs_and_targets_allow_lambdify():
    d = derive(Network([2, 2, 1], activation="sigmoid", cost="quadratic"))
    assert d.params[0] == ("w", 1, 1, 1)
    assert ("b", 2, 1) in d.params
    w = d.symbol(("w", 2, 1, 2))
    assert (w.kind, w.indices) == ("w", (2, 1, 2))
    composed = d.gradient(("w", 2, 1, 2), form="composed")
    assert composed.free_symbols <= {d.symbol(k) for k in d.params} | set(d.inputs) | set(d.targets)
    f = sp.lambdify([*[d.symbol(k) for k in d.params], *d.inputs, *d.targets], composed)
    value = f(*([0.1] * len(d.params)), 0.5, -0.5, 1.0)
    assert isinstance(value, float)


def test_bad_keys_name_the_valid_range():
    d = derive(Network([2, 3, 2], bias=[True, False]))
    with pytest.raises(KeyError, match=r"expected 1\.\.3 in layer 1"):
        d.gradient(("w", 1, 4, 1))
    with pytest.raises(KeyError, match=r"expected 1\.\.2"):
        d.gradient(("w", 3, 1, 1))
    with pytest.raises(KeyError, match="layer 2 has no bias"):
        d.gradient(("b", 2, 1))
    with pytest.raises(ValueError, match="unknown form"):
        d.gradient(("w", 1, 1, 1), form="pretty")


def test_steps_record_the_chain_rule():
    d = derive(Network([2, 2, 2], activation="sigmoid", cost="quadratic"))
    steps = d.steps(("w", 1, 1, 2))
    rules = [s.rule for s in steps]
    assert rules[0] == "chain_rule" and "sum_over_paths" in rules and "activation_identity" in rules
    assert steps[-1].after == d.gradient(("w", 1, 1, 2))
    out = d.steps(("w", 2, 1, 2))
    assert [s.rule for s in out][:3] == ["chain_rule", "delta_definition", "weighted_input_derivative"]
    assert "cost_derivative" in [s.rule for s in out]


def test_derivations_are_deterministic():
    first = derive(Network([3, 3, 2], activation=["tanh", "sigmoid"]))
    second = derive(Network([3, 3, 2], activation=["tanh", "sigmoid"]))
    assert [str(first.gradient(k)) for k in first.params] == [str(second.gradient(k)) for k in second.params]


def test_a_sum_of_quantities_built_by_key_is_the_sum_add_builds():
    """total() sorts terms by a key instead of Basic.compare: the sum must be Add's own, argument for argument."""
    import random

    from symbackprop.model.symbols import product, total

    rng = random.Random(7)
    l = sp.Symbol("l", integer=True)

    def quantity():
        kind = rng.choice(["w", "b", "a", "z", "delta", "x", "n", "m"])  # n and m are positive: longer content
        if kind in ("n", "m"):
            return Quantity(kind) if kind == "n" else Quantity("m", rng.randint(1, 3))
        return Quantity(kind, rng.choice([rng.randint(1, 12), l, l - 1]), rng.randint(1, 12))

    for _ in range(400):
        terms = {}  # in the order drawn, so that a failure repeats whatever the hash seed
        for _ in range(rng.randint(2, 30)):
            pick = rng.random()
            if pick < 0.2:
                term = quantity()
            elif pick < 0.8:
                term = product(Quantity("w", rng.randint(1, 3), rng.randint(1, 12), rng.randint(1, 12)),
                               Quantity(rng.choice(["a", "delta", "x"]), rng.randint(1, 12), 1))
            else:
                term = sp.Mul(*{quantity(): None for _ in range(rng.randint(2, 4))})
            terms[term] = None
        terms = list(terms)
        rng.shuffle(terms)
        built = total(terms)
        assert built.args == sp.Add(*terms).args and built == sp.Add(*terms)
    # anything else, and a repeated term, is left to Add
    w, a = Quantity("w", 1, 1, 1), Quantity("a", 1, 1)
    assert total([w * a, w * a]) == 2 * w * a
    assert total([w * a, 3 * w, sp.Integer(1)]) == sp.Add(w * a, 3 * w, 1)


def test_the_terms_of_a_weighted_input_add_up_to_its_definition():
    fw = derive(Network([3, 2, 2])).forward
    for l, width in ((1, 2), (2, 2)):
        for j in range(1, width + 1):
            terms = fw.z_terms(l, j)
            assert sp.Add(*terms) == fw.z_definition(l, j)
            assert terms[-1] == fw.q("b", l, j) and terms[0] == fw.q("w", l, j, 1) * fw.activations(l - 1)[0]
