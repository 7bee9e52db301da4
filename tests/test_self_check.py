"""The project verifies what it writes: ``check-doc`` reads every claim of every document it generates.

Every document of the gallery (``output/``, with each document's own network and notation) and a
freshly rendered document for every notation × language × format (each Markdown flavour, and LaTeX)
must give 0 incorrect, 0 undecided and 0 unreadable claims, and at least one correct claim of every
kind a derivation states: a gradient, an error, a gradient matrix, an error vector, the cost, a matrix
written entry by entry, and a claim with index letters read at every concrete layer and index. The
networks of the fresh documents are small; each claim is decided once per derivation (the documents
of one derivation share their verdicts).

The worked examples are checked with their values: every number they state is decided at the point they were
computed at, none skipped; so are fresh worked documents of networks of layers (one small network for each
kind of layer), and the JSON outputs of ``derive`` and ``evaluate``, dense and of layers.
"""

import json
import random
from collections import Counter
from types import SimpleNamespace

import pytest
import sympy as sp

from symbackprop import Network
from symbackprop.claims.verdicts import check_document
from symbackprop.documents import printing
from symbackprop.proof.report import render
from symbackprop.claims.layered import check_layered_document
from symbackprop.claims.outputs import check_output
from symbackprop.claims.values import WorkedPoint
from symbackprop.examples import (EXAMPLES, NOT_SELF_CHECKED, WORKED_LR, WORKED_NETWORK, WORKED_VALUES,
                                  document_options, layered_network)
from symbackprop.model.layers import layered_from_mapping
from symbackprop.numbers import parse_values, render_worked, worked_example
from symbackprop.numbers.layered import layered_worked_example, render_layered_worked
from symbackprop.proof.layered import LayeredPoint, random_layered_point
from symbackprop.proof.layered_report import render_layered_json
from symbackprop.proof.oracle import Point
from symbackprop.proof.report import render_json
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


def _check(shared, text, fmt, network, notation, star="product", values=None):
    key = (repr(network), notation, star)
    if key not in shared:
        shared[key] = (derive(network), {})
    derivation, decided = shared[key]
    return check_document(text, fmt, network, notation, derivation=derivation, star=star, decided=decided,
                          values=values)


def _worked_point(shared):
    """The gallery's worked example: its derivation, and the point it was computed at (kept for the module)."""
    if "worked" not in shared:
        _check(shared, "", "md", WORKED_NETWORK, "nielsen")
        derivation = shared[(repr(WORKED_NETWORK), "nielsen", "product")][0]
        params, x, y, l2 = parse_values(WORKED_VALUES, derivation)
        shared["worked"] = (derivation, WorkedPoint(Point(params, x, y, l2), sp.Rational(str(WORKED_LR))),
                            worked_example(derivation, {**params, **l2}, x, y, lr=WORKED_LR))
    return shared["worked"]


def _skipped_values(results) -> int:
    return sum(r.status == "skipped" and r.reason == "value" for r in results)


def _table_values(results) -> list:
    """The verdicts on the numbers of a document's tables (a parameter's value before, its gradient, after)."""
    return [r for r in results if getattr(r, "table", False)]


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
                                         derivation=shared[key], decided=shared.setdefault(("decided", key), {}))
        assert not _problems(results), "\n".join(_problems(results))
        assert sum(r.status == "correct" for r in results) >= LAYERED_CLAIMS[document.example]
        return
    network, notation, star = document_options(document.example)
    values = _worked_point(shared)[1] if document.example == "worked" else None  # its numbers too, at its point
    results = _check(shared, document.file.read_text(encoding="utf-8"), document.format, network, notation, star,
                     values)
    assert not _problems(results), "\n".join(_problems(results))
    assert not _skipped_values(results)
    if values is not None:
        assert sum(r.status == "correct" and r.method == "value" for r in results) >= 80
        # both tables: 12 parameters before the step, then each one's value before, gradient and value after
        table = _table_values(results)
        assert len(table) == 12 + 3 * 12 and all(r.status == "correct" for r in table)
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


def test_a_wrong_digit_in_the_worked_example_is_found(shared):
    text = (OUTPUT / "worked.en.md").read_text(encoding="utf-8")
    planted = text.replace("= 0.0143127 \\\\", "= 0.0143128 \\\\", 1)  # the value of ∂C/∂w²₂₂
    assert planted != text
    results = _check(shared, planted, "md", WORKED_NETWORK, "nielsen", values=_worked_point(shared)[1])
    wrong = [r for r in results if r.status == "incorrect"]
    assert len(wrong) == 1 and wrong[0].method == "value" and wrong[0].text.endswith("= 0.0143128")
    # without the values, the numbers are skipped, and the report says how to check them
    skipped = _check(shared, planted, "md", WORKED_NETWORK, "nielsen")
    assert _skipped_values(skipped) >= 80 and not [r for r in skipped if r.status == "incorrect"]


@pytest.mark.parametrize("fmt, right, wrong", [("md", "| $0.392844$ |", "| $0.392854$ |"),
                                               ("tex", "& $0.392844$ \\\\", "& $0.392854$ \\\\")])
def test_a_wrong_digit_in_a_table_of_the_worked_example_is_found(fmt, right, wrong, shared):
    text = (OUTPUT / f"worked.en.{fmt}").read_text(encoding="utf-8")
    assert text.count(right) == 1  # w²₂₂ after the step, in the last table
    planted = text.replace(right, wrong)
    results = _check(shared, planted, fmt, WORKED_NETWORK, "nielsen", values=_worked_point(shared)[1])
    wrong_ones = [r for r in results if r.status == "incorrect"]
    line = planted[:planted.index(wrong)].count("\n") + 1
    assert [(r.line, r.table, r.text) for r in wrong_ones] == [
        (line, True, "w^{2}_{22} - \\eta \\frac{\\partial C}{\\partial w^{2}_{22}} = 0.392854")]
    # without the values, the table's numbers are skipped with the equations' numbers
    skipped = _check(shared, planted, fmt, WORKED_NETWORK, "nielsen")
    assert sum(r.status == "skipped" and r.reason == "value" and r.line == line for r in skipped) == 3


def test_a_wrong_value_before_the_step_and_a_wrong_target_in_a_table_are_found(shared):
    text = (OUTPUT / "worked.en.md").read_text(encoding="utf-8")
    right = "| $w^{2}_{22}$ | $0.4$ |\n"  # the table of the parameters before the step
    assert text.count(right) == 1
    planted = text.replace(right, "| $w^{2}_{22}$ | $0.5$ |\n") + "\n| Value | Number |\n| --- | --- |\n" \
        "| $x_{2}$ | $0.5$ |\n| $y_{1}$ | $0$ |\n"
    results = _check(shared, planted, "md", WORKED_NETWORK, "nielsen", values=_worked_point(shared)[1])
    assert [r for r in results if r.status == "incorrect"] == [r for r in _table_values(results) if not r.ok]
    wrong = [(r.text, r.status) for r in _table_values(results) if not r.ok or r.text.startswith(("x_", "y_"))]
    assert wrong == [("w^{2}_{22} = 0.5", "incorrect"), ("x_{2} = 0.5", "correct"), ("y_{1} = 0", "incorrect")]


# ------------------------------------------------------------------ fresh worked documents of networks of layers

#: one small network for each kind of layer: convolutions (with stride and padding), both poolings, flattening,
#: dense layers, batch normalisation, a residual connection and a recurrent layer with an output at every step
LAYERED_WORKED = {
    "conv1d-maxpool": {"input": [1, 6], "cost": "cross_entropy", "layer": [
        {"type": "conv1d", "channels": 2, "kernel": 2, "stride": 2, "padding": 1, "activation": "relu"},
        {"type": "maxpool", "size": 2},
        {"type": "dense", "size": 2, "activation": "softmax"}]},
    "conv2d-avgpool-flatten": {"input": [1, 4, 4], "cost": "quadratic", "layer": [
        {"type": "conv2d", "channels": 1, "kernel": 2, "activation": "tanh"},
        {"type": "avgpool", "size": 3},
        {"type": "flatten"},
        {"type": "dense", "size": 2, "activation": "sigmoid"}]},
    "batchnorm-residual": {"input": 2, "batch": 3, "cost": "quadratic", "layer": [
        {"type": "dense", "size": 2, "activation": "tanh"},
        {"type": "batchnorm"},
        {"type": "residual", "from": 1},
        {"type": "dense", "size": 1, "activation": "identity"}]},
    "rnn": {"input": [2], "steps": 3, "cost": "quadratic", "layer": [
        {"type": "rnn", "size": 2, "activation": "tanh", "output": "every"}]},
}
LR = sp.Rational(1, 2)


@pytest.fixture(scope="module")
def layered_worked():
    """Each network's derivation, a point of it (seeded), its worked example there, and the verdicts its documents
    share."""
    out = {}
    for key, description in LAYERED_WORKED.items():
        network = layered_from_mapping(description, key)
        derivation = derive_layered(network)
        point = random_layered_point(derivation, random.Random(1))
        if network.cost.name == "cross_entropy":  # a one-hot target, as softmax's output error assumes
            point = LayeredPoint(point.params, point.x, tuple(sp.Integer(int(i == 0)) for i in range(len(point.y))))
        example = layered_worked_example(derivation, point.params, point.x, point.y, lr=LR)
        out[key] = SimpleNamespace(network=network, derivation=derivation, example=example, decided={},
                                   values=WorkedPoint(point, LR))
    return out


_LAYERED_WORKED = [(key, lang, fmt) for key in LAYERED_WORKED for lang in LANGUAGES for fmt in ("md", "tex")]


@pytest.mark.parametrize("key, lang, fmt", _LAYERED_WORKED, ids=["-".join(c) for c in _LAYERED_WORKED])
def test_a_fresh_layered_worked_document_passes_check_doc_with_its_values(key, lang, fmt, layered_worked):
    w = layered_worked[key]
    text = render_layered_worked(w.example, w.derivation, fmt, lang).text
    results = check_layered_document(text, fmt, w.network, derivation=w.derivation, values=w.values,
                                     decided=w.decided)
    assert not _problems(results), "\n".join(_problems(results))
    assert not _skipped_values(results)
    assert sum(r.status == "correct" and r.method == "value" for r in results) >= 60
    table = _table_values(results)  # the parameters before the step, and the table after it
    parameters = len(w.derivation.forward.parameters)
    assert len(table) == 4 * parameters and all(r.status == "correct" for r in table)


def test_a_wrong_digit_in_a_layered_worked_document_is_found(layered_worked):
    w = layered_worked["batchnorm-residual"]
    text = render_layered_worked(w.example, w.derivation, "md", "en").text
    shown = w.example.rounded(w.example.cost.value)
    right = f"&= {sp.latex(shown)}\n"
    digits = str(shown)
    planted_value = digits[:-1] + str((int(digits[-1]) + 1) % 10)
    assert right in text
    planted = text.replace(right, f"&= {planted_value}\n", 1)
    results = check_layered_document(planted, "md", w.network, derivation=w.derivation, values=w.values)
    wrong = [r for r in results if r.status == "incorrect"]
    assert len(wrong) == 1 and wrong[0].method == "value" and wrong[0].text.startswith("C = ")


def test_a_wrong_cell_in_a_table_of_a_layered_worked_document_is_found(layered_worked):
    w = layered_worked["conv1d-maxpool"]
    text = render_layered_worked(w.example, w.derivation, "tex", "zh").text
    kernel = w.derivation.forward.parameters[0]
    before = sp.latex(w.example.rounded(w.values.point.params[kernel]))
    row = f"${printing.latex(kernel)}$ & ${before}$"
    assert text.count(row) == 2  # before the step, and in the table after it
    planted = text.replace(row, f"${printing.latex(kernel)}$ & $0.25$", 1)
    results = check_layered_document(planted, "tex", w.network, derivation=w.derivation, values=w.values,
                                     decided=w.decided)
    wrong = [r for r in results if r.status == "incorrect"]
    assert len(wrong) == 1 and wrong[0].table and wrong[0].text == f"{printing.latex(kernel)} = 0.25"
    assert wrong[0].line == planted[:planted.index("& $0.25$")].count("\n") + 1


# ------------------------------------------------------------------ batch normalisation's statements about a channel


def test_the_statements_about_one_channel_are_read_and_a_forgotten_path_is_found(shared):
    text = (OUTPUT / "resbn.en.md").read_text(encoding="utf-8")
    network = layered_network("resbn")
    key = ("layered", "resbn")
    if key not in shared:
        shared[key] = derive_layered(network)
    derivation = shared[key]
    results = check_layered_document(text, "md", network, derivation=derivation,
                                     decided=shared.setdefault(("decided", key), {}))
    channel = [r for r in results if r.status == "correct" and ("layer", (2,)) in r.letters]
    assert len(channel) >= 10  # μ, σ, x̂, the output, and every step of the error passed back
    complete = r"\delta^{2}_{i} n - \hat{x}^{(2)}_{i} \sum_{j} \delta^{2}_{j} \hat{x}^{(2)}_{j} - \sum_{j} \delta^{2}_{j}"
    assert complete in text
    planted = text.replace(complete, r"\delta^{2}_{i} n - \hat{x}^{(2)}_{i} \sum_{j} \delta^{2}_{j} \hat{x}^{(2)}_{j}", 1)
    wrong = [r for r in check_layered_document(planted, "md", network, derivation=derivation) if r.status == "incorrect"]
    assert len(wrong) == 1 and wrong[0].diagnosis == ("missing_mean_path",)


# ------------------------------------------------------------------ JSON outputs of derive and evaluate


def _json_problems(results) -> list:
    return _problems(results) + [f"line {r.line}: skipped {r.reason}" for r in results
                                 if r.status == "skipped" and r.reason not in ("record", "definition")]


def test_a_derive_json_output_passes_check_doc(fresh_derivations):
    derivation, report, _, _ = fresh_derivations["nielsen"]
    text = render_json(derivation, report, "nielsen")
    results = check_output(text, "derive.json", FRESH["nielsen"], derivation)
    assert not _json_problems(results), "\n".join(_json_problems(results))
    assert sum(r.status == "correct" and r.method == "form" for r in results) >= 2 * len(derivation.params)
    # a formula swapped for another entry's is found, its restatements are not blamed
    data = json.loads(text)
    data["gradients"][0]["latex"] = data["gradients"][1]["latex"]
    wrong = [r for r in check_output(json.dumps(data), "derive.json", FRESH["nielsen"], derivation)
             if r.status == "incorrect"]
    assert len(wrong) == 1 and wrong[0].method == "numeric" and wrong[0].counterexample is not None


def test_an_evaluate_json_output_passes_check_doc(shared):
    derivation, values, example = _worked_point(shared)
    text = render_worked(example, "json").text
    results = check_output(text, "numbers.json", WORKED_NETWORK, derivation)  # at the point the file states
    assert not _json_problems(results), "\n".join(_json_problems(results))
    assert sum(r.status == "correct" and r.method == "value" for r in results) >= 200
    planted = text.replace('"value": "0.0143127"', '"value": "0.0143128"', 1)
    assert planted != text
    wrong = [r for r in check_output(planted, "numbers.json", WORKED_NETWORK, derivation, values=values)
             if r.status == "incorrect"]
    assert len(wrong) == 1 and wrong[0].text.startswith("\\frac{\\partial C}{\\partial w^{2}_{22}} = 0.0143128")


@pytest.mark.parametrize("key", ["conv1d-maxpool", "batchnorm-residual", "rnn"])
def test_the_json_outputs_of_a_network_of_layers_pass_check_doc(key, layered_worked):
    w = layered_worked[key]
    derived = check_output(render_layered_json(w.derivation), "derive.json", w.network, w.derivation, layered=True,
                           decided=w.decided)
    assert not _json_problems(derived), "\n".join(_json_problems(derived))
    assert sum(r.status == "correct" for r in derived) >= 2 * len(w.derivation.forward.parameters)
    if key == "batchnorm-residual":  # every layer states its forward pass: the residual one its sum
        layers = json.loads(render_layered_json(w.derivation))["layers"]
        assert [f["latex"] for f in layers[2]["forward"]] == ["a^{3}_{i} = a^{1}_{i} + a^{2}_{i}"]  # for one example i of the batch
        assert all(layer["forward"] for layer in layers)
    numbers = check_output(render_layered_worked(w.example, w.derivation, "json").text, "numbers.json", w.network,
                           w.derivation, layered=True)
    assert not _json_problems(numbers), "\n".join(_json_problems(numbers))
    assert sum(r.status == "correct" and r.method == "value" for r in numbers) >= 40


def test_the_json_output_states_the_forward_pass_of_a_residual_layer_with_an_activation():
    from symbackprop.model.layers import LayeredNetwork, dense, residual

    network = LayeredNetwork(2, [dense(2, "tanh"), dense(2, "tanh"), residual(1, "relu"), dense(1, "identity")])
    derivation = derive_layered(network)
    text = render_layered_json(derivation)
    forward = json.loads(text)["layers"][2]["forward"]
    assert [f["latex"] for f in forward] == ["z^{3} = a^{1} + a^{2}", "a^{3} = \\operatorname{ReLU}\\left(z^{3}\\right)"]
    results = check_output(text, "derive.json", network, derivation, layered=True)
    assert not _json_problems(results), "\n".join(_json_problems(results))
