"""The whole-map statements of a network of feature maps over a batch: the documents state them for one example i
(the convolution's full correlation with the rotated kernel, ∂C/∂K summed over the examples, the bias summed
over the examples and positions, unflatten(δ_i), pooling's routing, (W)^T δ_i), and check-doc reads every one of
them, in Markdown and LaTeX, English and Chinese; a planted wrong rule is incorrect, its mistake named."""

import pytest

from symbackprop.claims.layered import check_layered_document, check_layered_formula
from symbackprop.model.layers import layered_from_mapping
from symbackprop.proof.layered import derive_layered
from symbackprop.proof.layered_report import render_layered

NETWORKS = {
    "conv1d": {"input": [1, 3], "batch": 2, "layer": [
        {"type": "conv1d", "channels": 1, "kernel": 2, "activation": "sigmoid"},
        {"type": "flatten"}, {"type": "dense", "size": 1, "activation": "sigmoid"}]},
    "batchnorm": {"input": [1, 2, 3], "batch": 2, "layer": [
        {"type": "conv2d", "channels": 2, "kernel": 2, "activation": "relu"},
        {"type": "batchnorm"}, {"type": "flatten"}, {"type": "dense", "size": 1, "activation": "sigmoid"}]},
    "strided": {"input": [1, 5], "batch": 2, "layer": [
        {"type": "conv1d", "channels": 1, "kernel": 2, "stride": 2, "activation": "sigmoid"},
        {"type": "maxpool", "size": 2}, {"type": "dense", "size": 1, "activation": "sigmoid"}]},
}


@pytest.fixture(scope="module")
def derived():
    return {key: derive_layered(layered_from_mapping(spec, key)) for key, spec in NETWORKS.items()}


@pytest.mark.parametrize("key", NETWORKS)
def test_every_statement_of_a_batched_map_is_read_and_correct(derived, key):
    derivation = derived[key]
    decided, counts = {}, []
    for fmt, lang in (("md", "en"), ("tex", "zh")):
        text = render_layered(derivation, fmt, lang).text
        assert "_{i,c}" in text or "_{i,o}" in text or "_{i}" in text  # stated for one example i
        results = check_layered_document(text, fmt, derivation.network, derivation=derivation, decided=decided)
        bad = [(r.line, r.status, getattr(r, "text", None) or r.claim.text) for r in results
               if r.status in ("incorrect", "undecided", "unreadable")]
        assert bad == []
        statements = [r for r in results if r.status == "correct" and "_{i" in r.claim.text]
        counts.append(len(statements))
        skipped = [getattr(r, "text", "") for r in results if r.status == "skipped"]
        if key != "batchnorm":  # every rule for whole maps is read; only definitions are skipped
            assert not [t for t in skipped if "partial C" in t or "delta" in t.split("=")[0]]
    assert min(counts) >= 3


def test_a_kernel_not_rotated_is_named(derived):
    derivation = derived["conv1d"]
    wrong = r"\frac{\partial C}{\partial x_{i,c}} = \sum_{o} \delta^{1}_{i,o} \star_{\mathrm{full}} K^{1}_{o,c}"
    verdict = check_layered_formula(wrong, derivation.network, derivation=derivation)
    assert verdict.status == "incorrect" and "kernel_not_rotated" in verdict.diagnosis


@pytest.mark.parametrize("claim", [
    r"\frac{\partial C}{\partial K^{1}_{o,c}} = x_{1,c} \star \delta^{1}_{1,o}",
    r"\frac{\partial C}{\partial b^{1}_{o}} = \sum_{p} \delta^{1}_{1,o,p}",
])
def test_the_sum_over_the_batch_forgotten_is_named(derived, claim):
    derivation = derived["conv1d"]
    right = r"\frac{\partial C}{\partial K^{1}_{o,c}} = \sum_{i} x_{i,c} \star \delta^{1}_{i,o}"
    assert check_layered_formula(right, derivation.network, derivation=derivation).status == "correct"
    verdict = check_layered_formula(claim, derivation.network, derivation=derivation)
    assert verdict.status == "incorrect" and "missing_example_sum" in verdict.diagnosis


def test_a_planted_rule_in_a_batched_document_is_incorrect(derived):
    derivation = derived["strided"]
    text = render_layered(derivation, "md", "en").text
    right = r"\operatorname{rot}_{180}\left(K^{1}_{o,c}\right)"
    assert right in text
    planted = text.replace(right, r"K^{1}_{o,c}", 1)
    results = check_layered_document(planted, "md", derivation.network, derivation=derivation)
    wrong = [r for r in results if r.status == "incorrect"]
    assert wrong and all("kernel_not_rotated" in r.diagnosis for r in wrong)
