"""Vanishing gradients: the bounds SymPy derives, the NumPy measurement, the plot and the documents.

The LaTeX documents are compiled with pdflatex (English) and xelatex with ctex
(Chinese); without them these tests skip and name the Debian packages to install,
and with ``CI=true`` they fail instead. The plot needs matplotlib, an optional
dependency (``pip install 'symbackprop[plot]'``); without it the plot tests skip.
"""

import dataclasses
import hashlib
import math
import random
import re
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest
import sympy as sp

from symbackprop import Network, SpecError, derive
from symbackprop.model.activations import ACTIVATIONS, Z
from symbackprop.diffusion import (
    ACTIVATION_NAMES,
    NUMPY_HINT,
    PLOT_HINT,
    Measurement,
    MissingDependency,
    backprop,
    bounds,
    chart,
    measure,
    plot_svg,
    render_diffusion,
    statements,
)
from symbackprop.documents.printing import latex
from tooling import REPO, compile_tex, katex_failures, math_fragments

np = pytest.importorskip("numpy", reason=f"the measurement needs NumPy: {NUMPY_HINT}")


@pytest.fixture(scope="module")
def measured() -> Measurement:
    return measure(depth=10, width=30)


@pytest.fixture(scope="module")
def derived():
    return bounds()


def _has_matplotlib() -> bool:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


needs_matplotlib = pytest.mark.skipif(not _has_matplotlib(), reason=f"matplotlib is not installed: {PLOT_HINT}")


# ---------------------------------------------------------------------------- bounds


def test_bounds_are_a_quarter_one_and_one(derived):
    assert [(b.activation, b.maximum) for b in derived] == [
        ("sigmoid", sp.Rational(1, 4)), ("tanh", sp.Integer(1)), ("relu", sp.Integer(1))]
    assert all(isinstance(b.maximum, sp.Number) for b in derived)
    sigmoid, tanh, relu = derived
    assert sigmoid.maximiser == sp.FiniteSet(0) and tanh.maximiser == sp.FiniteSet(0)
    assert sigmoid.point == 0 and relu.point is None
    assert relu.maximiser == sp.Interval.open(0, sp.oo)
    assert relu.attained == (Z > 0)


def test_smooth_bounds_come_from_the_critical_point_and_are_confirmed(derived):
    for bound in derived[:2]:
        kinds = [step.kind for step in bound.steps]
        assert bound.method == "critical_point" and bound.confirmed
        assert kinds == ["definition", "derivative", "second_derivative", "critical_points",
                         "second_derivative_test", "maximum", "confirmed"]
        steps = {step.kind: step for step in bound.steps}
        assert steps["critical_points"].values == (0,)
        point, third = steps["second_derivative_test"].values
        assert point == 0 and third < 0
        # independently of the module: σ'' vanishes at the maximiser, σ' there is the maximum
        derivative = sp.diff(ACTIVATIONS[bound.activation].forward, Z)
        assert sp.simplify(sp.diff(derivative, Z).subs(Z, 0)) == 0
        assert sp.simplify(derivative.subs(Z, 0) - bound.maximum) == 0
        f = sp.lambdify(Z, derivative)
        assert max(f(x / 10) for x in range(-100, 101)) <= float(bound.maximum) + 1e-15


def test_relu_bound_is_the_largest_value_of_a_step(derived):
    relu = derived[2]
    assert relu.method == "pieces" and not relu.confirmed
    pieces = next(step for step in relu.steps if step.kind == "pieces")
    assert pieces.values == (0, 1)
    (leaky,) = bounds(["leaky_relu"])
    assert leaky.maximum == 1 and leaky.maximiser == sp.Interval.open(0, sp.oo)


def test_every_step_and_statement_prints(derived):
    for bound in derived:
        # each activation's derivative by its own name where it has one: σ' for the sigmoid, tanh', ReLU'
        assert latex(bound.statement) == {"sigmoid": r"\sigma'\left(z\right) \leq \frac{1}{4}",
                                          "tanh": r"\tanh'\left(z\right) \leq 1",
                                          "relu": r"\operatorname{ReLU}'\left(z\right) \leq 1"}[bound.activation]
        for step in bound.steps:
            assert latex(step.expr)
    s = statements(derived)
    assert latex(s.step.expr) == (r"\left\lVert \delta^{l} \right\rVert \leq \max_{z} \sigma'\left(z\right) "
                                  r"\left\lVert w^{l + 1} \right\rVert_{2} \left\lVert \delta^{l + 1} \right\rVert")
    assert latex(dict(s.shrink)["sigmoid"].expr) == (
        r"\left\lVert \delta^{l} \right\rVert \leq \left(\frac{1}{4}\right)^{L - l} \left\lVert \delta^{L} \right\rVert")
    assert r"\prod_{k=l + 1}^{L}" in latex(s.product.expr)
    assert latex(s.gradient_norm.expr) == (r"\left\lVert \frac{\partial C}{\partial w^{l}} \right\rVert_{F} = "
                                           r"\left\lVert \delta^{l} \right\rVert \left\lVert a^{l - 1} \right\rVert")
    # another notation numbers the layers its own way: Ng's Θ^(l) leads from layer l to layer l + 1
    assert latex(statements(derived, "ng").step.expr, notation="ng") == (
        r"\left\lVert \delta^{(l)} \right\rVert \leq \max_{z} g'\left(z\right) "
        r"\left\lVert \Theta^{(l)} \right\rVert_{2} \left\lVert \delta^{(l + 1)} \right\rVert")


# ---------------------------------------------------------------------------- measurement


def test_sigmoid_gradients_vanish_and_relu_gradients_do_not(measured):
    sigmoid, relu, tanh = measured.series("sigmoid"), measured.series("relu"), measured.series("tanh")
    assert measured.layers == tuple(range(1, 12)) and len(sigmoid) == 11
    # sigmoid: every layer's gradient is smaller than the next one's, five orders of magnitude overall
    assert all(a < b for a, b in zip(sigmoid, sigmoid[1:]))
    assert sigmoid[0] < 1e-5 * sigmoid[-1]
    assert measured.attenuation("sigmoid") < 1e-5
    # ReLU (and tanh) stay within a small factor across all eleven layers
    assert max(relu) / min(relu) < 4
    assert measured.spread("relu") < 4 and measured.spread("tanh") < 4
    assert min(relu) > 1e3 * sigmoid[0] and min(tanh) > 1e3 * sigmoid[0]


def test_the_bound_holds_in_every_draw(measured, derived):
    for bound in derived:
        assert 0 < measured.worst_ratio(bound.activation) <= float(bound.maximum)
    assert measured.worst_ratio("sigmoid") <= 0.25
    assert 1 < measured.spectral_norm < 3  # random N(0, 1/n) square matrices: about 2


def test_measurement_is_deterministic_and_immutable(measured):
    again = measure(depth=10, width=30)
    assert again == measured
    assert measure(depth=10, width=30, seed=1) != measured
    with pytest.raises(dataclasses.FrozenInstanceError):
        measured.depth = 3
    assert isinstance(measured.norms, tuple) and all(isinstance(n, tuple) for n in measured.norms)
    # each activation sees the same draws: measuring one alone gives the same numbers
    alone = measure(depth=10, width=30, activations=["relu"])
    assert alone.series("relu") == measured.series("relu")


@pytest.mark.parametrize("activation", ["sigmoid", "tanh", "relu", "leaky_relu:0.2"])
def test_numpy_gradients_match_the_symbolic_engine(activation):
    network = Network([2, 3, 2], activation=activation, cost="quadratic")
    derivation = derive(network)
    rng = random.Random(7)
    values = {key: rng.uniform(-1, 1) for key in derivation.params}
    x, y = [0.3, -0.7], [0.2, 0.9]
    exact = derivation.evaluate(values, x, y)
    weights = [np.array([[values[("w", l, j, k)] for k in range(1, network.sizes[l - 1] + 1)]
                         for j in range(1, network.sizes[l] + 1)]) for l in (1, 2)]
    biases = [np.array([values[("b", l, j)] for j in range(1, network.sizes[l] + 1)]) for l in (1, 2)]
    result = backprop(weights, biases, x, y, activation)
    assert result.cost == pytest.approx(exact.cost, rel=1e-12, abs=1e-15)
    for key, value in exact.gradients.items():
        if key[0] == "w":
            got = result.weight_gradients[key[1]][key[2] - 1, key[3] - 1]
        else:
            got = result.bias_gradients[key[1]][key[2] - 1]
        assert got == pytest.approx(value, rel=1e-10, abs=1e-14), key
    for l in (1, 2):
        assert np.allclose(result.delta[l], exact.delta[l], rtol=1e-10, atol=1e-14)


# ---------------------------------------------------------------------------- plot


@needs_matplotlib
def test_plot_svg_is_deterministic_xml(measured):
    svg = plot_svg(measured)
    assert svg == plot_svg(measured)
    root = ET.fromstring(svg)
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert "<dc:date>" not in svg
    # a new process (new hash seeds, fresh matplotlib state) writes the same bytes
    code = ("import hashlib; from symbackprop.diffusion import measure, plot_svg; "
            "print(hashlib.sha256(plot_svg(measure(depth=10, width=30)).encode()).hexdigest())")
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120,
                          env={**_environ(), "PYTHONPATH": str(REPO), "PYTHONHASHSEED": "123"})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == hashlib.sha256(svg.encode()).hexdigest()


def _environ():
    import os

    return dict(os.environ)


def test_without_matplotlib_the_document_says_how_to_get_it(measured, derived, monkeypatch):
    for name in [n for n in sys.modules if n == "matplotlib" or n.startswith("matplotlib.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # makes `import matplotlib` fail
    assert plot_svg(measured) is None
    for lang in ("en", "zh"):
        document = render_diffusion(measured, derived, "md", lang, figure="diffusion.svg")
        assert document.attachments == {}
        assert f"`{PLOT_HINT}`" in document.text
        assert "](diffusion.svg)" not in document.text
    # LaTeX draws the plot with TikZ, matplotlib or not
    assert r"\begin{tikzpicture}" in render_diffusion(measured, derived, "tex", "en").text


def test_without_numpy_measure_names_the_install_command(monkeypatch):
    monkeypatch.setitem(sys.modules, "numpy", None)
    with pytest.raises(MissingDependency, match="pip install numpy"):
        measure(depth=2, width=3)


def test_chart_stays_inside_its_frame(measured):
    drawn = chart(measured, width=9.0, height=5.5)
    for _, points in drawn.series:
        assert len(points) == 11
        assert all(0 <= x <= 9.0 and 0 <= y <= 5.5 for x, y in points)
    assert [layer for _, layer in drawn.x_ticks] == list(range(2, 13))  # Nielsen: the input is layer 1


# ---------------------------------------------------------------------------- documents


@pytest.mark.parametrize("lang", ["en", "zh"])
@pytest.mark.parametrize("fmt", ["md", "tex"])
def test_documents_render_deterministically(measured, derived, fmt, lang):
    figure = "diffusion.svg" if fmt == "md" else None
    document = render_diffusion(measured, derived, fmt, lang, figure=figure)
    again = render_diffusion(measure(depth=10, width=30), bounds(), fmt, lang, figure=figure)
    assert document == again
    text = document.text
    assert "{{" not in text and "{%" not in text and "None" not in text
    for name in ("sigmoid", "tanh", "relu"):
        assert name in text
    assert latex(sp.Rational(1, 4)) in text
    assert r"1.05 \cdot 10^{-6}" in text  # the sigmoid's first hidden layer
    if fmt == "md":
        assert text.startswith("# ")
        if _has_matplotlib():
            assert "](diffusion.svg)" in text
            assert set(document.attachments) == {"diffusion.svg"}
            ET.fromstring(document.attachments["diffusion.svg"])
    else:
        assert text.startswith(r"\documentclass")
        assert ("ctexart" in text) == (lang == "zh")
        assert document.attachments == {}
    assert render_diffusion(measured, derived, fmt, lang).attachments == {}


def test_chinese_documents_show_the_same_formulas_and_labels(measured, derived):
    def labels(text):
        return re.findall(r"\\label\{[^}]*\}", text)

    en, zh = (render_diffusion(measured, derived, "md", lang).text for lang in ("en", "zh"))
    assert math_fragments(zh, "github") == math_fragments(en, "github")
    en, zh = (render_diffusion(measured, derived, "tex", lang).text for lang in ("en", "zh"))
    assert labels(zh) == labels(en) and len(labels(en)) > 10
    assert "梯度消失" in zh and "sigmoid" in zh


def test_a_network_whose_gradients_are_all_zero_still_renders():
    dead = measure(depth=1, width=1, draws=1, activations=["relu"])
    assert dead.norms == ((0.0, 0.0),)  # one ReLU neuron with a negative weighted input
    for lang in ("en", "zh"):
        for fmt in ("md", "tex"):
            text = render_diffusion(dead, bounds(["relu"]), fmt, lang).text
            assert "None" not in text and "nan" not in text


def test_markdown_without_a_figure_name_leaves_the_plot_out(measured, derived):
    document = render_diffusion(measured, derived, "md", "en")
    assert document.attachments == {} and ".svg)" not in document.text and PLOT_HINT not in document.text


def test_markdown_math_parses_with_katex(measured, derived):
    fragments = []
    for lang in ("en", "zh"):
        fragments += math_fragments(render_diffusion(measured, derived, "md", lang).text, "github")
    assert len(fragments) > 80
    failures = katex_failures(fragments)
    assert not failures, failures


def test_latex_compiles(measured, derived):
    """A deeper plot than the gallery's; the Chinese template is compiled with the gallery (tests/test_gallery.py)."""
    ok, log = compile_tex(render_diffusion(measured, derived, "tex", "en").text, "en", True, references=True)
    assert ok, log


def test_latex_fragment_has_no_preamble(measured, derived):
    fragment = render_diffusion(measured, derived, "tex", "en", standalone=False).text
    assert r"\documentclass" not in fragment and r"\begin{document}" not in fragment
    assert fragment.startswith(r"\section*{Why gradients vanish")


# ---------------------------------------------------------------------------- bad input


def test_bad_measurement_input_lists_every_problem():
    with pytest.raises(SpecError) as caught:
        measure(depth=0, width="30", activations=["sigmoid", "swish", "sigmoid"], draws=0, seed=-1)
    problems = caught.value.problems
    assert len(problems) == 6
    message = str(caught.value)
    assert "depth 0" in message and "width '30'" in message and "draws 0" in message and "seed -1" in message
    assert "'swish'" in message and ", ".join(sorted(ACTIVATION_NAMES)) in message
    assert "'sigmoid' is listed twice" in message


@pytest.mark.parametrize("kwargs, fragment", [
    ({"depth": True}, "depth True"),
    ({"depth": 2.0}, "depth 2.0"),
    ({"depth": 101}, "depth 101 is out of range"),
    ({"width": -3}, "width -3"),
    ({"draws": 1001}, "draws 1001 is out of range"),
    ({"activations": []}, "activations [] is empty"),
    ({"activations": "sigmoid,softmax"}, "'softmax'"),
])
def test_bad_measurement_input_names_the_value(kwargs, fragment):
    with pytest.raises(SpecError, match=fragment.replace("[", r"\[").replace("]", r"\]")):
        measure(**{"depth": 2, "width": 3, **kwargs})


def test_bad_bound_and_render_input(measured, derived):
    valid = "leaky_relu, relu, sigmoid, tanh"
    with pytest.raises(SpecError, match=f"unknown activation 'generic'; expected one of: {valid}"):
        bounds(["generic"])
    with pytest.raises(SpecError) as caught:
        render_diffusion(measured, derived, "pdf", "fr", flavor="plain", notation="mine")
    message = str(caught.value)
    assert all(word in message for word in ("'pdf'", "'fr'", "'plain'", "'mine'"))
    with pytest.raises(SpecError, match="lack the measured activation"):
        render_diffusion(measured, derived[:1], "md")
    with pytest.raises(SpecError, match="not a Measurement"):
        render_diffusion({"norms": []}, derived, "md")


def test_comma_separated_names_are_accepted():
    assert [b.activation for b in bounds("sigmoid, relu")] == ["sigmoid", "relu"]
    assert measure(depth=2, width=3, activations="tanh").activations == ("tanh",)
    assert math.isfinite(measure(depth=2, width=3, draws=1).spectral_norm)


# ---------------------------------------------------------------------------- parameterised activations


def test_a_leaky_relu_slope_is_read_as_derive_reads_it():
    """``leaky_relu:0.2`` is the activation ``derive --activation`` reads: its slope reaches bound and measurement."""
    (bound,) = bounds(["leaky_relu:0.2"])
    assert bound.activation == "leaky_relu:1/5" and bound.maximum == 1
    assert bound.steps[0].expr.rhs == sp.Piecewise((Z, Z > 0), (Z / 5, True))
    assert [b.activation for b in bounds(["leaky_relu:0.01", "leaky_relu:1/3"])] == ["leaky_relu", "leaky_relu:1/3"]
    both = measure(depth=4, width=6, activations="leaky_relu:0.2, leaky_relu", draws=2)
    assert both.activations == ("leaky_relu:1/5", "leaky_relu")
    assert both.series("leaky_relu:1/5") != both.series("leaky_relu")  # the slope changes the gradients


@pytest.mark.parametrize("spelling, fragment", [
    ("leaky_relu:abc", "leaky_relu slope 'abc' is not a number"),
    ("sigmoid:2", "unknown activation 'sigmoid:2'; expected one of: leaky_relu, relu, sigmoid, tanh"),
    ("leaky_relu:0.01, leaky_relu", "'leaky_relu' is listed twice"),
])
def test_a_bad_parameterised_activation_is_refused(spelling, fragment):
    with pytest.raises(SpecError, match=re.escape(fragment)):
        measure(depth=2, width=3, activations=spelling)


def test_the_cli_accepts_a_leaky_relu_slope(capsys, tmp_path):
    from symbackprop.cli import main

    path = tmp_path / "leaky.tex"
    code = main(["diffusion", "--activation", "leaky_relu:0.2,relu", "--depth", "3", "--width", "5",
                 "--draws", "1", "--format", "tex", "-o", str(path)])
    _, err = capsys.readouterr()
    assert code == 0 and not err
    text = path.read_text(encoding="utf-8")
    assert r"\texttt{leaky\_relu:1/5}" in text and r"\frac{z}{5}" in text
    ok, log = compile_tex(text, "en", True, references=True)
    assert ok, log
