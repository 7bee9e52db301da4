"""The network drawing: its layout as data, and the TikZ and SVG templates that draw it."""

import os
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET

import pytest

from symbackprop.documents import printing
from symbackprop.documents.drawing import EDGE_LABEL_LIMIT, layout, shown_neurons
from symbackprop.errors import SpecError
from symbackprop.documents.render import environment
from symbackprop.model.spec import Network
from symbackprop.model.symbols import LayerMatrix, Quantity

SVG = "{http://www.w3.org/2000/svg}"
NOTATIONS = ("nielsen", "ng", "qiu", "nodes")


def render(drawing, template, **extra):
    env = environment(drawing.notation, drawing.sizes)
    return env.get_template(f"drawing/network.{template}.j2").render(drawing=drawing, **extra)


def by_kind(drawing, kind):
    return [node for node in drawing.nodes if node.kind == kind]


# ---------------------------------------------------------------- layout


def test_two_two_two_without_bias():
    d = layout(Network([2, 2, 2], bias=False))
    assert [(n.id, n.layer, n.neuron, n.kind) for n in d.nodes] == [
        ("l0n1", 0, 1, "input"), ("l0n2", 0, 2, "input"),
        ("l1n1", 1, 1, "neuron"), ("l1n2", 1, 2, "neuron"),
        ("l2n1", 2, 1, "neuron"), ("l2n2", 2, 2, "neuron"),
    ]
    assert [n.text for n in d.nodes] == ["x₁", "x₂", "a²₁", "a²₂", "a³₁", "a³₂"]
    assert [n.latex for n in d.nodes] == ["x_{1}", "x_{2}", "a^{2}_{1}", "a^{2}_{2}", "a^{3}_{1}", "a^{3}_{2}"]
    assert [(e.source_id, e.target_id, e.text) for e in d.edges] == [
        ("l0n1", "l1n1", "w²₁₁"), ("l0n2", "l1n1", "w²₁₂"),
        ("l0n1", "l1n2", "w²₂₁"), ("l0n2", "l1n2", "w²₂₂"),
        ("l1n1", "l2n1", "w³₁₁"), ("l1n2", "l2n1", "w³₁₂"),
        ("l1n1", "l2n2", "w³₂₁"), ("l1n2", "l2n2", "w³₂₂"),
    ]
    assert d.edges[0].latex == "w^{2}_{11}"
    assert [(lab.layer, lab.latex, lab.text) for lab in d.layer_labels] == [
        (0, "x", "x"), (1, "a^{2}", "a²"), (2, "a^{3}", "a³"),
    ]


def test_geometry_of_two_two_two():
    d = layout(Network([2, 2, 2], bias=False))
    xs = sorted({n.x for n in d.nodes})
    assert len(xs) == 3 and xs[1] - xs[0] == pytest.approx(xs[2] - xs[1])
    for column in range(3):
        first, second = [n for n in d.nodes if n.layer == column]
        assert first.x == second.x and first.y < second.y  # neuron 1 on top: y grows downwards
    assert {n.y for n in d.nodes if n.neuron == 1} == {d.nodes[0].y}  # columns aligned
    for lab in d.layer_labels:
        assert lab.x == d.nodes[2 * lab.layer].x and lab.y > max(n.y for n in d.nodes)
    horizontal = d.edges[0]
    assert horizontal.angle == 0.0 and horizontal.y1 == horizontal.y2 == d.nodes[0].y
    assert horizontal.x1 == pytest.approx(d.nodes[0].x + d.radius)
    assert horizontal.x2 == pytest.approx(d.nodes[2].x - d.radius)


@pytest.mark.parametrize("notation", NOTATIONS)
def test_labels_are_the_printers(notation):
    net = Network([2, 3, 1], bias=[True, False])  # 12 parameters: every edge labelled
    d = layout(net, notation=notation)
    assert d.notation == notation
    expected = {}
    for n in d.nodes:
        if n.kind == "input":
            expected[n.id] = Quantity("x", n.neuron)
        elif n.kind == "neuron":
            expected[n.id] = Quantity("a", n.layer, n.neuron)
    assert len(expected) == 6
    assert all(e.latex and e.text for e in d.edges) and len(d.edges) == 12
    for node_id, q in expected.items():
        node = d.node(node_id)
        assert node.latex == printing.latex(q, notation=notation, sizes=net.sizes)
        assert node.text == printing.text(q, notation=notation, sizes=net.sizes)
    for lab, size in zip(d.layer_labels, net.sizes):
        vector = LayerMatrix("a", lab.layer, size)
        assert lab.latex == printing.latex(vector, notation=notation, sizes=net.sizes)
        assert lab.text == printing.text(vector, notation=notation, sizes=net.sizes)
    for e in d.edges:
        target = d.node(e.target_id)
        source = d.node(e.source_id)
        q = (Quantity("b", target.layer, target.neuron) if source.kind == "bias"
             else Quantity("w", target.layer, target.neuron, source.neuron))
        assert e.latex == printing.latex(q, notation=notation, sizes=net.sizes)
        assert e.text == printing.text(q, notation=notation, sizes=net.sizes)


def test_labels_in_the_nodes_and_ng_notations():
    nodes = layout(Network([2, 2, 2], bias=False), notation="nodes")
    assert [n.text for n in nodes.nodes] == ["x̂₁", "x̂₂", "y₁₁", "y₁₂", "y₂₁", "y₂₂"]
    assert [lab.text for lab in nodes.layer_labels] == ["x̂", "y₁", "y₂"]
    assert nodes.edges[0].text == "w₁₃"  # global node numbers: input 1 is node 1, a²₁ is node 3
    ng = layout(Network([2, 2, 2], bias=False), notation="ng")
    assert [n.text for n in ng.nodes][2:] == ["a⁽²⁾₁", "a⁽²⁾₂", "a⁽³⁾₁", "a⁽³⁾₂"]
    assert ng.node("l1n1").latex == "a^{(2)}_{1}"
    assert ng.edges[0].latex == "\\Theta^{(1)}_{11}"


def test_bias_units_and_their_edges():
    d = layout(Network([2, 2, 2], bias=True))
    assert len(d.nodes) == 8 and len(d.edges) == 12
    biases = by_kind(d, "bias")
    assert [(n.id, n.layer, n.neuron, n.latex, n.text) for n in biases] == [
        ("l0b", 0, 0, "1", "1"), ("l1b", 1, 0, "1", "1"),
    ]
    for bias in biases:
        column = [n for n in d.nodes if n.layer == bias.layer and n.kind != "bias"]
        assert bias.x == column[0].x and bias.y < min(n.y for n in column)
    bias_edges = [e for e in d.edges if e.source_id.endswith("b")]
    assert [(e.source_id, e.target_id, e.latex, e.text) for e in bias_edges] == [
        ("l0b", "l1n1", "b^{2}_{1}", "b²₁"), ("l0b", "l1n2", "b^{2}_{2}", "b²₂"),
        ("l1b", "l2n1", "b^{3}_{1}", "b³₁"), ("l1b", "l2n2", "b^{3}_{2}", "b³₂"),
    ]
    ng = layout(Network([2, 2, 2], bias=True), notation="ng")
    assert [e.text for e in ng.edges if e.source_id == "l0b"] == ["Θ⁽¹⁾₁₀", "Θ⁽¹⁾₂₀"]


def test_bias_only_where_a_layer_has_one():
    d = layout(Network([2, 2, 2], bias=[False, True]))
    assert [n.id for n in by_kind(d, "bias")] == ["l1b"]
    assert len(d.edges) == 8 + 2
    assert not any(e.target_id.startswith("l1") and e.source_id.endswith("b") for e in d.edges)


def test_large_network_is_summarised():
    d = layout(Network([784, 30, 10]))
    shown = {c: [n.neuron for n in d.nodes if n.layer == c and n.kind != "bias"] for c in range(3)}
    assert shown == {0: [1, 2, 3, 4, None, 784], 1: [1, 2, 3, 4, None, 30], 2: [1, 2, 3, 4, None, 10]}
    assert len(d.nodes) == 3 * 6 + 2
    assert [n.id for n in by_kind(d, "ellipsis")] == ["l0e", "l1e", "l2e"]
    assert all(n.latex == "" and n.text == "" for n in by_kind(d, "ellipsis"))
    assert len(d.edges) == 5 * 5 + 5 * 5 + 5 + 5  # shown neurons only, one bias edge per shown neuron
    assert all(e.latex == "" and e.text == "" for e in d.edges)
    ellipses = {n.id for n in by_kind(d, "ellipsis")}
    assert not any(e.source_id in ellipses or e.target_id in ellipses for e in d.edges)
    assert d.node("l0n784").text == "x_(784)"
    assert d.node("l2n10").latex == "a^{3}_{10}"


def test_node_count_is_bounded_by_layers_times_max_neurons():
    net = Network([784, 500, 500, 300, 10])
    for max_neurons in (3, 6, 9):
        d = layout(net, max_neurons=max_neurons)
        neurons = [n for n in d.nodes if n.kind != "bias"]
        assert len(neurons) == 4 * max_neurons + min(10, max_neurons)
        assert len(d.nodes) <= len(net.sizes) * (max_neurons + 1)
    smallest = layout(Network([784, 10], bias=False), max_neurons=3)
    assert [n.neuron for n in smallest.nodes] == [1, None, 784, 1, None, 10]
    assert len(smallest.edges) == 4


def test_shown_neurons():
    assert shown_neurons(6, 6) == [1, 2, 3, 4, 5, 6]
    assert shown_neurons(7, 6) == [1, 2, 3, 4, None, 7]
    assert shown_neurons(1, 3) == [1]


def test_edge_labels_only_for_small_networks():
    assert Network([2, 2, 2]).parameter_count == EDGE_LABEL_LIMIT
    assert all(e.text for e in layout(Network([2, 2, 2])).edges)
    assert Network([2, 3, 2]).parameter_count > EDGE_LABEL_LIMIT
    assert not any(e.text or e.latex for e in layout(Network([2, 3, 2])).edges)
    assert all(e.text for e in layout(Network([2, 3, 2], bias=False)).edges)  # 12 weights


def test_coordinates_are_rounded_and_inside_the_extent():
    for net in (Network([2, 2, 2], bias=False), Network([784, 30, 10]), Network([1, 5, 1])):
        d = layout(net)
        points = [(n.x, n.y) for n in d.nodes] + [(lab.x, lab.y) for lab in d.layer_labels]
        points += [p for e in d.edges for p in ((e.x1, e.y1), (e.x2, e.y2), (e.label_x, e.label_y))]
        for x, y in points:
            assert x == round(x, 2) and y == round(y, 2)
            assert 0 < x < d.width and 0 < y < d.height
        for n in d.nodes:
            assert d.radius <= n.x <= d.width - d.radius and d.radius <= n.y <= d.height - d.radius


def test_deterministic():
    net = Network([3, 7, 2], bias=[True, False])
    first, second = layout(net, "ng", max_neurons=4), layout(Network([3, 7, 2], bias=[True, False]), "ng", max_neurons=4)
    assert first == second
    assert hash(first) == hash(second)
    assert render(first, "tikz") == render(second, "tikz")
    assert render(first, "svg") == render(second, "svg")


def test_bad_arguments():
    with pytest.raises(SpecError, match="max_neurons is 2"):
        layout(Network([2, 2]), max_neurons=2)
    with pytest.raises(SpecError, match="max_neurons is '6'"):
        layout(Network([2, 2]), max_neurons="6")
    with pytest.raises(SpecError, match="unknown notation 'bishop'"):
        layout(Network([2, 2]), notation="bishop")


# ---------------------------------------------------------------- templates


@pytest.mark.parametrize("net, notation", [
    (Network([2, 2, 2], bias=False), "nielsen"),
    (Network([2, 2, 2]), "ng"),
    (Network([784, 30, 10]), "nodes"),
])
def test_svg(net, notation):
    d = layout(net, notation)
    root = ET.fromstring(render(d, "svg").encode("utf-8"))
    assert root.tag == f"{SVG}svg"
    assert root.get("viewBox") == f"0 0 {d.width * 60:.1f} {d.height * 60:.1f}"
    assert root.find(f"{SVG}title").text == "-".join(str(s) for s in net.sizes)
    texts = [t.text for t in root.iter(f"{SVG}text")]
    for node in d.nodes:
        if node.kind != "ellipsis":
            assert texts.count(node.text) >= 1, node.text
    groups = {g.get("id"): g for g in root.iter(f"{SVG}g") if g.get("id")}
    assert set(groups) == {n.id for n in d.nodes}
    for node in d.nodes:
        circles = list(groups[node.id].iter(f"{SVG}circle"))
        assert len(circles) == (3 if node.kind == "ellipsis" else 1)
    lines = list(root.iter(f"{SVG}line"))
    assert len(lines) == len(d.edges)
    assert all(line.get("marker-end") == "url(#sbp-arrow)" for line in lines)
    assert root.find(f"{SVG}defs/{SVG}marker").get("id") == "sbp-arrow"
    for e in d.edges:
        if e.text:
            assert e.text in texts
    for lab in d.layer_labels:
        assert lab.text in texts


def test_svg_escapes_its_text():
    d = layout(Network([2, 2, 2], bias=False))
    svg = render(d, "svg", title='2-2-2 <a & "b">')
    assert '&lt;a &amp; &#34;b&#34;&gt;' in svg
    assert ET.fromstring(svg.encode("utf-8")).find(f"{SVG}title").text == '2-2-2 <a & "b">'


@pytest.mark.parametrize("net, notation", [
    (Network([2, 2, 2], bias=False), "nielsen"),
    (Network([2, 2, 2]), "ng"),
    (Network([784, 30, 10]), "qiu"),
])
def test_tikz(net, notation):
    d = layout(net, notation)
    tikz = render(d, "tikz")
    assert tikz.startswith("\\begin{tikzpicture}")
    assert tikz.rstrip().endswith("\\end{tikzpicture}")
    assert tikz.count("\\begin{tikzpicture}") == 1
    named = re.findall(r"\\node\[sbp (\w+)\] \((\w+)\) at \(([\d.]+), ([\d.]+)\)", tikz)
    assert sorted(node_id for _, node_id, _, _ in named) == sorted(n.id for n in d.nodes)
    for kind, node_id, x, y in named:
        node = d.node(node_id)
        assert (kind, float(x), float(y)) == (node.kind, node.x, node.y)
        if node.kind != "ellipsis":
            assert f"({node.id}) at ({node.x}, {node.y}) {{${node.latex}$}};" in tikz
    draws = re.findall(r"\\draw\[sbp edge\] \((\w+)\) -- (?:node\[[^\]]*\] \{\$(.*)\$\} )?\((\w+)\);", tikz)
    assert [(s, t, label) for s, label, t in draws] == [(e.source_id, e.target_id, e.latex) for e in d.edges]
    for lab in d.layer_labels:
        assert f"{{${lab.latex}$}}" in tikz
    assert "\\usetikzlibrary" not in tikz


def test_tikz_edge_labels_are_small():
    tikz = render(layout(Network([2, 2, 2], bias=False)), "tikz")
    assert "font=\\scriptsize" in tikz
    assert tikz.count("node[sbp edge label, pos=0.7]") == 8


def _pdflatex() -> str:
    exe = shutil.which("pdflatex")
    if exe is None:
        message = ("pdflatex is not installed; install texlive-latex-base and texlive-pictures "
                   "(apt-get install texlive-latex-base texlive-pictures) to compile the TikZ drawing")
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return exe


def test_tikz_compiles(tmp_path):
    exe = _pdflatex()
    pictures = [
        render(layout(Network([2, 2, 2], bias=False)), "tikz"),
        render(layout(Network([2, 2, 2]), "ng"), "tikz"),
        render(layout(Network([784, 30, 10]), "nodes"), "tikz"),
    ]
    (tmp_path / "drawing.tex").write_text(
        "\\documentclass{article}\n\\usepackage{tikz}\n\\begin{document}\n"
        + "\n\n".join(pictures)
        + "\n\\end{document}\n",
        encoding="utf-8",
    )
    run = subprocess.run(
        [exe, "-interaction=nonstopmode", "-halt-on-error", "-no-shell-escape", "drawing.tex"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )
    assert run.returncode == 0, run.stdout[-3000:]
    assert (tmp_path / "drawing.pdf").stat().st_size > 0
    log = (tmp_path / "drawing.log").read_text(encoding="latin-1")
    assert "Overfull" not in log and "Undefined control sequence" not in log
