"""Batches, batch normalisation and residual connections: the compact rules proven against the chain
rule, every gradient against central differences, planted wrong rules caught, shape errors named."""

import pytest
import sympy as sp

from symbackprop.claims.layered import check_layered_formula
from symbackprop.documents.printing import LatexPrinter
from symbackprop.errors import SpecError
from symbackprop.model.layers import (LayeredNetwork, Site, batchnorm, batchnorm_symbols, channel_groups, conv1d,
                                      dense, flatten, layered_from_mapping, residual)
from symbackprop.proof.layered import batchnorm_backward, derive_layered, plant


def facts(report):
    return {(f.what, f.layer): f for f in report.facts}


@pytest.mark.parametrize("shape, layers, cost, batch", [
    # a vector: every entry its own channel, normalised over the batch
    (2, [dense(2, "tanh"), batchnorm(), residual(1), dense(1, "identity")], "quadratic", 3),
    # a map: each channel normalised over the batch and every position; a skip from the input
    ([1, 3], [conv1d(1, 2, padding=0, activation="identity"), batchnorm(epsilon=0.01), flatten(),
              dense(2, "sigmoid")], "binary_cross_entropy", 2),
    # the cross-entropy over a batch: each example's targets sum to 1
    (2, [batchnorm(), residual(0), dense(3, "softmax")], "cross_entropy", 2),
], ids=["vector", "map", "softmax"])
def test_every_gradient_agrees_with_central_differences(shape, layers, cost, batch):
    net = LayeredNetwork(shape, layers, cost=cost, batch=batch)
    report = derive_layered(net).check(points=1, composed=False)
    assert report.ok, [f for f in report.facts if not f.ok]
    found = facts(report)
    bn = next(layer.index for layer in net.layers if layer.type == "batchnorm")
    assert found[("backward", bn)].method == "rational" and found[("gradients", bn)].method == "rational"
    assert found[("numeric", None)].count == net.parameter_count


def test_the_composed_cost_agrees_on_a_tiny_batch():
    net = LayeredNetwork(1, [batchnorm(), dense(1, "identity", bias=False)], batch=2)
    composed = facts(derive_layered(net).check(points=1, composed=True))[("composed", None)]
    assert composed.ok and composed.count == 3


def test_the_compact_form_and_the_parameter_gradients():
    net = LayeredNetwork(1, [batchnorm(), dense(1, "identity")], batch=2)
    d = derive_layered(net)
    delta = [Site("delta", 1, e, 1) for e in (1, 2)]
    xhat = [Site("xhat", 1, e, 1) for e in (1, 2)]
    gamma, sigma = Site("gamma", 1, 1), Site("sigma", 1, 1)
    compact = gamma / (2 * sigma) * (2 * delta[0] - sum(delta) - xhat[0] * (delta[0] * xhat[0] + delta[1] * xhat[1]))
    assert sp.expand(d.backward[1][(1, 1)] - compact) == 0
    assert d.gradients[gamma] == delta[0] * xhat[0] + delta[1] * xhat[1]
    assert d.gradients[Site("beta", 1, 1)] == delta[0] + delta[1]


def test_an_activation_after_the_addition_acts_before_the_error_splits():
    """z³ = a² + a¹, a³ = tanh(z³): δ³ = ∂C/∂a³ ⊙ tanh'(z³) is what the main path and the skip both carry."""
    net = LayeredNetwork(2, [dense(2, "tanh"), dense(2, "identity"), residual(1, "tanh"), dense(1, "identity")])
    d = derive_layered(net)
    assert net.layer(3).has_z and d.forward.definitions[3][(1,)] == Site("a", 2, 1) + Site("a", 1, 1)
    assert sp.expand(d.deltas[3][(1,)] - Site("w", 4, 1, 1) * Site("delta", 4, 1) * (1 - Site("a", 3, 1) ** 2)) == 0
    assert d.skips[3][(1,)] == Site("delta", 3, 1) and d.backward[3][(1,)] == Site("delta", 3, 1)
    report = d.check(points=1, composed=False)
    assert report.ok and {("skip", 3), ("numeric", None)} <= set(facts(report))
    # the identity, named or not, is no activation: the sum itself is the output, as before
    assert not LayeredNetwork(2, [dense(2), dense(2), residual(1, "identity"), dense(1)]).layer(3).has_z


def test_the_skip_adds_its_error_to_the_layer_it_starts_from():
    net = LayeredNetwork(2, [dense(2, "tanh"), dense(2, "identity"), residual(1), dense(1, "identity")])
    d = derive_layered(net)
    assert d.skips[3][(1,)] == Site("delta", 3, 1)
    # δ¹ = ((W²)ᵀ δ² + δ³) ⊙ σ'(z¹)
    passed = Site("w", 2, 1, 1) * Site("delta", 2, 1) + Site("w", 2, 2, 1) * Site("delta", 2, 2)
    assert sp.expand(d.deltas[1][(1,)] - (passed + Site("delta", 3, 1)) * (1 - Site("a", 1, 1) ** 2)) == 0


# ---------------------------------------------------------------------- planted mistakes


def _forgetting(mean: bool):
    """The compact rule with the mean's path (Σ_j δ_j) or the variance's path (x̂_i Σ_j δ_j x̂_j) left out."""
    def rule(fw, layer, delta):
        gamma, _, _, sigma, xhat, _ = batchnorm_symbols(layer.index)
        out = {}
        for c, members in channel_groups(fw.network, layer.input_shape).items():
            n = len(members)
            through_mean = sp.Add(*[delta[j] for j in members])
            through_variance = sp.Add(*[delta[j] * xhat(j) for j in members])
            for i in members:
                kept = through_variance * xhat(i) if mean else through_mean
                out[i] = gamma(c) / (n * sigma(c)) * (n * delta[i] - kept)
        return out
    return rule


def _no_skip(fw, layer, delta):
    return {pos: sp.S.Zero for pos in delta}


def _skip_without_sigma_prime(fw, layer, delta):
    """The classic mistake with an activation after the addition: ∂C/∂a^l = δ^l / σ'(z^l) sent along the
    skip, as if the skip bypassed the activation."""
    return {pos: d / layer.activation.prime_named(fw.weighted[layer.index][pos], fw.outputs[layer.index][pos])
            for pos, d in delta.items()}


@pytest.mark.parametrize("rule, change, caught, activation", [
    ("batchnorm", {"backward": _forgetting(mean=True)}, ("backward", 2), None),
    ("batchnorm", {"backward": _forgetting(mean=False)}, ("backward", 2), None),
    ("residual", {"skip": _no_skip}, ("skip", 3), None),
    ("residual", {"skip": _skip_without_sigma_prime}, ("skip", 3), "sigmoid"),
], ids=["the mean's path forgotten", "the variance's path forgotten", "the skip forgotten",
        "sigma' forgotten on the skip"])
def test_a_planted_wrong_rule_is_caught(rule, change, caught, activation):
    net = LayeredNetwork(2, [dense(2, "tanh"), batchnorm(), residual(1, activation), dense(1, "identity")], batch=3)
    bad = derive_layered(net, rules=plant(rule, **change))
    found = facts(bad.check(points=1, composed=False))
    assert not found[caught].ok and found[caught].failed > 0      # the symbolic proof fails
    assert not found[("numeric", None)].ok                        # and the independent numbers disagree


# ---------------------------------------------------------------------- descriptions


def test_a_description_with_a_batch():
    net = layered_from_mapping({"input": 2, "batch": 2, "layer": [
        {"type": "dense", "size": 2}, {"type": "batchnorm", "epsilon": 0.001}, {"type": "residual", "from": 1}]})
    assert net.batch == 2 and net.layer(2).spec.epsilon == sp.Rational(1, 1000)
    assert [layer.type for layer in net.layers] == ["dense", "batchnorm", "residual"]
    net = layered_from_mapping({"input": 2, "layer": [{"type": "dense", "size": 2}, {"type": "dense", "size": 2},
                                                       {"type": "residual", "from": 1, "activation": "relu"}]})
    assert net.layer(3).spec == residual(1, "relu") and net.layer(3).activation.name == "relu"


@pytest.mark.parametrize("layers, batch, message", [
    ([dense(3), dense(2), residual(1)], 1,
     "layer 3 (residual) adds the output of layer 1, of shape 3, to its input of shape 2; expected both of one shape"),
    ([{"type": "residual", "from": 1}, dense(1)], 1, "layer 1 (residual): from 1; expected the number of a layer"),
    ([{"type": "residual"}], 1, "layer 1 (residual): missing 'from'; expected the number of an earlier layer"),
    ([dense(2), dense(2), {"type": "residual", "from": 1, "activation": "swish"}], 1,
     "layer 3 (residual): unknown activation 'swish'; expected one of: generic, identity, leaky_relu, relu"),
    ([batchnorm(), dense(1)], 1, "layer 1 (batchnorm) normalises each channel of its input of shape 2 over a batch "
                                 "of 1: 1 entry per channel; expected at least 2"),
    ([{"type": "batchnorm", "epsilon": "small"}, dense(1)], 2, "layer 1 (batchnorm): epsilon 'small'; expected a "
                                                              "positive number"),
    ([dense(1)], 0, "batch 0 is not a number of examples; expected a positive integer"),
])
def test_bad_descriptions_name_the_layer_and_both_shapes(layers, batch, message):
    with pytest.raises(SpecError) as caught:
        LayeredNetwork(2, layers, batch=batch)
    assert message in str(caught.value)


# ---------------------------------------------------------------------- documents


def test_documents_state_the_rules_and_the_skip():
    from symbackprop.proof.layered_report import render_layered

    net = LayeredNetwork(2, [dense(2, "tanh"), dense(2, "identity"), residual(1), dense(1, "identity")])
    d = derive_layered(net)
    report = d.check(points=1, composed=False)
    text = render_layered(d, "text", "en", report=report).text
    # a¹ is read by layer 2 and by the skip of layer 3: the chain ends with the rule's entry plus δ³
    chain = next(line for line in text.splitlines() if line.startswith("  ∂C/∂a¹_1 ="))
    assert chain.endswith("= δ³_1 + ((W²)ᵀ δ²)_1"), chain
    assert "[ok] skip layer 3 (residual)" in text
    maps = LayeredNetwork([1, 3], [conv1d(1, 2, activation="tanh"), batchnorm(), flatten(), dense(1, "identity")],
                          batch=2)
    d = derive_layered(maps)
    for lang in ("en", "zh"):
        for fmt in ("md", "tex"):
            page = render_layered(d, fmt, lang).text
            assert "\\hat{x}^{(2)}" in page and "\\sigma^{(2)}_{c}" in page


def test_documents_of_an_activation_after_the_addition_pass_check_doc():
    """δ³ = ∂C/∂a³ ⊙ ReLU'(z³) is stated, read and proven; the rule of layer 2 states the skip's δ³ it
    receives too, and the skip's statement is written with layer 2's rule, so that every claim is read."""
    from symbackprop.claims.layered import check_layered_document
    from symbackprop.proof.layered_report import render_layered

    net = LayeredNetwork(2, [dense(2, "tanh"), dense(2, "identity"), residual(1, "relu"), dense(1, "identity")])
    d = derive_layered(net)
    report = d.check(points=1, composed=False)
    error = r"\delta^{3} = \frac{\partial C}{\partial a^{3}} \odot \operatorname{ReLU}'\left(z^{3}\right)"
    skip = r"\frac{\partial C}{\partial a^{1}} = \delta^{3} + \left(W^{2}\right)^{T} \delta^{2}"
    for lang, fmt in (("en", "md"), ("zh", "tex")):
        page = render_layered(d, fmt, lang, report=report).text
        assert error in page and page.count(skip) == 2
        results = check_layered_document(page, fmt, net, derivation=d)
        assert not [r for r in results if r.status in ("incorrect", "undecided", "unreadable")]
        read = {r.text if r.status == "skipped" else r.claim.text: r.status for r in results}
        assert read[error] == read[skip] == "correct"


# ---------------------------------------------------------------------- claims


@pytest.fixture(scope="module")
def block():
    """A residual block with batch normalisation over a batch of 2, one unit wide, and its derivation."""
    net = LayeredNetwork(1, [dense(1, "tanh"), batchnorm(), residual(1), dense(1, "identity")], batch=2)
    return net, derive_layered(net)


# the compact form, for every example i: γ/(nσ) (n δ_i − Σ_j δ_j − x̂_i Σ_j δ_j x̂_j), plus the skip's δ³
_SCALE = r"\frac{\gamma^{(2)}_{1}}{2 \sigma^{(2)}_{1}}"
_MEAN = r"\sum_{j} \delta^{2}_{j,1}"
_VARIANCE = r"\hat{x}^{(2)}_{i,1} \sum_{j} \delta^{2}_{j,1} \hat{x}^{(2)}_{j,1}"
_INTO = r"\frac{\partial C}{\partial a^{1}_{i,1}} = "


@pytest.mark.parametrize("claim", [
    _INTO + rf"\delta^{{3}}_{{i,1}} + {_SCALE} \left(2 \delta^{{2}}_{{i,1}} - {_MEAN} - {_VARIANCE}\right)",
    # the activation σ' and batch normalisation's σ^{(2)} in one claim, told apart by their form
    r"\delta^{1}_{i,1} = \sigma'(z^{1}_{i,1}) \left(\delta^{3}_{i,1} + "
    + rf"{_SCALE} \left(2 \delta^{{2}}_{{i,1}} - {_MEAN} - {_VARIANCE}\right)\right)",
    r"\frac{\partial C}{\partial \gamma^{(2)}_{1}} = \sum_{i} \delta^{2}_{i,1} \hat{x}^{(2)}_{i,1}",
    # x̂ written through its definition: compared as rational functions in σ
    r"\frac{\partial C}{\partial \gamma^{(2)}_{1}} = \sum_{i} \delta^{2}_{i,1} \frac{a^{1}_{i,1} - \mu^{(2)}_{1}}{\sigma^{(2)}_{1}}",
    r"\frac{\partial C}{\partial \beta^{(2)}_{1}} = \sum_{i} \delta^{2}_{i,1}",
    "∂C/∂β^{(2)}_{1} = δ^{2}_{1,1} + δ^{2}_{2,1}",
], ids=["compact form", "delta with both sigmas", "gamma", "gamma through x-hat", "beta", "unicode"])
def test_batch_normalisation_claims_are_proven_exactly(claim, block):
    net, d = block
    verdict = check_layered_formula(claim, net, derivation=d)
    assert (verdict.status, verdict.method) == ("correct", "exact")


@pytest.mark.parametrize("claim, mistake", [
    (_INTO + rf"\delta^{{3}}_{{i,1}} + {_SCALE} \left(2 \delta^{{2}}_{{i,1}} - {_VARIANCE}\right)", "missing_mean_path"),
    (_INTO + rf"\delta^{{3}}_{{i,1}} + {_SCALE} \left(2 \delta^{{2}}_{{i,1}} - {_MEAN}\right)", "missing_variance_path"),
    (_INTO + rf"{_SCALE} \left(2 \delta^{{2}}_{{i,1}} - {_MEAN} - {_VARIANCE}\right)", "missing_skip"),
], ids=["the mean's path forgotten", "the variance's path forgotten", "the skip forgotten"])
def test_planted_batch_normalisation_and_skip_mistakes_are_named(claim, mistake, block):
    net, d = block
    verdict = check_layered_formula(claim, net, derivation=d)
    assert verdict.status == "incorrect" and verdict.diagnosis == (mistake,)


@pytest.mark.parametrize("claim, mistake", [
    # the skip's term written as ∂C/∂a³ = w⁴ δ⁴, where δ³ = ∂C/∂a³ ⊙ tanh'(z³) belongs
    (r"\frac{\partial C}{\partial a^{1}_{1}} = w^{4}_{1,1} \delta^{4}_{1} + w^{2}_{1,1} \delta^{2}_{1} + w^{2}_{2,1} \delta^{2}_{2}",
     "skip_without_activation_derivative"),
    (r"\delta^{3}_{1} = w^{4}_{1,1} \delta^{4}_{1}", "missing_activation_derivative"),
], ids=["sigma' forgotten on the skip", "sigma' forgotten in delta"])
def test_an_activation_after_the_addition_forgotten_is_named(claim, mistake):
    net = LayeredNetwork(2, [dense(2, "tanh"), dense(2, "identity"), residual(1, "tanh"), dense(1, "identity")])
    d = derive_layered(net)
    right = check_layered_formula(claim.replace(r"w^{4}_{1,1} \delta^{4}_{1} +", r"\delta^{3}_{1} +")
                                  if "a^{1}" in claim else claim + r" (1 - (a^{3}_{1})^{2})", net, derivation=d)
    assert (right.status, right.method) == ("correct", "exact")
    verdict = check_layered_formula(claim, net, derivation=d)
    assert verdict.status == "incorrect" and verdict.diagnosis == (mistake,)


def test_the_rules_planted_wrong_give_the_mistakes_the_checker_names(block):
    """The entries of the planted wrong rules above are the forms the checker compares a claim with."""
    net, d = block
    for mean, name in ((True, "missing_mean_path"), (False, "missing_variance_path")):
        bad = derive_layered(net, rules=plant("batchnorm", backward=_forgetting(mean=mean)))
        for e in (1, 2):
            wrong = bad.backward[2][(e, 1)]
            text = _INTO.replace("i,1", f"{e},1") + LatexPrinter({"notation": "nielsen"}).doprint(
                wrong + Site("delta", 3, e, 1))
            verdict = check_layered_formula(text, net, derivation=d)
            assert verdict.status == "incorrect" and verdict.diagnosis == (name,)
