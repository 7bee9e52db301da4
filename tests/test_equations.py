"""BP1–BP4 checks: every method accepts right derivations and rejects planted mistakes."""

import dataclasses
import random

import pytest
import sympy as sp

from symbackprop import Network, derive
from symbackprop.model.activations import A, ACTIVATIONS, Activation, Z
from symbackprop.proof.equations import _Graph, check, inductive_facts, matrix_form, numeric_facts
from symbackprop.proof.oracle import ForwardPass

NETWORKS = {
    "sigmoid-quadratic": Network([2, 3, 2], activation="sigmoid", cost="quadratic"),
    "seed002": Network([2, 2, 2], activation="sigmoid", cost="quadratic", bias=False),
    "generic": Network([2, 3, 2], activation="generic", cost="quadratic"),
    "tanh-softmax-ce-l2": Network([2, 3, 3], activation=["tanh", "softmax"], cost="cross_entropy", l2=True),
    "relu-sigmoid-bce": Network([3, 2, 2], activation=["relu", "sigmoid"], cost="binary_cross_entropy", l2=0.1),
    "deep-mixed": Network([2, 3, 3, 2], activation=["softplus", "leaky_relu", "identity"], cost="quadratic"),
}


@pytest.mark.parametrize("name", sorted(NETWORKS))
@pytest.mark.parametrize("method", ["exact", "inductive", "numeric"])
def test_every_method_accepts_a_correct_derivation(name, method):
    report = check(derive(NETWORKS[name]), method=method)
    assert report.ok, [f for f in report.failures]
    assert {f.method for f in report.facts} == {method}
    equations = {f.equation for f in report.facts}
    assert {"BP3", "BP4"} & equations if method == "numeric" else {"BP1", "BP4"} <= equations


def test_auto_is_exact_for_small_networks_and_always_numeric():
    report = check(derive(NETWORKS["seed002"]))
    assert {f.method for f in report.facts} == {"exact", "numeric"}
    assert report.method == "auto"


def test_auto_is_inductive_for_larger_networks():
    report = check(derive(Network([20, 12, 4])), points=1)
    assert {f.method for f in report.facts} == {"inductive", "numeric"}
    numeric = {(f.equation, f.layer): f for f in report.facts if f.method == "numeric"}
    # the numeric check covers δ (BP1, BP2) as well as every parameter (BP3, BP4)
    assert set(numeric) == {("BP2", 1), ("BP3", 1), ("BP4", 1), ("BP1", 2), ("BP3", 2), ("BP4", 2)}
    assert numeric[("BP4", 1)].evidence["total"] == 240 and numeric[("BP4", 1)].evidence["neurons"] == 12


def test_numeric_agreement_is_never_called_a_proof():
    report = check(derive(NETWORKS["seed002"]), method="numeric")
    for fact in report.facts:
        assert "proof" not in fact.detail.lower() and "proven" not in fact.detail.lower()
        assert "central differences" in fact.detail


# ------------------------------------------------------------ planted mistakes


def wrong_sigmoid():
    """The sigmoid with σ' = σ(1 + σ): a wrong identity registered on purpose."""
    return Activation("sigmoid", 1 / (1 + sp.exp(-Z)), sp.exp(-Z) / (1 + sp.exp(-Z)) ** 2, A * (1 + A))


@pytest.mark.parametrize("method", ["exact", "inductive", "numeric"])
def test_a_planted_wrong_rule_fails_naming_equation_and_layer(method):
    # the wrong rule sits on the hidden layer only: BP2 at layer 1 must fail, the output stays right
    network = Network([2, 3, 2], activation=[wrong_sigmoid(), "tanh"], cost="quadratic")
    report = check(derive(network), method=method)
    assert not report.ok
    failed = {(f.equation, f.layer) for f in report.failures}
    assert ("BP2", 1) in failed
    assert not any(layer == 2 for _, layer in failed)
    if method == "numeric":
        assert ("BP4", 1) in failed


@pytest.mark.parametrize("method", ["exact", "inductive", "numeric"])
def test_a_planted_wrong_output_rule_fails_bp1(method):
    network = Network([2, 2, 2], activation=["tanh", wrong_sigmoid()], cost="quadratic")
    failed = {(f.equation, f.layer) for f in check(derive(network), method=method).failures}
    assert ("BP1", 2) in failed


def test_a_wrong_registered_derivative_fails_the_rule_proof():
    wrong = Activation("tanh", sp.tanh(Z), 1 + sp.tanh(Z) ** 2, 1 + A**2)
    report = check(derive(Network([2, 2, 2], activation=[wrong, "sigmoid"])), method="inductive")
    (fact,) = [f for f in report.facts if f.equation == "BP2"]
    assert not fact.ok and "FAILS" in fact.detail


def planted(derivation, key, factor):
    gradients = dict(derivation.gradients)
    gradients[key] = gradients[key] * factor
    return dataclasses.replace(derivation, gradients=gradients, _memo={})


@pytest.mark.parametrize("method", ["exact", "inductive", "numeric"])
@pytest.mark.parametrize("key", [("w", 1, 2, 1), ("b", 2, 1)])
def test_a_planted_wrong_gradient_fails(method, key):
    wrong = planted(derive(NETWORKS["sigmoid-quadratic"]), key, 2)
    failed = {(f.equation, f.layer) for f in check(wrong, method=method).failures}
    expected = ("BP4" if key[0] == "w" else "BP3", key[1])
    assert expected in failed


@pytest.mark.parametrize("method", ["exact", "inductive", "numeric"])
def test_a_planted_wrong_delta_fails(method):
    d = derive(NETWORKS["sigmoid-quadratic"])
    deltas = dict(d.deltas)
    old = deltas[(1, 2)]
    deltas[(1, 2)] = dataclasses.replace(old, raw=old.raw * 2, value=old.value * 2)
    broken = dataclasses.replace(d, deltas=deltas, _memo={})
    failures = check(broken, method=method).failures
    assert ("BP2", 1) in {(f.equation, f.layer) for f in failures}
    if method == "numeric":
        # the δ comparison names the neuron
        (fact,) = [f for f in failures if f.equation == "BP2"]
        assert fact.evidence["failed"] == [2]


def test_a_missing_transpose_in_the_matrix_form_is_caught():
    d = derive(Network([2, 3, 2], activation="sigmoid"))
    form = matrix_form(d)
    assert form.weights[1].shape == (3, 2) and form.delta[1].shape == (3, 1)
    # an a^T δ-order outer product would have the transposed shape
    assert (form.weights[1].T).shape != form.weights[1].shape


# ------------------------------------------------------------ the exact method's reference


@pytest.mark.parametrize("name", ["sigmoid-quadratic", "tanh-softmax-ce-l2", "relu-sigmoid-bce"])
def test_graph_derivative_equals_plain_sympy_diff(name):
    """The fast reference derivative is SymPy's diff of the composed cost, only faster."""
    d = derive(NETWORKS[name])
    fw = d.forward
    params = [fw.q(*key) for key in d.params]
    graph = _Graph(params)
    composed = fw.composed(fw.cost, opaque=True)
    cost = graph.cut(composed)
    for theta in random.Random(1).sample(params, 5):
        plain = graph.cut(sp.diff(composed, theta))
        fast = graph.derivative(cost, theta, {})
        difference = sp.expand(plain - fast)
        assert difference == 0 or sp.simplify(difference) == 0


def test_the_numeric_check_covers_every_parameter_with_few_forward_passes(monkeypatch):
    """Directional derivatives: the oracle's work grows with the neurons, not with the parameters."""
    d = derive(Network([40, 5, 2]))
    calls = []
    original = ForwardPass._along
    monkeypatch.setattr(ForwardPass, "_along", lambda self, *args: calls.append(args[1]) or original(self, *args))
    facts = numeric_facts(d, points=1)
    assert all(f.ok for f in facts)
    bp4 = next(f for f in facts if (f.equation, f.layer) == ("BP4", 1))
    assert bp4.evidence["total"] == 200 and bp4.evidence["neurons"] == 5
    assert bp4.evidence["whole"]["total"] == d.network.parameter_count
    # two evaluations per derivative: along each z (7), each neuron's weights (7), each layer's weights
    # and biases in 2 random directions (8) and all parameters in 2 (2); never two per parameter (217)
    assert len(calls) == 2 * (7 + 7 + 8 + 2)


def test_per_neuron_directions_locate_a_wrong_entry():
    d = derive(Network([4, 3, 2], activation="sigmoid"))
    wrong = planted(d, ("w", 1, 2, 3), sp.Rational(101, 100))
    facts = {(f.equation, f.layer): f for f in numeric_facts(wrong, points=1)}
    fact = facts[("BP4", 1)]
    assert not fact.ok
    # the neuron's direction fails, and its weights tried one by one name the wrong one alone
    assert fact.evidence["failed"] == [2]
    assert fact.evidence["located"] == ["w,1,2,3"]
    assert "w,1,2,3" in fact.detail
    # δ is right, and so is every other layer's gradient
    assert all(f.ok for key, f in facts.items() if key != ("BP4", 1))


def test_inductive_facts_cover_every_layer():
    d = derive(Network([3, 4, 4, 2], activation=["relu", "tanh", "sigmoid"], bias=[True, False, True]))
    facts = inductive_facts(d)
    assert {(f.equation, f.layer) for f in facts} == {
        ("BP1", 3), ("BP2", 2), ("BP2", 1), ("BP3", 1), ("BP3", 3), ("BP4", 1), ("BP4", 2), ("BP4", 3)}
    assert all(f.ok for f in facts)


def test_unknown_method():
    with pytest.raises(ValueError, match="expected one of"):
        check(derive(NETWORKS["seed002"]), method="guess")


def test_every_registered_activation_through_a_network():
    for name, rule in ACTIVATIONS.items():
        if name == "softmax":
            continue
        report = check(derive(Network([2, 2, 1], activation=name)), method="exact")
        assert report.ok, name


@pytest.mark.parametrize("cost", ["binary_cross_entropy", "cross_entropy"])
def test_a_generic_output_under_a_cross_entropy_is_checked_numerically(cost):
    # the generic σ is realised by a stand-in with values in (0, 1), so log a^L is real
    derivation = derive(Network([2, 2, 2], activation="generic", cost=cost))
    facts = numeric_facts(derivation, points=2)
    assert facts and all(f.ok for f in facts)
    assert all("1/2 + atan(z + z²/4)/pi" in f.evidence["stand_in"] for f in facts)
    wrong = planted(derivation, ("w", 1, 1, 2), 2)
    assert ("BP4", 1) in {(f.equation, f.layer) for f in numeric_facts(wrong, points=2) if not f.ok}
