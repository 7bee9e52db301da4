"""Claims about networks of layers: read entry by entry, decided against the derivation, classic mistakes named."""

import json

import pytest

from symbackprop.cli import main
from symbackprop.claims.layered import check_layered_formula, layered_truth, parse_layered_claim
from symbackprop.errors import SpecError
from symbackprop.model.layers import LayeredNetwork, Site, avgpool, conv1d, conv2d, dense, maxpool
from symbackprop.proof.layered import derive_layered

# small networks, so that the suite stays fast: a 1-D convolution before max pooling, a 2-D one, average pooling
CONV_POOL = LayeredNetwork([1, 5], [conv1d(1, 2, activation="sigmoid"), maxpool(2), dense(1, "identity")])
CONV_2D = LayeredNetwork([1, 3, 3], [conv2d(1, 2, activation="identity"), dense(1, "identity")])
AVERAGE = LayeredNetwork([1, 4], [avgpool(2), dense(1, "identity")])


@pytest.fixture(scope="module")
def derivations():
    return {net: derive_layered(net) for net in (CONV_POOL, CONV_2D, AVERAGE)}


def verdict(text, net, derivations):
    return check_layered_formula(text, net, derivation=derivations[net])


@pytest.mark.parametrize("net, claim, method", [
    # a shared kernel entry: the sum over every position it is used at (index letters read at each value)
    (CONV_2D, r"\frac{\partial C}{\partial K^{1}_{1,1,p,q}} = \sum_{i,j} \delta^{1}_{1,i,j} x_{1,i+p-1,j+q-1}", "exact"),
    (CONV_2D, r"\frac{\partial C}{\partial b^{1}_{1}} = \sum_{i,j} \delta^{1}_{1,i,j}", "exact"),
    # the rotated kernel written out as flipped indices (outside the map, δ reads as a padding zero)
    (CONV_2D, r"\frac{\partial C}{\partial x_{1,i,j}} = \sum_{p,q} \delta^{1}_{1,i-p+1,j-q+1} K^{1}_{1,1,p,q}", "exact"),
    (CONV_POOL, r"\frac{\partial C}{\partial x_{1,i}} = \sum_{p} \delta^{1}_{1,i-p+1} K^{1}_{1,1,p}", "exact"),
    (CONV_POOL, r"\delta^{1}_{1,3} = \frac{\partial C}{\partial a^{1}_{1,3}} \sigma'(z^{1}_{1,3})", "exact"),
    (CONV_POOL, r"\frac{\partial C}{\partial w^{3}_{1,k}} = \delta^{3}_{1} a^{2}_{1,k}", "exact"),
    # max pooling in the chain rule's own words: the derivative of the maximum, proven in every case
    (CONV_POOL, r"\frac{\partial C}{\partial a^{1}_{1,1}} = \frac{\partial C}{\partial a^{2}_{1,1}} "
                r"\frac{\partial a^{2}_{1,1}}{\partial a^{1}_{1,1}}", "cases"),
    (AVERAGE, r"\frac{\partial C}{\partial x_{1,3}} = \frac{1}{2} \delta^{1}_{1,2}", "exact"),
])
def test_correct_claims_are_proven(net, claim, method, derivations):
    v = verdict(claim, net, derivations)
    assert (v.status, v.method) == ("correct", method)


@pytest.mark.parametrize("net, claim, mistake", [
    # the kernel slid over δ without its rotation
    (CONV_2D, r"\frac{\partial C}{\partial x_{1,i,j}} = \sum_{p,q} \delta^{1}_{1,i+p-2,j+q-2} K^{1}_{1,1,p,q}",
     "kernel_not_rotated"),
    (CONV_POOL, r"\frac{\partial C}{\partial x_{1,i}} = \sum_{p} \delta^{1}_{1,i+p-2} K^{1}_{1,1,p}", "kernel_not_rotated"),
    # a shared weight's gradient from one position only
    (CONV_2D, r"\frac{\partial C}{\partial K^{1}_{1,1,1,2}} = \delta^{1}_{1,1,1} x_{1,1,2}", "missing_position_sum"),
    (CONV_2D, r"\frac{\partial C}{\partial b^{1}_{1}} = \delta^{1}_{1,2,1}", "missing_position_sum"),
    # max pooling's δ sent to every entry of its window; average pooling's not divided
    (CONV_POOL, r"\frac{\partial C}{\partial a^{1}_{1,2}} = \delta^{2}_{1,1}", "pool_delta_everywhere"),
    (AVERAGE, r"\frac{\partial C}{\partial x_{1,3}} = \delta^{1}_{1,2}", "pool_not_averaged"),
    (CONV_POOL, r"\delta^{1}_{1,1} = \frac{\partial C}{\partial a^{1}_{1,1}}", "missing_activation_derivative"),
])
def test_planted_mistakes_are_named(net, claim, mistake, derivations):
    v = verdict(claim, net, derivations)
    assert v.status == "incorrect" and v.method == "numeric"
    assert v.diagnosis == (mistake,)
    claimed, actual = v.counterexample
    assert abs(claimed - actual) > 1e-10


def test_a_wrong_claim_with_no_classic_mistake_has_no_diagnosis(derivations):
    v = verdict(r"\frac{\partial C}{\partial b^{1}_{1}} = 2 \sum_{i,j} \delta^{1}_{1,i,j}", CONV_2D, derivations)
    assert v.status == "incorrect" and v.diagnosis == ()


def test_the_truth_is_the_derivation(derivations):
    d = derivations[CONV_2D]
    claim = parse_layered_claim(r"\frac{\partial C}{\partial K^{1}_{1,1,2,2}} = 0", d)
    assert claim.target == Site("K", 1, 1, 1, 2, 2)
    assert layered_truth(d, claim.target) == d.gradients[Site("K", 1, 1, 1, 2, 2)]


@pytest.mark.parametrize("claim, expected", [
    (r"\delta^{1}_{1,9,1} = 0", "index 2 is 9; expected 1..2"),
    (r"z^{1}_{1,1,1} = 0", "names no error or gradient of one entry"),
    (r"\frac{\partial C}{\partial K^{1}_{1,1,1}} = 0", "has 3 indices; expected 2 or 4"),
])
def test_bad_claims_say_what_is_expected(claim, expected, derivations):
    with pytest.raises(SpecError, match=expected.replace("(", r"\(")):
        check_layered_formula(claim, CONV_2D, derivation=derivations[CONV_2D])


SPEC = """
input = [1, 5]
cost = "quadratic"
[[layer]]
type = "conv1d"
channels = 1
kernel = 2
activation = "sigmoid"
[[layer]]
type = "maxpool"
size = 2
[[layer]]
type = "dense"
size = 1
activation = "identity"
"""

DOCUMENT = r"""
The weighted input, a definition:

$$
z^{1}_{1,i} = b^{1}_{1} + \sum_{p} K^{1}_{1,1,p} x_{1,i+p-1}
$$

$$
\frac{\partial C}{\partial K^{1}_{1,1,p}} = \sum_{i} \delta^{1}_{1,i} x_{1,i+p-1}
$$

$$
\frac{\partial C}{\partial x_{1,i}} = \sum_{p} \delta^{1}_{1,i+p-2} K^{1}_{1,1,p}
$$
"""


def test_check_and_check_doc_read_a_description_of_layers(tmp_path, capsys):
    spec = tmp_path / "net.toml"
    spec.write_text(SPEC, encoding="utf-8")
    assert main(["check", str(spec), r"\frac{\partial C}{\partial b^{1}_{1}} = \sum_{i} \delta^{1}_{1,i}"]) == 0
    assert "correct: proven exactly" in capsys.readouterr().out
    assert main(["check", str(spec), r"\frac{\partial C}{\partial b^{1}_{1}} = \delta^{1}_{1,1}", "--lang", "zh"]) == 1
    assert "缺少对位置的求和" in capsys.readouterr().out
    doc = tmp_path / "notes.md"
    doc.write_text(DOCUMENT, encoding="utf-8")
    assert main(["check-doc", str(spec), str(doc), "--json"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert [r["status"] for r in data["results"]] == ["skipped", "correct", "incorrect"]
    assert data["results"][2]["diagnosis"] == ["kernel_not_rotated"]


def test_claims_about_a_batch_and_a_skip_are_read_with_the_example_first():
    from symbackprop.model.layers import residual

    net = LayeredNetwork(2, [dense(2, "tanh"), dense(2, "tanh"), residual(1), dense(1, "identity")], batch=2)
    right = r"\frac{\partial C}{\partial a^{1}_{e,j}} = \sum_{k} w^{2}_{k,j} \delta^{2}_{e,k} + \delta^{3}_{e,j}"
    assert check_layered_formula(right, net).status == "correct"
    skip_forgotten = r"\frac{\partial C}{\partial a^{1}_{e,j}} = \sum_{k} w^{2}_{k,j} \delta^{2}_{e,k}"
    verdict = check_layered_formula(skip_forgotten, net)
    assert verdict.status == "incorrect" and verdict.diagnosis == ("missing_skip",)


def test_the_gallery_convolution_document_states_only_correct_claims_about_entries():
    """Every claim of the gallery's conv document about one entry is read and correct (long sums broken over
    lines, a dense layer's flattened input a^{2}_{k}); only members in the notation for whole maps are not read."""
    from pathlib import Path

    from symbackprop.claims.layered import check_layered_document
    from symbackprop.examples import CONVOLUTIONAL
    from symbackprop.model.layers import layered_from_mapping

    document = (Path(__file__).resolve().parent.parent / "output" / "conv.en.md").read_text(encoding="utf-8")
    results = check_layered_document(document, "md", layered_from_mapping(CONVOLUTIONAL))
    statuses = [r.status for r in results]
    assert "incorrect" not in statuses and "undecided" not in statuses
    assert statuses.count("correct") >= 21
    map_notation = ("\\star", "\\operatorname", "\\max", "<", "W^{3}")
    assert all(any(sign in r.text for sign in map_notation) for r in results if r.status == "unreadable")


@pytest.mark.parametrize("claim, method", [
    # whole maps, as the layered documents state the rules: the full correlation with the rotated kernel ...
    (r"\frac{\partial C}{\partial x_{c}} = \sum_{o} \delta^{1}_{o} \star_{\mathrm{full}} "
     r"\operatorname{rot}_{180}\left(K^{1}_{o,c}\right)", "exact"),
    # ... the valid correlation of the input with δ, max pooling's routing, σ' entry by entry
    (r"\frac{\partial C}{\partial K^{1}_{o,c}} = x_{c} \star \delta^{1}_{o}", "exact"),
    (r"\frac{\partial C}{\partial a^{1}_{c}} = \operatorname{route}_{\max}\left(\delta^{2}_{c}\right)", "exact"),
    (r"\delta^{1}_{c} = \frac{\partial C}{\partial a^{1}_{c}} \odot \sigma'\left(z^{1}_{c}\right)", "exact"),
    # an entry of a rule, and the derivative of the maximum as the unit step or the bracket of a condition
    (r"\frac{\partial C}{\partial x_{1,3}} = \left(\sum_{o} \delta^{1}_{o} \star_{\mathrm{full}} "
     r"\operatorname{rot}_{180}\left(K^{1}_{o,1}\right)\right)_{3}", "exact"),
    (r"\frac{\partial C}{\partial a^{1}_{1,2}} = \delta^{2}_{1,1} H\left(a^{1}_{1,2} - \max\left(a^{1}_{1,1}\right)\right)",
     "cases"),
    (r"\frac{\partial C}{\partial a^{1}_{1,2}} = \delta^{2}_{1,1} \left[a^{1}_{1,1} < a^{1}_{1,2}\right]", "exact"),
])
def test_rules_for_whole_maps_are_read_and_proven(claim, method, derivations):
    v = verdict(claim, CONV_POOL, derivations)
    assert (v.status, v.method) == ("correct", method)


@pytest.mark.parametrize("claim, mistake", [
    (r"\frac{\partial C}{\partial x_{c}} = \sum_{o} \delta^{1}_{o} \star_{\mathrm{full}} K^{1}_{o,c}",
     ("kernel_not_rotated",)),
    (r"\frac{\partial C}{\partial a^{1}_{1,2}} = \delta^{2}_{1,1} \left[a^{1}_{1,1} > a^{1}_{1,2}\right]", ()),
    (r"\frac{\partial C}{\partial K^{1}_{o,c}} = x_{c} \star \operatorname{rot}_{180}\left(\delta^{1}_{o}\right)", ()),
])
def test_a_wrong_rule_for_whole_maps_is_found_at_an_entry(claim, mistake, derivations):
    v = verdict(claim, CONV_POOL, derivations)
    assert v.status == "incorrect" and v.diagnosis == mistake


def test_the_notation_of_maps_is_refused_in_claims_about_dense_networks():
    from symbackprop import Network
    from symbackprop.claims.verdicts import check_formula

    for claim in (r"\delta^{2}_{1} = \max(a^{2}_{1}, 0)", r"\delta^{2}_{1} = a^{2}_{1} \star a^{2}_{2}"):
        with pytest.raises(SpecError, match="read in claims about networks of layers"):
            check_formula(claim, Network([2, 2, 2]))


# ------------------------------------------------------------------ strides that do not divide the input evenly

#: (n + 2p − k) mod s entries of the padded input lie past the last window: 1 here (5 + 2 − 2 = 5, stride 2) ...
STRIDED_1D = LayeredNetwork([1, 5], [conv1d(1, 2, stride=2, padding=1, activation="tanh"), dense(1, "identity")])
#: ... 1 along the rows and none along the columns, without padding; 1 along both axes, with padding
STRIDED_2D = LayeredNetwork([1, 5, 4], [conv2d(1, 2, stride=2, activation="tanh"), dense(1, "identity")])
STRIDED_2D_PADDED = LayeredNetwork([1, 4, 4], [conv2d(2, 3, stride=2, padding=1, activation="tanh"),
                                               dense(1, "identity")])


@pytest.fixture(scope="module")
def strided():
    return {net: derive_layered(net) for net in (STRIDED_1D, STRIDED_2D, STRIDED_2D_PADDED)}


@pytest.mark.parametrize("net, zeros", [(STRIDED_1D, r"\operatorname{pad}_{0,1}"),
                                        (STRIDED_2D, r"\operatorname{pad}_{0,1,0,0}"),
                                        (STRIDED_2D_PADDED, r"\operatorname{pad}_{0,1}")],
                         ids=["1d-padded", "2d-rows-only", "2d-padded"])
def test_the_rules_of_a_stride_that_leaves_entries_past_the_last_window_are_read_and_correct(net, zeros, strided):
    """δ dilated by the stride is extended by the zeros of the entries no window reaches before the full correlation;
    the padded input is cut to what the windows cover before the valid one. check-doc reads every statement."""
    from symbackprop.claims.layered import check_layered_document
    from symbackprop.proof.layered_report import render_layered

    text = render_layered(strided[net], "md", "en").text
    results = check_layered_document(text, "md", net, derivation=strided[net])
    problems = [f"{r.status}: {r.text}" for r in results if r.status in ("incorrect", "undecided", "unreadable")]
    assert not problems, "\n".join(problems)
    maps = [r.claim.text for r in results if r.status == "correct" and "\\star" in r.claim.text]
    assert any(zeros in text and "\\star_{\\mathrm{full}}" in text for text in maps)  # ∂C/∂x
    assert any(zeros.replace("pad", "crop") in text and "K^{1}_{o,c}}" in text for text in maps)  # ∂C/∂K


@pytest.mark.parametrize("rhs, status", [
    # the zeros forgotten: the map is one entry short of the input (of the kernel), which check-doc says
    (r"\operatorname{crop}_{1}\left(\sum_{o} \operatorname{dil}_{2}\left(\delta^{1}_{o}\right) \star_{\mathrm{full}} "
     r"\operatorname{rot}_{180}\left(K^{1}_{o,c}\right)\right)", "unreadable"),
    # the zeros put before the first entry instead: the right shape, the wrong entries
    (r"\operatorname{crop}_{1}\left(\sum_{o} \operatorname{pad}_{1,0}\left(\operatorname{dil}_{2}\left(\delta^{1}_{o}"
     r"\right)\right) \star_{\mathrm{full}} \operatorname{rot}_{180}\left(K^{1}_{o,c}\right)\right)", "incorrect"),
])
def test_a_strided_rule_without_its_trailing_zeros_is_caught(rhs, status, strided):
    claim = r"\frac{\partial C}{\partial x_{c}} = " + rhs
    if status == "unreadable":
        with pytest.raises(SpecError, match="4×1 map; expected a 5×1 map"):
            check_layered_formula(claim, STRIDED_1D, derivation=strided[STRIDED_1D])
    else:
        assert check_layered_formula(claim, STRIDED_1D, derivation=strided[STRIDED_1D]).status == "incorrect"
    kernel = r"\frac{\partial C}{\partial K^{1}_{o,c}} = \operatorname{pad}_{1}\left(x_{c}\right) \star " \
             r"\operatorname{dil}_{2}\left(\delta^{1}_{o}\right)"
    with pytest.raises(SpecError, match="3×1 map; expected a 2×1 map"):
        check_layered_formula(kernel, STRIDED_1D, derivation=strided[STRIDED_1D])
    cut_at_the_start = kernel.replace(r"\operatorname{pad}_{1}\left(x_{c}\right)",
                                      r"\operatorname{crop}_{1,0}\left(\operatorname{pad}_{1}\left(x_{c}\right)\right)")
    assert check_layered_formula(cut_at_the_start, STRIDED_1D, derivation=strided[STRIDED_1D]).status == "incorrect"


def test_batch_normalisation_read_by_a_skip_over_one_example_states_only_what_check_doc_reads():
    """A skip reads the map batch normalisation normalises (one example, a feature map, a flattening layer): the error
    the skip adds there is stated entry by entry, with batch normalisation's compact rule; a forgotten skip is named."""
    from symbackprop.claims.layered import check_layered_document
    from symbackprop.model.layers import batchnorm, flatten, residual
    from symbackprop.proof.layered_report import render_layered

    net = LayeredNetwork([1, 4], [conv1d(1, 2, activation="tanh"), batchnorm(), residual(1), flatten(),
                                  dense(1, "identity")], cost="quadratic")
    derivation = derive_layered(net)
    text = render_layered(derivation, "md", "en").text
    skip = (r"\frac{\partial C}{\partial a^{1}_{c,i}} = \delta^{3}_{c,i} + \frac{\gamma^{(2)}_{c} \left(3 \delta^{2}_{c,i} "
            r"- \hat{x}^{(2)}_{c,i} \sum_{j} \delta^{2}_{c,j} \hat{x}^{(2)}_{c,j} - \sum_{j} \delta^{2}_{c,j}\right)}"
            r"{3 \sigma^{(2)}_{c}}")
    assert skip in text and r"\right)^{T} \delta^{2}" not in text
    results = check_layered_document(text, "md", net, derivation=derivation)
    problems = [f"{r.status}: {r.text}" for r in results if r.status in ("incorrect", "undecided", "unreadable")]
    assert not problems, "\n".join(problems)
    assert any(r.status == "correct" and r.claim.text == skip for r in results)
    forgotten = check_layered_formula(skip.replace(r"\delta^{3}_{c,i} + ", ""), net, derivation=derivation)
    assert forgotten.status == "incorrect" and forgotten.diagnosis == ("missing_skip",)


def test_a_slope_wrong_on_one_side_of_the_kink_is_found():
    """A leaky ReLU's slope written 1/5 for z ≤ 0 (the layer's is 1/10) agrees wherever z > 0: the sample reaches
    the other side of the kink and finds it wrong; the right slope is proven."""
    net = LayeredNetwork(2, [dense(2, "leaky_relu:1/10"), dense(2, "identity")])
    claim = (r"\delta^{1}_{1} = \left(\delta^{2}_{1} w^{2}_{1,1} + \delta^{2}_{2} w^{2}_{2,1}\right) "
             r"\left(\begin{cases} 1 & z^{1}_{1} > 0 \\ %s & z^{1}_{1} \leq 0 \end{cases}\right)")
    derivation = derive_layered(net)
    wrong = check_layered_formula(claim % r"\frac{1}{5}", net, derivation=derivation)
    assert wrong.status == "incorrect", wrong
    claimed, actual = wrong.counterexample
    assert abs(claimed - 2 * actual) < 1e-20  # the point lies where z ≤ 0: the slopes 1/5 and 1/10
    assert check_layered_formula(claim % r"\frac{1}{10}", net, derivation=derivation).status == "correct"
