"""The drawing of a network of layers: every value's shape, the kernel and window marks, inside the picture."""

import xml.etree.ElementTree as ET

from symbackprop.cli import main
from symbackprop.documents.layered_drawing import STACK_LIMIT, layered_layout
from symbackprop.documents.render import environment, get_template
from symbackprop.model.layers import LayeredNetwork, batchnorm, conv1d, conv2d, dense, maxpool, residual, rnn


def test_maps_stack_one_rectangle_per_channel_and_marks_the_kernel_and_window():
    net = LayeredNetwork([1, 6, 6], [conv2d(6, 3, activation="relu"), maxpool(2), dense(3, "softmax")],
                         cost="cross_entropy")
    d = layered_layout(net)
    assert [len(c.rects) for c in d.columns] == [1, STACK_LIMIT, STACK_LIMIT, 1]
    assert [c.shape for c in d.columns] == ["1×6×6", "6×4×4", "6×2×2", "3"]
    kernel, entry, window, _ = d.marks
    cell = d.columns[0].rects[0].width / 6
    assert (kernel.rows, kernel.cols) == (3, 3) and abs(kernel.width - 3 * cell) < 0.01
    assert window.kind == "window" and (window.rows, window.cols) == (2, 2) and entry.column == 1
    assert d.steps[0].text == ("conv2d 3×3", "6 ch, relu")
    for c in d.columns:
        for r in c.rects:
            assert 0 <= r.x and r.x + r.width <= d.width and 0 <= r.y and r.y + r.height <= d.height


def test_a_skip_is_an_arc_from_the_value_it_adds_and_the_svg_is_well_formed():
    net = LayeredNetwork([2, 5], [conv1d(2, 2, activation="tanh"), batchnorm(), residual(1), dense(1, "identity")],
                         batch=2)
    d = layered_layout(net)
    skip = d.steps[2]
    assert skip.skip_from == d.columns[1].x and skip.skip_to == d.columns[3].x
    assert d.steps[2].latex == ("residual + $a^{1}$",)
    activated = layered_layout(LayeredNetwork(2, [dense(2), dense(2), residual(1, "relu"), dense(1)]))
    assert activated.steps[2].text == ("residual + a¹", "relu") and activated.steps[2].latex[1] == "relu"
    svg = get_template(environment(), "drawing/layers.svg.j2").render(drawing=d)
    root = ET.fromstring(svg.encode("utf-8"))
    ns = "{http://www.w3.org/2000/svg}"
    assert root.tag == f"{ns}svg" and len(root.findall(f".//{ns}g[@class='layer']/{ns}path")) == 1


def test_derive_writes_the_drawing_beside_a_markdown_document(tmp_path):
    spec = tmp_path / "net.toml"
    spec.write_text('input = [1, 3, 3]\n[[layer]]\ntype = "conv2d"\nchannels = 1\nkernel = 2\n'
                    '[[layer]]\ntype = "dense"\nsize = 1\n', encoding="utf-8")
    assert main(["derive", str(spec), "--format", "md", "--method", "none", "-o", str(tmp_path / "out.md")]) == 0
    assert "](out.svg)" in (tmp_path / "out.md").read_text(encoding="utf-8")
    assert "<svg" in (tmp_path / "out.svg").read_text(encoding="utf-8")


def _svg_groups(drawing, cls):
    root = ET.fromstring(get_template(environment(), "drawing/layers.svg.j2").render(drawing=drawing).encode("utf-8"))
    ns = "{http://www.w3.org/2000/svg}"
    return [g for g in root.iter(f"{ns}g") if cls in g.get("class", "").split()]


def test_a_recurrent_layer_is_unrolled_over_its_steps_with_the_shared_weight_between_states():
    d = layered_layout(LayeredNetwork([2], [rnn(2, "tanh", output="every")], steps=3))
    assert d.columns == () and d.steps == ()  # the sequence is not drawn as a stack of maps
    u = d.unrolled
    states = [n for n in u.nodes if n.kind == "state"]
    assert [n.step for n in states] == [1, 2, 3] and [n.kind for n in u.nodes].count("zero") == 1
    assert [n.latex for n in u.nodes if n.kind == "input"] == ["x_{1}", "x_{2}", "x_{3}"]
    # W joins each state to the next, left to right at the state's height; U joins each input to its state
    w = [k for k in u.links if k.kind == "W"]
    assert len(w) == 2 and all(k.latex == "W^{1}" for k in w)
    for link, (a, b) in zip(w, zip(states, states[1:])):
        assert a.x + a.width <= link.x1 < link.x2 <= b.x and a.y < link.y1 < a.y + a.height
    assert sum(k.kind == "U" for k in u.links) == 3 and sum(k.kind == "output" for k in u.links) == 3
    assert len(_svg_groups(d, "state")) == 3 and len(_svg_groups(d, "W")) == 2 and len(_svg_groups(d, "zero")) == 1
    for n in u.nodes:
        assert 0 <= n.x and n.x + n.width <= d.width and 0 <= n.y and n.y + n.height <= d.height


def test_many_steps_are_drawn_as_the_first_two_an_ellipsis_and_the_last_and_a_dense_layer_follows():
    net = LayeredNetwork([3], [rnn(4, output="every"), rnn(2, output="last"), dense(1, "identity")], steps=10)
    d = layered_layout(net)
    u = d.unrolled
    assert sorted({n.step for n in u.nodes if n.kind == "state"}) == [1, 2, 10]
    assert len(u.gaps) == 3 and [label[2] for label in u.labels] == ["t = 1", "t = 2", "t = T = 10"]
    assert [n.rows for n in u.nodes if n.step == 1] == [3, 4, 2]  # x, then each layer's state above
    assert sum(k.kind == "output" for k in u.links) == 0  # the last state goes on to the dense layer
    last = max((n for n in u.nodes if n.row == 2), key=lambda n: n.step)
    assert [c.shape for c in d.columns] == ["1"] and d.steps[0].x1 > last.x + last.width
    assert d.width < 16  # fits a page
    tikz = get_template(environment(), "drawing/layers.tikz.j2").render(drawing=d)
    assert tikz.count("$W^{2}$") == 4 and "$t = T = 10$" in tikz and r"\cdots" in tikz
