"""The drawing of a network of layers: every value's shape, the kernel and window marks, inside the picture."""

import xml.etree.ElementTree as ET

from symbackprop.cli import main
from symbackprop.documents.layered_drawing import STACK_LIMIT, layered_layout
from symbackprop.documents.render import environment, get_template
from symbackprop.model.layers import LayeredNetwork, batchnorm, conv1d, conv2d, dense, maxpool, residual


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
