"""The project verifies what it writes: ``check-doc`` reads every claim of every document it generates.

Every document of the gallery (``output/``, with each document's own network and notation) and a
freshly rendered document for every notation × language × format (each Markdown flavour, and LaTeX)
must give 0 incorrect, 0 undecided and 0 unreadable claims, and at least one correct claim of every
kind a derivation states: a gradient, an error, a gradient matrix, an error vector, the cost, a matrix
written entry by entry, and a claim with index letters read at every concrete layer and index. The
networks of the fresh documents are small; each claim is decided once per derivation (the documents
of one derivation share their verdicts).
"""

import json
from collections import Counter
from types import SimpleNamespace

import pytest

from symbackprop import Network
from symbackprop.claims.verdicts import check_document
from symbackprop.proof.report import render
from symbackprop.claims.layered import check_layered_document
from symbackprop.examples import EXAMPLES, NOT_SELF_CHECKED, document_options, layered_network
from symbackprop.proof.layered import derive_layered
from symbackprop.proof.chain import derive
from symbackprop.proof.general import derive_general, general_options
from tooling import OUTPUT

FLAVORS = ("github", "katex", "mathjax", "hexo", "kramdown")
LANGUAGES = ("en", "zh")
#: what a document of each notation says about which network: a small one of the kind of its seed
FRESH = {
    "nielsen": Network([2, 3, 2], activation="generic", cost="quadratic", mean=True),
    "ng": Network([2, 3, 2], activation="sigmoid", cost="binary_cross_entropy", l2=True, mean=True),
    "qiu": Network([3, 3, 2], activation=["generic", "softmax"], cost="cross_entropy"),
    "nodes": Network([2, 2, 2], activation="sigmoid", cost="quadratic", bias=False),
}
#: the kinds of claim a derivation document states, each of which must be read and found correct
KINDS = ("gradient", "delta", "gradient_matrix", "delta_vector", "cost", "matrix", "letters")
#: derivation documents: their general-proof sections included, they must state every kind
DERIVATIONS = {example.key for example in EXAMPLES}


def _kinds(results) -> Counter:
    found = Counter()
    for r in results:
        if r.status == "correct":
            found[r.claim.target.kind] += 1
            if r.letters:
                found["letters"] += 1
    return found


def _problems(results) -> list:
    return [f"line {r.line}: {r.status}: {getattr(r, 'text', None) or r.claim.text}"
            + (f"\n    {r.message.splitlines()[0]}" if r.status == "unreadable" else "")
            for r in results if r.status in ("incorrect", "undecided", "unreadable")]


@pytest.fixture(scope="module")
def shared():
    """Derivations and decided verdicts, by network: the documents of one derivation share them."""
    return {}


def _check(shared, text, fmt, network, notation, star="product"):
    key = (repr(network), notation, star)
    if key not in shared:
        shared[key] = (derive(network), {})
    derivation, decided = shared[key]
    return check_document(text, fmt, network, notation, derivation=derivation, star=star, decided=decided)


# ------------------------------------------------------------------ the gallery

def _gallery() -> list:
    manifest = OUTPUT / "manifest.json"
    if not manifest.exists():
        return []
    entries = json.loads(manifest.read_text(encoding="utf-8"))["documents"]
    return [SimpleNamespace(path=e["path"], format=e["format"], example=e["example"], file=OUTPUT / e["path"])
            for e in entries]


_DOCUMENTS = [d for d in _gallery() if d.example not in NOT_SELF_CHECKED]
#: the fewest correct claims a gallery document of each layered example states (it states more)
LAYERED_CLAIMS = {"conv": 30, "resbn": 30, "rnn": 20}


def test_the_documents_left_out_of_the_self_check_are_those_named():
    left_out = {d.example for d in _gallery() if d.example in NOT_SELF_CHECKED}
    assert left_out == set(NOT_SELF_CHECKED) and len(_DOCUMENTS) >= 33


@pytest.mark.parametrize("document", _DOCUMENTS, ids=lambda d: d.path)
def test_every_gallery_document_passes_check_doc(document, shared):
    layered = layered_network(document.example)
    if layered is not None:  # read entry by entry, and whole maps, against its own [[layer]] description
        key = ("layered", document.example)
        if key not in shared:
            shared[key] = derive_layered(layered)
        results = check_layered_document(document.file.read_text(encoding="utf-8"), document.format, layered,
                                         derivation=shared[key])
        assert not _problems(results), "\n".join(_problems(results))
        assert sum(r.status == "correct" for r in results) >= LAYERED_CLAIMS[document.example]
        return
    network, notation, star = document_options(document.example)
    results = _check(shared, document.file.read_text(encoding="utf-8"), document.format, network, notation, star)
    assert not _problems(results), "\n".join(_problems(results))
    if document.example in DERIVATIONS:
        kinds = _kinds(results)
        assert all(kinds[kind] for kind in KINDS if kind != "matrix" or document.example != "seed004"), kinds


# ------------------------------------------------------------------ fresh documents

_FRESH = [(notation, lang, fmt, flavor) for notation in FRESH for lang in LANGUAGES
          for fmt, flavor in [("md", f) for f in FLAVORS] + [("tex", None)]]


@pytest.fixture(scope="module")
def fresh_derivations():
    out = {}
    for notation, network in FRESH.items():
        derivation = derive(network)
        general = derive_general(**general_options(network)) if notation != "nodes" else None
        out[notation] = (derivation, derivation.check(), general, general.check() if general else None)
    return out


@pytest.mark.parametrize("notation, lang, fmt, flavor", _FRESH,
                         ids=[f"{n}-{l}-{f}{'-' + v if v else ''}" for n, l, f, v in _FRESH])
def test_every_fresh_document_passes_check_doc(notation, lang, fmt, flavor, fresh_derivations, shared):
    derivation, report, general, general_report = fresh_derivations[notation]
    options = {"flavor": flavor} if flavor else {}
    document = render(derivation, fmt, lang, notation, report=report, general=general,
                      general_report=general_report, **options)
    star = "hadamard" if notation == "nodes" else "product"
    results = _check(shared, document.text, fmt, FRESH[notation], notation, star)
    assert not _problems(results), "\n".join(_problems(results))
    kinds = _kinds(results)
    assert all(kinds[kind] for kind in KINDS), kinds


@pytest.mark.parametrize("activation", ["relu", "leaky_relu", "tanh", "softplus", "identity"])
def test_a_document_of_each_activation_passes_check_doc(activation, shared):
    """The printer writes each activation's slope its own way (ReLU's as the indicator 1[z > 0], the leaky ReLU's as cases); the
    reader must read every form it writes."""
    network = Network([2, 2, 2], activation=activation, cost="quadratic")
    derivation = derive(network)
    text = render(derivation, "md", "en", "nielsen", report=derivation.check(method="inductive")).text
    results = _check(shared, text, "md", network, "nielsen")
    assert not _problems(results), "\n".join(_problems(results))
    assert sum(r.status == "correct" for r in results) >= 20


# ------------------------------------------------------------------ the checker fails on a planted mistake


def test_a_planted_mistake_in_a_generated_document_is_found(fresh_derivations, shared):
    derivation, report, general, general_report = fresh_derivations["ng"]
    text = render(derivation, "md", "en", "ng", report=report).text
    # the regularisation term dropped from the weight gradients of BP4, as the documents once wrote them
    planted = text.replace(r"+ \frac{\lambda \Theta^{(l - 1)}_{jk}}{m}", "", 1)
    assert planted != text
    results = _check(shared, planted, "md", FRESH["ng"], "ng")
    wrong = [r for r in results if r.status == "incorrect"]
    assert wrong and all(r.letters for r in wrong)
    assert "missing_regularisation" in wrong[0].diagnosis


def test_a_planted_wrong_dimension_is_found(fresh_derivations, shared):
    derivation, report, _, _ = fresh_derivations["nielsen"]
    text = render(derivation, "md", "en", "nielsen", report=report).text
    planted = text.replace(r"\underbrace{\delta^{l}}_{m^{l} \times 1} \underbrace{\left(a^{l - 1}\right)^{T}}"
                           r"_{1 \times m^{l - 1}}",
                           r"\underbrace{\delta^{l}}_{m^{l - 1} \times 1} \underbrace{\left(a^{l - 1}\right)^{T}}"
                           r"_{1 \times m^{l - 1}}", 1)
    assert planted != text
    results = _check(shared, planted, "md", FRESH["nielsen"], "nielsen")
    wrong = [r for r in results if r.status == "incorrect"]
    assert wrong and "wrong_dimension" in wrong[0].diagnosis


def test_a_matrix_of_gradients_written_entry_by_entry_is_checked_entry_by_entry(shared):
    text = ("$$\n\\left[\\begin{matrix}\\frac{\\partial C}{\\partial w^{3}_{11}}\\\\\\frac{\\partial C}{\\partial w^{3}_{12}}"
            "\\end{matrix}\\right] = {sign}\\delta^{3}_{1} \\left[\\begin{matrix}a^{2}_{1}\\\\a^{2}_{2}\\end{matrix}\\right]"
            "\n$$\n")
    network = Network([2, 2, 2])
    right = _check(shared, text.replace("{sign}", ""), "md", network, "nielsen")
    assert [(r.status, r.claim.target.kind) for r in right] == [("correct", "matrix")]
    wrong = _check(shared, text.replace("{sign}", "-"), "md", network, "nielsen")
    assert [r.status for r in wrong] == ["incorrect"] and "sign" in wrong[0].diagnosis
