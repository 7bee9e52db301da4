"""Derivation documents: formats, flavours, notations, the gallery, bad input."""

import re
import shutil
from pathlib import Path

import pytest

from symbackprop import Network, SpecError, cli, derive
from symbackprop import examples
from symbackprop.examples import EXAMPLES, gallery
from symbackprop.documents.render import FLAVORS, escape_markdown_math, escape_tex_text
from symbackprop.proof.report import render

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def seed002():
    d = derive(Network([2, 2, 2], activation="sigmoid", cost="quadratic", bias=False))
    return d, d.check()


def test_markdown_document_holds_every_part_of_a_seed_style_derivation(seed002):
    d, report = seed002
    doc = render(d, "md", "en", "nodes", report=report, figure="net.svg")
    text = doc.text
    assert "![" in text and "(net.svg)" in text and "<svg" in doc.attachments["net.svg"]
    # the notation table, the forward pass layer by layer, the cost
    assert "| Symbol | Meaning | Dimension |" in text
    assert r"\left[\begin{matrix}z_{21}\\z_{22}\end{matrix}\right]" in text
    # every weight's chain rule, in seed 002's node numbering
    for weight in ("w_{35}", "w_{45}", "w_{36}", "w_{46}", "w_{13}", "w_{14}", "w_{23}", "w_{24}"):
        assert rf"\frac{{\partial C}}{{\partial {weight}}} &=" in text
    # merged into matrices: δ times the activations transposed
    assert r"\left[\begin{matrix}\delta_{21}\\\delta_{22}\end{matrix}\right] \left[\begin{matrix}y_{11} & y_{12}\end{matrix}\right]" in text
    # BP1-BP4 with dimensions and verdicts
    for name in ("BP1", "BP2", "BP3", "BP4"):
        assert f"### {name}: " in text
    assert r"\underbrace{\delta_{l}}_{m_{l} \times 1}" in text
    assert "| BP1 | proven exactly on the composed cost (layer 2); agrees numerically (layer 2) | holds |" in text and "FAILS" not in text
    # equation numbers and labels belong to LaTeX only
    assert r"\label" not in text and r"\eqref" not in text


def test_latex_document_is_standalone_or_a_fragment(seed002):
    d, report = seed002
    full = render(d, "tex", "en", "nodes", report=report).text
    assert full.startswith(r"\documentclass") and full.rstrip().endswith(r"\end{document}")
    assert r"\begin{tikzpicture}" in full and r"\label{eq:bp1}" in full
    fragment = render(d, "tex", "en", "nodes", standalone=False, report=report).text
    assert r"\documentclass" not in fragment and r"\begin{document}" not in fragment
    assert r"\label{eq:bp2}" in fragment


@pytest.mark.parametrize("notation, needle", [
    ("nielsen", r"\delta^{L}_{j}"), ("ng", r"\Theta^{(l)}"), ("qiu", r"W^{(l)}"), ("nodes", r"w_{kj}"),
])
def test_every_notation_writes_its_own_symbols(notation, needle):
    d = derive(Network([2, 3, 2], activation="tanh"))
    text = render(d, "md", "en", notation).text
    assert needle in text


@pytest.mark.parametrize("flavor", sorted(FLAVORS))
def test_each_flavour_uses_its_delimiters(seed002, flavor):
    d, _ = seed002
    text = render(d, "md", "en", "nodes", flavor).text
    style = FLAVORS[flavor]
    assert f"\n{style.display[0]}\n" in text
    if flavor in ("hexo", "mathjax"):
        # Markdown-active characters inside math are escaped for marked
        assert r"\_{" in text or r"\\\\" in text
    else:
        assert r"\_" not in text


def test_markdown_math_escaping():
    # every backslash that does not start a command is doubled: a LaTeX line break at the end
    # of a line would otherwise be read as a hard line break
    assert escape_markdown_math(r"a_{1} \\ b") == r"a\_{1} \\\\ b"
    assert escape_markdown_math("a \\\\\nb") == "a \\\\\\\\\nb"
    assert escape_markdown_math(r"\, \; \!") == r"\\, \\; \\!"
    assert escape_markdown_math(r"\left[x\right] \{ y \}") == r"\left\[x\right\] \\{ y \\}"
    assert escape_markdown_math(r"\frac{a}{b}") == r"\frac{a}{b}"
    assert escape_markdown_math("a*b") == r"a\*b"


def test_latex_prose_escaping():
    assert escape_tex_text("leaky_relu(slope=1/100)") == r"leaky\_relu(slope=1/100)"
    assert escape_tex_text("σ' = a*(1 - a)") == r"$\sigma$' = a*(1 - a)"


def test_softmax_and_cross_entropy_documents_explain_themselves():
    d = derive(Network([2, 3, 3], activation=["tanh", "softmax"], cost="cross_entropy"))
    text = render(d, "md", "en", "qiu", report=d.check()).text
    assert "transposed Jacobian" in text
    assert "Why the output error is simply output minus target" in text
    assert "add up to one" in text


def test_ng_writes_a_bias_only_as_a_weight_of_the_bias_unit():
    """Ng's notation has no bias vector: the forward pass puts the bias unit 1 on top of the activations and the
    bias weights Θ_{j0} as column 0 of the weights; the penalty sums Θ²; Qiu sets vectors bold in ℝ^{M_l}."""
    d = derive(Network([2, 2, 1], activation="sigmoid", l2=True))
    ng = render(d, "md", "en", "ng").text
    assert "b^{(" not in ng and r"\Theta^{(l - 1)}_{j0}" in ng
    assert (r"\left[\begin{matrix}\Theta^{(l - 1)}_{\cdot 0} & \Theta^{(l - 1)}\end{matrix}\right]}_{s^{(l)} \times "
            r"\left(s^{(l - 1)} + 1\right)} \underbrace{\left[\begin{matrix}1 \\ a^{(l - 1)}\end{matrix}\right]}") in ng
    assert r"\frac{\lambda}{2 m} \sum_{\Theta} \Theta^{2}" in ng and r"\sum_{w}" not in ng
    qiu = render(d, "md", "en", "qiu").text
    assert r"| $\boldsymbol{z}^{(l)}$ | the weighted inputs of a layer | $\mathbb{R}^{M_{l}}$ |" in qiu


def test_regularisation_and_relu_specials():
    d = derive(Network([2, 2, 1], activation=["relu", "sigmoid"], l2=True))
    text = render(d, "md", "en", "nielsen").text
    assert "Regularisation" in text and r"\frac{\lambda w^{2}_{11}}{n}" in text
    assert "The kink of ReLU" in text


def test_large_network_document_is_a_summary():
    d = derive(Network([784, 30, 10]))
    report = d.check("inductive")
    for fmt in ("md", "tex"):
        doc = render(d, fmt, "en", "nielsen", report=report, figure="net.svg")
        assert len(doc.text.encode()) < 200_000
        assert "follows the same pattern as its first one" in doc.text
        assert "Every parameter by the chain rule" not in doc.text


def test_documents_are_deterministic(seed002):
    d, report = seed002
    first = render(d, "tex", "en", "nodes", report=report).text
    again = derive(Network([2, 2, 2], activation="sigmoid", cost="quadratic", bias=False))
    second = render(again, "tex", "en", "nodes", report=again.check()).text
    assert first == second


def test_bad_choices_list_the_valid_ones(seed002):
    d, _ = seed002
    for kwargs, needle in (({"fmt": "pdf"}, "unknown format 'pdf'; expected one of: json, md, tex, text"),
                           ({"flavor": "pandoc"}, "unknown flavor 'pandoc'"),
                           ({"lang": "fr"}, "unknown language 'fr'; expected one of: en, zh"),
                           ({"notation": "bishop"}, "unknown notation 'bishop'")):
        with pytest.raises(SpecError, match=re.escape(needle)):
            render(d, **kwargs)


def test_user_templates_override_and_missing_ones_are_named(seed002, tmp_path):
    d, _ = seed002
    (tmp_path / "en").mkdir()
    (tmp_path / "en" / "document.md.j2").write_text("custom: {{ model.network.sizes | join('-') }}\n")
    assert render(d, "md", templates=tmp_path).text == "custom: 2-2-2\n"
    (tmp_path / "en" / "document.md.j2").write_text('{% include "en/missing.j2" %}')
    with pytest.raises(SpecError, match="template 'en/missing.j2' not found"):
        render(d, "md", templates=tmp_path)


@pytest.mark.parametrize("text, needle", [
    ("ok\n{{ nonsense(\n", r"document.md.j2, line 2: unexpected 'end of template'"),
    ("ok\n\n{{ undefined_var.foo }}\n", r"document.md.j2, line 3: 'undefined_var' is undefined"),
])
def test_a_broken_user_template_is_named_with_its_line(seed002, tmp_path, capsys, text, needle):
    d, _ = seed002
    (tmp_path / "en").mkdir()
    (tmp_path / "en" / "document.md.j2").write_text(text)
    with pytest.raises(SpecError, match=re.escape(needle)):
        render(d, "md", templates=tmp_path)
    assert cli.main(["derive", "--layers", "2,2,2", "--format", "md", "--templates", str(tmp_path)]) == 2
    assert needle in capsys.readouterr().err


def test_jupyter_display(seed002):
    d, _ = seed002
    assert d._repr_markdown_().startswith("# Backpropagation for a 2-2-2 network")
    latex = d._repr_latex_()
    assert latex.startswith("$$\n\\begin{aligned}") and latex.count("&=") == 8


# ------------------------------------------------------------------ the command line


def test_cli_writes_a_markdown_document_and_its_drawing(tmp_path):
    out = tmp_path / "d.md"
    assert cli.main(["derive", "--layers", "2,2,2", "--format", "md", "--notation", "nodes", "-o", str(out)]) == 0
    assert "(d.svg)" in out.read_text() and "<svg" in (tmp_path / "d.svg").read_text()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.md", "d.svg"]


def test_cli_bad_document_options_exit_2(tmp_path, capsys):
    out = tmp_path / "d.md"
    code = cli.main(["derive", "--format", "docx", "--flavor", "x", "--lang", "fr", "--notation", "y", "-o", str(out)])
    err = capsys.readouterr().err
    assert code == 2 and "4 problems" in err
    assert "expected one of: json, md, tex, text" in err and "expected one of: en, zh" in err
    assert not out.exists()
    assert cli.main(["derive", "--templates", str(tmp_path / "nowhere")]) == 2


def test_cli_fragment(capsys):
    assert cli.main(["derive", "--layers", "2,2", "--format", "tex", "--fragment", "--method", "none"]) == 0
    assert r"\documentclass" not in capsys.readouterr().out


# ------------------------------------------------------------------ the gallery


@pytest.fixture(scope="module")
def files():
    return gallery()


def test_the_gallery_is_up_to_date(files, monkeypatch, capsys):
    monkeypatch.setattr(examples, "gallery", lambda: files)
    assert cli.main(["examples", "--check", "--output", str(ROOT / "output")]) == 0, capsys.readouterr().out


def test_a_stale_gallery_is_reported(files, monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(examples, "gallery", lambda: files)
    copy = tmp_path / "output"
    shutil.copytree(ROOT / "output", copy)
    (copy / "seed002.en.md").write_text("edited by hand\n")
    (copy / "notes.md").write_text("not generated\n")
    assert cli.main(["examples", "--check", "--output", str(copy)]) == 1
    out = capsys.readouterr().out
    assert "stale: " in out and "seed002.en.md" in out and "notes.md" in out


def test_the_gallery_covers_every_seed(files):
    assert {e.key for e in EXAMPLES} == {"nielsen", "seed002", "seed003", "seed004"}
    for key in ("nielsen", "seed002", "seed003", "seed004"):
        assert f"{key}.en.md" in files and f"{key}.en.tex" in files and f"{key}.svg" in files
    assert "Every check holds." in files["seed003.en.md"]
    assert r"\Theta^{(l)}" in files["seed003.en.md"]


def test_softmax_output_error_is_explained_by_the_jacobian():
    import sympy as sp
    from sympy.matrices.expressions.matexpr import MatrixElement

    from symbackprop.proof.document import L_, document_model, i_, j_
    from symbackprop.proof.general import IndexDelta
    from symbackprop.model.symbols import COST, Partial, Quantity

    d = derive(Network([2, 3, 3], activation=["tanh", "softmax"], cost="cross_entropy"))
    special = next(s for s in document_model(d, notation="nielsen").specials if s.kind == "cancellation")
    assert special.context["softmax"]
    gradient, jacobian, one, chain, _instance = special.equations
    # every link of the general chain is the same number for m = 3 outputs once Σ y = 1, j = 1..3
    size = one.expr.lhs.limits[0][2]
    a = [Quantity("a", 2, n) for n in (1, 2, 3)]
    y = [Quantity("y", n) for n in (1, 2, 3)]
    partials = {Partial(COST, a[n]): -y[n] / a[n] for n in range(3)}
    entry = jacobian.expr.links[0]  # J_ij, with symbolic i and j

    def jac(expr):  # J_ij for numbers i, j: the derivative of softmax output i by weighted input j
        return expr.replace(lambda e: isinstance(e, MatrixElement) and e.parent.name == entry.parent.name,
                            lambda e: a[int(e.i) - 1] * (sp.KroneckerDelta(e.i, e.j) - a[int(e.j) - 1]))

    def at(expr, values):  # the indices of every quantity (and the Kronecker deltas) at numbers
        return expr.replace(lambda e: isinstance(e, Quantity),
                            lambda q: Quantity(q.kind, *[sp.sympify(n).xreplace(values) for n in q.indices])
                            ).xreplace(values)

    def concrete(expr, j):
        expr = at(expr.replace(IndexDelta, sp.KroneckerDelta), {L_: 3, j_: j})
        expr = expr.replace(lambda e: isinstance(e, sp.Sum) and e.limits[0][2] == at(size, {L_: 3}),
                            lambda e: sp.Add(*[at(e.function, {i_: i}) for i in (1, 2, 3)]))
        return sp.simplify(jac(expr.xreplace(partials)).doit().xreplace({y[2]: 1 - y[0] - y[1]}))

    zs = sp.symbols("z1:4", real=True)
    softmax = [sp.exp(z) / sp.Add(*map(sp.exp, zs)) for z in zs]
    for i in (1, 2, 3):
        for j in (1, 2, 3):  # the displayed J_ij against SymPy's derivative of the softmax
            shown = at(jacobian.expr.links[2].replace(IndexDelta, sp.KroneckerDelta), {L_: 3, i_: i, j_: j})
            expected = sp.diff(softmax[i - 1], zs[j - 1])
            assert sp.simplify(shown.xreplace(dict(zip(a, softmax))) - expected) == 0
    for j in (1, 2, 3):
        values = [concrete(link, j) for link in chain.expr.links[1:]]
        assert all(sp.simplify(v - values[-1]) == 0 for v in values), values
        assert sp.simplify(values[-1] - (a[j - 1] - y[j - 1]).xreplace({y[2]: 1 - y[0] - y[1]})) == 0
    text = render(d, "md", "en", "qiu").text
    section = text.split("simply output minus target")[1].split("\n### ")[0]
    assert "slope of the activation in its denominator" not in section and "diagonal matrix" in section
    bp1 = text.split("### BP1")[1].split("### BP2")[0]
    assert r"{J}_{i,j}" in bp1 and "slope" not in bp1


@pytest.mark.parametrize("lang, no_bp3", [("en", "BP3 does not apply"), ("zh", "BP3 在这里用不上")])
def test_a_network_without_biases_shows_no_bias(seed002, lang, no_bp3):
    d, report = seed002
    text = render(d, "md", lang, "nodes", report=report).text
    assert "b_{" not in text and "b_{l" not in text  # not in the table, z's definitions or BP3
    assert no_bp3 in text
    bp3 = text.split("### BP3")[1].split("### BP4")[0]
    assert "$$" not in bp3 and "\\partial b" not in bp3
    assert "b_{" in render(derive(Network([2, 2, 2], activation="sigmoid")), "md", lang, "nodes").text


def test_layers_without_biases_are_named_when_others_have_them():
    d = derive(Network([2, 3, 2], bias=[True, False]))
    text = render(d, "md", "en", "nielsen").text
    assert "layer 3 has no biases, so there the bias term is left out" in text
    assert "BP3 applies to the layers with biases; layer 3 has none." in text
    assert r"\frac{\partial C}{\partial b^{l}_{j}} = \delta^{l}_{j}" in text
    zh = render(d, "md", "zh", "nielsen").text
    assert "第 3 层没有偏置" in zh


def test_code_spans_are_not_escaped_but_prose_and_latex_are():
    d = derive(Network([2, 2, 2], activation="leaky_relu:0.2"))
    md = render(d, "md", "en", "nielsen").text
    assert "`leaky_relu(slope=1/5)`" in md and r"leaky\_relu" not in md
    from symbackprop.documents.render import escape_md_text
    assert escape_md_text("leaky_relu") == r"leaky\_relu"  # prose outside code spans stays escaped
    assert r"\texttt{leaky\_relu(slope=1/5)}" in render(d, "tex", "en", "nielsen").text


def test_latex_layout_fits_the_page():
    # a long cost is written as a sum over the output neurons; a short one term by term
    d = derive(Network([3, 5, 5, 4], activation="sigmoid", cost="binary_cross_entropy", l2=True, mean=True))
    tex = render(d, "tex", "en", "ng").text
    cost = tex.split(r"\label{eq:cost}")[1].split(r"\end{equation}")[0]
    assert r"\sum_{j=1}^{4}" in cost and "y_{2}" not in cost
    short = render(derive(Network([2, 2, 2], activation="sigmoid")), "tex", "en", "nielsen").text
    assert "y_{2}" in short.split(r"\label{eq:cost}")[1].split(r"\end{equation}")[0]
    # the notation table wraps its column of meanings
    assert r"\begin{tabular}{lp{0.55\linewidth}l}" in tex
    assert "| Symbol | Meaning | Dimension |" in render(d, "md", "en", "ng").text


def test_ng_names_the_softmax_jacobian_apart_from_its_cost():
    """In Ng's notation J is the cost, so the Jacobian of a softmax output is 𝒥; check-doc reads both."""
    from symbackprop.claims.verdicts import check_document

    network = Network([2, 2, 2], activation=["sigmoid", "softmax"], cost="cross_entropy")
    d = derive(network)
    text = render(d, "md", "en", "ng").text
    assert r"\mathcal{J}^{T}" in text and r"{\mathcal{J}}_{i,j}" in text and not re.search(r"[^{]J\^\{T\}", text)
    results = check_document(text, "md", network, "ng", derivation=d)
    assert {r.status for r in results} <= {"correct", "skipped"} and any(r.status == "correct" for r in results)
