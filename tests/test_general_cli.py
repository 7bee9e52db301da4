"""`symbackprop derive --general`: the proof of BP1–BP4 for every network, from the command line."""

import json
from dataclasses import replace

import pytest

import symbackprop.proof.general as general_module
from symbackprop.cli import main
from symbackprop.model.symbols import Quantity


def run(capsys, *argv):
    code = main(["derive", "--general", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_the_terminal_report_lists_every_equation_and_its_verdict(capsys):
    code, out, err = run(capsys)
    assert code == 0 and not err
    for name in ("BP1", "BP2", "BP3", "BP4"):
        assert f"\n{name}" in out
    assert "δᴸⱼ = (aᴸⱼ - yⱼ)·σ'(zᴸⱼ)" in out  # BP1 for the quadratic cost, Nielsen's numbering
    assert "chain rule through the activation" in out and "induction hypothesis" in out
    assert out.count("check (general, symbolic): holds") == 4
    assert "induction (base BP1, step BP2): holds" in out


def test_markdown_in_chinese_with_softmax_and_l2(capsys):
    code, out, _ = run(capsys, "--cost", "cross_entropy", "--l2", "lambda", "--format", "md", "--lang", "zh",
                       "--notation", "qiu")
    assert code == 0
    assert out.startswith("# 反向传播的四个方程")
    assert r"\frac{\lambda W^{(l)}_{jk}}{N}" in out  # the (λ/n) w term of BP4, in Qiu's letters
    assert "softmax" in out and "目标值之和为 1" in out
    assert "For every network" not in out


def test_latex_article_and_fragment_written_to_a_file(capsys, tmp_path):
    path = tmp_path / "general.tex"
    code, out, _ = run(capsys, "--activation", "sigmoid", "--cost", "binary_cross_entropy", "--format", "tex",
                       "--notation", "ng", "-o", str(path))
    assert code == 0 and out == ""
    article = path.read_text(encoding="utf-8")
    assert article.startswith(r"\documentclass") and article.rstrip().endswith(r"\end{document}")
    assert r"\Theta^{(l)}_{kj}" in article and r"\label{eq:general:general-bp2}" in article  # prefix: the stem
    code, fragment, _ = run(capsys, "--activation", "sigmoid", "--cost", "binary_cross_entropy", "--format", "tex",
                            "--notation", "ng", "--fragment")
    assert code == 0 and r"\documentclass" not in fragment
    assert r"\label{eq:bp-general-sigmoid-binary_cross_entropy:general-bp2}" in fragment


def test_json_names_the_method_and_every_step(capsys):
    code, out, _ = run(capsys, "--activation", "tanh,softmax", "--cost", "cross_entropy", "--format", "json")
    assert code == 0
    data = json.loads(out)
    assert data["general"] == {"cost": "cross_entropy", "activation": "tanh", "softmax": True, "l2": False}
    assert data["check"] == {"ok": True, "method": "general"}
    assert [e["name"] for e in data["equations"]] == ["BP1", "BP2", "BP3", "BP4"]
    bp2 = data["equations"][1]
    assert "through_activation" in [s["rule"] for s in bp2["proof"]]
    assert bp2["check"]["evidence"]["steps"] == len(bp2["proof"])
    assert {d["shape"]["text"] for d in bp2["dimensions"]} >= {"mˡ×1", "mˡ×mˡ⁺¹"}


@pytest.mark.parametrize("argv, message", [
    (["--layers", "2,3,2"], "--layers '2,3,2' cannot be combined with --general"),
    (["--notation", "nodes"], "expected one of: nielsen, ng, qiu"),
    (["--activation", "sigmoid,tanh"], "one element-wise activation for every layer"),
    (["--activation", "softmax,sigmoid"], "one element-wise activation for every layer"),
    (["--activation", "swish"], "unknown activation 'swish'"),
    (["--cost", "hinge"], "unknown cost 'hinge'"),
    (["--l2", "strong"], "--l2 'strong' cannot be combined with --general: a general proof keeps λ symbolic"),
    (["--l2", "0.1"], "--l2 '0.1' cannot be combined with --general: a general proof keeps λ symbolic"),
    (["--mean"], "--mean cannot be combined with --general"),
    (["--bias"], "--bias cannot be combined with --general"),
    (["--no-bias"], "--no-bias cannot be combined with --general"),
    (["--method", "exact"], "--method 'exact' cannot be combined with --general"),
    (["--method", "none"], "--method 'none' cannot be combined with --general"),
])
def test_bad_input_is_refused_with_exit_2(capsys, argv, message):
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == ""
    assert message in err and "Traceback" not in err


@pytest.mark.parametrize("lang, fmt, base, step", [
    ("en", "text", "the right side of BP1 is that derivative, (aᴸⱼ - yⱼ)·σ'(zᴸⱼ) = ∂C/∂zᴸⱼ",
     "then the right side of BP2, computed from them, is the derivative at layer l, Σ_(k=1..mˡ⁺¹) (δˡ⁺¹ₖ·wˡ⁺¹ₖⱼ)·σ'(zˡⱼ)"),
    ("zh", "text", "BP1 的右边正是这个导数，(aᴸⱼ - yⱼ)·σ'(zᴸⱼ) = ∂C/∂zᴸⱼ", "则由它们算出的 BP2 的右边就是第 l 层的导数，Σ_(k=1..mˡ⁺¹)"),
    # documents: the proof of BP1 runs from the derivative to BP1's right side, that of BP2 to BP2's
    ("en", "md", r"\frac{\partial C}{\partial z^{L}_{j}} &= ",
     r"&= \left(\sum_{k=1}^{m^{l + 1}} \delta^{l + 1}_{k} w^{l + 1}_{kj}\right) \sigma'\left(z^{l}_{j}\right)"),
    ("zh", "tex", r"\frac{\partial C}{\partial z^{L}_{j}} &= ",
     r"&= \left(\sum_{k=1}^{m^{l + 1}} \delta^{l + 1}_{k} w^{l + 1}_{kj}\right) \sigma'\left(z^{l}_{j}\right)"),
])
def test_the_induction_is_about_the_error_the_backward_pass_computes(capsys, lang, fmt, base, step):
    """Not the tautology δᴸ = ∂C/∂zᴸ: the base case is BP1's right side, the step ends in BP2's right side."""
    code, out, _ = run(capsys, "--lang", lang, "--format", fmt)
    assert code == 0 and base in out and step in out
    assert "δᴸⱼ = ∂C/∂zᴸⱼ" not in out and r"\delta^{L}_{j} = \frac{\partial C}{\partial z^{L}_{j}}" not in out
    if fmt != "text":
        assert r"&= \left(a^{L}_{j} - y_{j}\right) \sigma'\left(z^{L}_{j}\right)" in out


def test_the_default_method_is_accepted_with_general(capsys):
    code, out, _ = run(capsys, "--method", "auto", "--format", "json")
    assert code == 0 and json.loads(out)["check"]["ok"] is True


def test_a_spec_file_is_refused(capsys, tmp_path):
    spec = tmp_path / "net.toml"
    spec.write_text("layers = [2, 3, 2]\n", encoding="utf-8")
    code, _, err = run(capsys, str(spec))
    assert code == 2 and "cannot be combined with --general" in err


@pytest.mark.parametrize("value", ["lambda", "true", "λ"])
def test_a_symbolic_l2_is_accepted(capsys, value):
    code, out, _ = run(capsys, "--l2", value, "--format", "json")
    assert code == 0 and json.loads(out)["general"]["l2"] is True


def test_the_report_names_costs_and_activations_in_words(capsys):
    code, out, _ = run(capsys, "--cost", "binary_cross_entropy")
    assert code == 0
    first = out.splitlines()[0]
    assert "the binary cross-entropy" in first and "any differentiable activation" in first
    assert "binary_cross_entropy" not in first and "generic" not in first and "nielsen" not in first
    code, out, _ = run(capsys, "--lang", "zh")
    first = out.splitlines()[0]
    assert "二次代价" in first and "任意一个可微函数" in first and "generic" not in first and "quadratic" not in first


@pytest.mark.parametrize("lang, fmt, words", [
    ("en", "text", "for every neuron k of that layer"),
    ("en", "md", "for every neuron $k$ of that layer"),
    ("zh", "text", "第 l+1 层的每个神经元 k 上成立"),
    ("zh", "md", "层对每个神经元 $k$ 成立"),
])
def test_the_hypothesis_is_stated_for_every_neuron_of_the_next_layer(capsys, lang, fmt, words):
    code, out, _ = run(capsys, "--lang", lang, "--format", fmt)
    assert code == 0 and words in out
    assert ("δˡ⁺¹ₖ = ∂C/∂zˡ⁺¹ₖ" if fmt == "text" else r"\delta^{l + 1}_{k} = \frac{\partial C}{\partial z^{l + 1}_{k}}") in out


def test_chinese_proof_has_no_stray_spaces_or_english_rule_names(capsys):
    code, out, _ = run(capsys, "--lang", "zh", "--format", "md")
    assert code == 0
    assert "克罗内克符号 " not in out and "名字" not in out
    assert "由定义，" in out and "归纳假设，" in out


def _wrong_bp2(real):
    def planted(*args, **kwargs):
        derivation = real(*args, **kwargs)
        bp2 = derivation.bp2
        # a wrong inductive step: the weight w^{l+1}_{jk} in place of w^{l+1}_{kj} from the collapse on
        swap = {Quantity("w", general_module.l + 1, general_module.k, general_module.j):
                Quantity("w", general_module.l + 1, general_module.j, general_module.k)}
        collapse = next(n for n, s in enumerate(bp2.proof) if s.rule == "collapse")
        proof = tuple(s if n < collapse else general_module.GeneralStep(
            s.rule, s.before.xreplace(swap), s.after.xreplace(swap), s.reason) for n, s in enumerate(bp2.proof))
        statement = bp2.statement.xreplace(swap)
        goal = bp2.goal.xreplace(swap)
        return derivation.with_equation(replace(bp2, proof=proof, statement=statement, goal=goal))

    return planted


def test_a_proof_that_does_not_reverify_exits_1(capsys, monkeypatch):
    monkeypatch.setattr(general_module, "derive_general", _wrong_bp2(general_module.derive_general))
    code, out, _ = run(capsys)
    assert code == 1
    assert "FAILS" in out and "induction (base BP1, step BP2): FAILS" in out
    # the problem, phrased by the template: where it is and what is wrong
    assert "FAILS: index form, step " in out and "BP2 does not hold, so the inductive step fails" in out


@pytest.mark.parametrize("fmt", ["text", "md", "tex"])
def test_a_failure_is_reported_in_chinese_in_a_chinese_report(capsys, monkeypatch, fmt):
    monkeypatch.setattr(general_module, "derive_general", _wrong_bp2(general_module.derive_general))
    code, out, _ = run(capsys, "--lang", "zh", "--format", fmt)
    assert code == 1
    assert "下标形式，第 " in out and "BP2 不成立，所以归纳步骤不成立" in out
    for english in ("does not", "index form", "step ", "re-verify", "inductive"):
        assert english not in out, english


def test_output_goes_through_the_shared_writer(capsys, tmp_path, monkeypatch):
    import symbackprop.cli as cli

    written = []
    monkeypatch.setattr(cli, "_write_or_print", lambda output, document: written.append((output, document.text)))
    code, out, _ = run(capsys, "-o", str(tmp_path / "proof.md"), "--format", "md")
    assert code == 0 and out == "" and written[0][0] == str(tmp_path / "proof.md")
    assert written[0][1].startswith("# The four equations")


def test_derive_without_general_is_unchanged(capsys):
    code = main(["derive", "--layers", "2,2", "--method", "none"])
    out, _ = capsys.readouterr()
    assert code == 0 and "for every network" not in out and "BP1-BP4 for every network" not in out


# ------------------------------------------------- derive --label-prefix: several documents in one set of notes


def _labels(text):
    import re

    return re.findall(r"\\label\{([^}]*)\}", text)


def test_two_fragments_go_into_one_set_of_notes(capsys, tmp_path):
    """Two --fragment files \\input into one article: no label defined twice (pdflatex's log says so)."""
    from tooling import compile_tex

    first, second = tmp_path / "first.tex", tmp_path / "second.tex"
    assert main(["derive", "--layers", "2,2", "--format", "tex", "--fragment", "-o", str(first)]) == 0
    assert main(["derive", "--general", "--format", "tex", "--fragment", "-o", str(second)]) == 0
    capsys.readouterr()
    labels = [_labels(path.read_text(encoding="utf-8")) for path in (first, second)]
    assert "eq:first:bp1" in labels[0] and "eq:second:general-bp2" in labels[1]
    assert all(label.split(":")[1] == stem for stem, found in zip(("first", "second"), labels) for label in found)
    notes = ("\\documentclass{article}\n\\usepackage{amsmath,amssymb,tikz}\n\\begin{document}\n"
             "\\input{first.tex}\n\\input{second.tex}\n"
             "See \\eqref{eq:first:bp1} and \\eqref{eq:second:general-bp2}.\n\\end{document}\n")
    ok, log = compile_tex(notes, "en", True, search_dir=tmp_path, references=True)
    assert ok, log
    # the same two fragments without prefixes: the checker sees the labels defined twice
    same = first.read_text(encoding="utf-8").replace("eq:first:", "eq:").replace("sec:first:", "sec:")
    for path in (first, second):
        path.write_text(same, encoding="utf-8")
    ok, log = compile_tex(notes.replace("first:", "").replace("\\eqref{eq:second:general-bp2}", ""), "en", True,
                          search_dir=tmp_path, references=True)
    assert not ok and "multiply defined" in log


def test_the_label_prefix_flag_and_its_defaults(capsys):
    code = main(["derive", "--layers", "2,3,2", "--format", "tex", "--label-prefix", "lecture3.net"])
    out, _ = capsys.readouterr()
    assert code == 0 and set(label.split(":")[1] for label in _labels(out)) == {"lecture3.net"}
    code = main(["derive", "--layers", "2,3,2", "--format", "tex"])
    out, _ = capsys.readouterr()
    assert code == 0 and "\\label{eq:bp-2-3-2:bp1}" in out
    code = main(["derive", "--general", "--activation", "sigmoid", "--cost", "binary_cross_entropy", "--format",
                 "tex"])
    out, _ = capsys.readouterr()
    assert code == 0 and "\\label{eq:bp-general-sigmoid-binary_cross_entropy:general-bp1}" in out


@pytest.mark.parametrize("argv, message", [
    (["--format", "tex", "--label-prefix", "my notes"], "label prefix 'my notes' cannot prefix a LaTeX label"),
    (["--format", "tex", "--label-prefix", "a}b"], "label prefix 'a}b' cannot prefix a LaTeX label"),
    (["--format", "md", "--label-prefix", "x"], "--label-prefix 'x' applies to LaTeX only"),
])
def test_a_bad_label_prefix_is_refused(capsys, argv, message):
    for general in ([], ["--general"]):
        code = main(["derive", *general, *argv])
        out, err = capsys.readouterr()
        assert code == 2 and out == "" and message in err and "Traceback" not in err
