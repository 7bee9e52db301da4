"""`symbackprop derive` on a description with [[layer]] entries."""

import subprocess
import sys
from pathlib import Path

import pytest

from symbackprop.cli import main

REPO = Path(__file__).resolve().parent.parent

SMALL = """
input = [1, 4, 4]
cost = "quadratic"
[[layer]]
type = "conv2d"
channels = 2
kernel = 2
activation = "sigmoid"
[[layer]]
type = "avgpool"
size = 3
[[layer]]
type = "dense"
size = 2
activation = "identity"
"""


@pytest.fixture
def spec(tmp_path):
    path = tmp_path / "net.toml"
    path.write_text(SMALL, encoding="utf-8")
    return path


def test_derive_prints_the_derivation_and_the_check(spec, capsys):
    assert main(["derive", str(spec)]) == 0
    out = capsys.readouterr().out
    assert "layer 1: conv2d 1×4×4 -> 2×3×3" in out
    assert "rule: ∂C/∂x_c = Σ_(o) δ¹_o ⋆full rot180(K¹_(o,c))" in out
    assert "spread_mean" in out
    assert "Check: every fact holds" in out
    assert "numeric evidence" in out


@pytest.mark.parametrize("fmt, lang", [("md", "en"), ("tex", "zh")])
def test_derive_writes_a_document(spec, tmp_path, fmt, lang, capsys):
    out = tmp_path / f"net.{fmt}"
    assert main(["derive", str(spec), "--format", fmt, "--lang", lang, "--method", "none", "-o", str(out)]) == 0
    text = out.read_text(encoding="utf-8")
    assert ("\\documentclass" in text) == (fmt == "tex")
    assert "\\operatorname{rot}_{180}" in text


def test_derive_json_gives_every_gradient_and_how_each_rule_was_established(spec, capsys):
    import json

    assert main(["derive", str(spec), "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert len(data["gradients"]) == data["network"]["parameters"] == 2 * 4 + 2 + 2 * 2 + 2
    assert data["gradients"][0]["key"] == ["K", 1, 1, 1, 1, 1]
    conv = data["layers"][0]
    assert conv["rule"] == "conv" and "rot180" in conv["backward_rule"]["text"]
    assert {(f["what"], f["method"], f["ok"]) for f in conv["established"]} == {("backward", "exact", True),
                                                                                 ("gradients", "exact", True)}
    assert data["check"]["ok"] and {f["method"] for f in data["check"]["facts"]} >= {"exact", "numeric"}
    assert [d["position"] for d in data["deltas"][:2]] == [[1], [2]]


def test_bad_description_exits_2_without_traceback_and_writes_nothing(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('input = [1, 4, 4]\n[[layer]]\ntype = "conv2d"\nchannels = 1\nkernel = 5\n'
                   '[[layer]]\ntype = "dense"\nsize = 0\n', encoding="utf-8")
    out = tmp_path / "out.md"
    proc = subprocess.run([sys.executable, "-m", "symbackprop", "derive", str(bad), "--format", "md", "-o", str(out)],
                          capture_output=True, text=True, cwd=REPO, timeout=120)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert "layer 1 (conv2d): kernel 1×5×5 with padding 0 does not fit the input of shape 1×4×4" in proc.stderr
    assert "layer 2 (dense): size 0; expected a positive integer" in proc.stderr
    assert not out.exists()


@pytest.mark.parametrize("argv, expected", [
    (["derive", "{spec}", "--layers", "2,3"], "--layers cannot be combined with a description of [[layer]] entries"),
    (["derive", "{spec}", "--format", "html"], "unknown format 'html'"),
    (["derive", "{spec}", "--notation", "ng"], "--notation ng is not available"),
    (["check", "--spec", "{spec}", "a = b", "--star", "hadamard"], "--star hadamard is not available"),
    (["check-doc", "{spec}", "x.md", "--cost", "quadratic"], "--cost cannot be combined with a description"),
    (["codegen", "{spec}", "--cost", "quadratic"], "--cost cannot be combined with a description of [[layer]] entries"),
    (["evaluate", "{spec}", "--values", "v.json", "--notation", "qiu"], "--notation qiu is not available"),
])
def test_what_a_layered_description_cannot_do_yet(spec, argv, expected, capsys):
    assert main([a.replace("{spec}", str(spec)) for a in argv]) == 2
    assert expected in capsys.readouterr().err


EVERY_TYPE = """
input = [2, 7]
cost = "binary_cross_entropy"
[[layer]]
type = "conv1d"
channels = 2
kernel = 3
stride = 2
padding = 1
activation = "tanh"
[[layer]]
type = "avgpool"
size = 2
stride = 1
[[layer]]
type = "maxpool"
size = 2
[[layer]]
type = "flatten"
[[layer]]
type = "dense"
size = 2
activation = "sigmoid"
"""


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_every_layer_type_typesets(tmp_path, lang):
    """Dilation, cropping, both poolings and flattening in one document: KaTeX parses its Markdown and
    the TeX engine builds its LaTeX."""
    from tooling import compile_tex, describe_failures, katex_failures, math_fragments

    from symbackprop.model.spec import parse_spec
    from symbackprop.proof.layered import derive_layered
    from symbackprop.proof.layered_report import render_layered

    derivation = derive_layered(parse_spec(EVERY_TYPE, "toml"))
    report = derivation.check(points=1)
    assert report.ok
    markdown = render_layered(derivation, "md", lang, report=report).text
    assert "\\operatorname{dil}_{2}" in markdown and "\\operatorname{crop}_{1}" in markdown
    assert "\\operatorname{spread}_{\\mathrm{mean}}" in markdown and "\\operatorname{unflatten}" in markdown
    failures = katex_failures(math_fragments(markdown, "github"))
    assert not failures, describe_failures(failures)
    ok, log = compile_tex(render_layered(derivation, "tex", lang, report=report).text, lang, True)
    assert ok, log
