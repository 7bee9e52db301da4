"""The general proof as a LaTeX article fits the page: no line runs more than 5 pt into the margin.

Each step of a proof (before ⟼ after, and the fact it uses) is set as a display; set inline, the
long sums and fractions of the L2 cost ran up to 160 pt past the right margin. The article is
compiled with the real engine (skipped without it, failing instead under ``CI=true``) and the
"Overfull \\hbox" warnings of its log are measured.
"""

import re

import pytest

from symbackprop.cli import main

from tooling import build_tex

LIMIT_PT = 5.0
_OVERFULL = re.compile(r"^Overfull \\hbox \((\d+(?:\.\d+)?)pt too wide\)(.*)$", re.M)


def overfull_boxes(tex: str, lang: str) -> list[tuple[float, str]]:
    """The overfull hboxes of ``tex`` once its references are set: (width in pt, where), widest first."""
    build = build_tex(tex, lang, True)
    assert build.ok_exit, build.console[-3000:]
    return sorted(((float(width), where.strip()) for width, where in _OVERFULL.findall(build.log)), reverse=True)


def derived_article(capsys, lang: str) -> str:
    code = main(["derive", "--general", "--cost", "binary_cross_entropy", "--activation", "sigmoid",
                 "--l2", "lambda", "--notation", "ng", "--format", "tex", "--lang", lang])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert out.startswith("\\documentclass"), out[:200]
    return out


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_the_general_proof_with_an_l2_penalty_fits_the_page(capsys, lang):
    tex = derived_article(capsys, lang)
    assert r"\text{chain rule through } z" in tex or r"\text{链式法则，经由 } z" in tex  # the justified steps are in it
    wide = [box for box in overfull_boxes(tex, lang) if box[0] > LIMIT_PT]
    assert not wide, f"lines wider than the text by more than {LIMIT_PT} pt: {wide}"


def _chains(tex: str) -> list[str]:
    return [body.strip() for body in re.findall(r"\\begin\{align\*\}(.*?)\\end\{align\*\}", tex, re.S)]


def test_a_step_set_inline_is_measured_as_overfull(capsys):
    """The measurement catches a bad layout: the first line of the proof of BP4, twice in one box, set inline."""
    tex = derived_article(capsys, "en")
    chain = next(body for body in _chains(tex) if r"\text{chain rule through }" in body and r"\lambda" in body)
    first = chain.split("\\\\")[0].split("&&")[0].split(r"\qquad")[0].replace("&", "")
    planted = tex.replace(r"\end{document}", "(1) step: \\mbox{$%s \\quad %s$}, twice, as one unbreakable box\n\n\\end{document}" % (first, first))
    widths = [width for width, _ in overfull_boxes(planted, "en")]
    assert widths and widths[0] > LIMIT_PT


def test_a_term_no_step_touches_is_written_once(capsys):
    """BP4 with an L2 penalty: the cost's term and the penalty's term each get a chain of their own, then their sum;
    the penalty's derivative is not carried unchanged through the steps on the other term."""
    assert main(["derive", "--general", "--cost", "binary_cross_entropy", "--activation", "sigmoid", "--l2", "lambda",
                 "--notation", "ng", "--format", "md"]) == 0
    out = capsys.readouterr().out
    bp4 = out[out.index("### BP4"):out.index("Entry by entry", out.index("### BP4"))]
    penalty = r"\frac{\partial \left(\frac{\lambda}{2 m}"
    assert bp4.count(penalty) == 2  # where the chain rule splits the derivative, and where its own chain starts
    rows = [line for line in bp4.splitlines() if "&=" in line]
    assert not any(penalty in row.split("&=")[1] for row in rows[1:])
    assert r"\text{adding the two terms}" in rows[-1]
