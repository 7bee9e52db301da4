"""The description of a network as a list of layers: parsing, shapes, and bad input."""

import pytest
import sympy as sp

from symbackprop.errors import SpecError
from symbackprop.model.layers import (LayeredNetwork, Site, avgpool, conv1d, conv2d, dense, flatten,
                                      layered_forward, maxpool, shape_text)
from symbackprop.model.spec import Network, parse_spec

CNN_TOML = """
input = [1, 6, 6]
cost = "cross_entropy"
[[layer]]
type = "conv2d"
channels = 2
kernel = 3
activation = "relu"
[[layer]]
type = "maxpool"
size = 2
[[layer]]
type = "dense"
size = 3
activation = "softmax"
"""


def test_toml_json_and_python_give_the_same_shapes():
    from_toml = parse_spec(CNN_TOML, "toml")
    from_json = parse_spec('{"input": [1, 6, 6], "cost": "cross_entropy", "layer": ['
                           '{"type": "conv2d", "channels": 2, "kernel": 3, "activation": "relu"},'
                           '{"type": "maxpool", "size": 2}, {"type": "dense", "size": 3, "activation": "softmax"}]}',
                           "json")
    from_python = LayeredNetwork([1, 6, 6], [conv2d(2, 3, activation="relu"), maxpool(2), dense(3, "softmax")],
                                 cost="cross_entropy")
    for net in (from_toml, from_json, from_python):
        assert [shape_text(s) for s in net.shapes] == ["1×6×6", "2×4×4", "2×2×2", "3"]
        assert net.parameter_count == 2 * 9 + 2 + 3 * 8 + 3
        assert [layer.type for layer in net.layers] == ["conv2d", "maxpool", "dense"]


def test_layer_sizes_still_mean_dense_layers():
    assert isinstance(parse_spec("layers = [2, 3, 2]", "toml"), Network)


@pytest.mark.parametrize("layers, shapes", [
    ([conv2d(1, 3, stride=2, padding=1)], ["1×5×5", "1×3×3"]),
    ([conv2d(2, 2, stride=2)], ["1×5×5", "2×2×2"]),
    ([avgpool(2, stride=1)], ["1×5×5", "1×4×4"]),
    ([maxpool(3)], ["1×5×5", "1×1×1"]),
    ([flatten()], ["1×5×5", "25"]),
])
def test_output_shapes(layers, shapes):
    net = LayeredNetwork([1, 5, 5], [*layers, dense(1)]) if layers[-1].type != "flatten" else \
        LayeredNetwork([1, 5, 5], layers)
    assert [shape_text(s) for s in net.shapes][:2] == shapes


def test_one_dimensional_maps():
    net = LayeredNetwork([2, 7], [conv1d(3, 3, stride=2), maxpool(2), dense(2)])
    assert [shape_text(s) for s in net.shapes] == ["2×7", "3×3", "3×1", "2"]


def test_every_problem_at_once_naming_layer_and_shapes():
    with pytest.raises(SpecError) as error:
        LayeredNetwork([1, 4, 4], [
            {"type": "conv2d", "channels": 2, "kernel": 5, "stride": 0},
            {"type": "maxpool", "size": 2, "colour": "red"},
            {"type": "pool"},
            {"type": "dense", "size": 3, "activation": "tanh"},
        ], cost="cross_entropy")
    problems = error.value.problems
    assert "layer 1 (conv2d): stride 0; expected a positive integer" in problems
    assert "layer 2 (maxpool): unknown key 'colour'; expected one of: size, stride" in problems
    assert any(p.startswith("layer 3: unknown layer type 'pool'") for p in problems)
    assert any("tanh" in p and "cost cross_entropy" in p for p in problems)


def test_a_shape_problem_names_the_layer_and_both_shapes():
    with pytest.raises(SpecError) as error:
        LayeredNetwork([1, 4, 4], [conv2d(2, 5), dense(2), maxpool(2)])
    problems = error.value.problems
    assert problems[0] == ("layer 1 (conv2d): kernel 1×5×5 with padding 0 does not fit the input of shape 1×4×4; "
                           "expected every side of the input at least 5")
    assert "layer 3 (maxpool) takes a map (channels×length or channels×height×width); got a vector of shape 2" \
        in problems
    assert any("end with a dense or flatten layer" in p for p in problems)


def test_wrong_rank_and_softmax_inside():
    with pytest.raises(SpecError) as error:
        LayeredNetwork([1, 6], [conv2d(1, 2), dense(2, "softmax"), dense(2)])
    text = str(error.value)
    assert "layer 1 (conv2d) takes an input of shape channels×height×width; got shape 1×6" in text
    assert "layer 2 (dense): softmax mixes the values of a layer" in text


def test_bad_input_and_keys_from_a_file():
    with pytest.raises(SpecError) as error:
        parse_spec('input = [1, 0, 6]\nlayers = [2]\n[[layer]]\ntype = "dense"\nsize = 2\n', "toml", "net.toml")
    text = str(error.value)
    assert "net.toml: 'layers' (a list of sizes) cannot be combined with [[layer]] entries" in text
    with pytest.raises(SpecError, match=r"net.toml: input \[1, 0, 6\] is not a shape"):
        parse_spec('input = [1, 0, 6]\n[[layer]]\ntype = "dense"\nsize = 2\n', "toml", "net.toml")


def test_forward_definitions_of_a_padded_strided_convolution():
    net = LayeredNetwork([1, 3, 3], [conv2d(1, 2, stride=2, padding=1, bias=False, activation="identity"),
                                    flatten()])
    fw = layered_forward(net)
    K = lambda p, q: Site("K", 1, 1, 1, p, q)  # noqa: E731
    x = lambda i, j: Site("x", None, 1, i, j)  # noqa: E731
    # output (1, 1) covers padded rows/columns 1..2, that is input rows/columns 0..1: only x_{1,1} is inside
    assert fw.definitions[1][(1, 1, 1)] == K(2, 2) * x(1, 1)
    # output (2, 2) covers padded 3..4, input 2..3
    assert sp.expand(fw.definitions[1][(1, 2, 2)] - (K(1, 1) * x(2, 2) + K(1, 2) * x(2, 3) + K(2, 1) * x(3, 2)
                                                     + K(2, 2) * x(3, 3))) == 0


def test_printing_layered_quantities_and_map_operations():
    from symbackprop.documents import printing
    from symbackprop.model.layers import FeatureMap, LongSum, MapOperation, SumOverIndex

    o, c = sp.symbols("o c")
    assert printing.latex(Site("K", 1, 2, 1, 3, 3)) == "K^{1}_{2,1,3,3}"
    assert printing.text(Site("delta", 2, 1, 1, 1)) == "δ²_(1,1,1)"
    assert printing.latex(Site("x", None, 1, 2, 3)) == "x_{1,2,3}"
    rule = MapOperation("crop", SumOverIndex(MapOperation("full", MapOperation("dilate", FeatureMap("delta", 2, o), 2),
                                                          MapOperation("rot180", FeatureMap("K", 2, o, c))), o), 1)
    assert printing.latex(rule) == (r"\operatorname{crop}_{1}\left(\sum_{o} \operatorname{dil}_{2}\left(\delta^{2}_{o}"
                                    r"\right) \star_{\mathrm{full}} \operatorname{rot}_{180}\left(K^{2}_{o,c}\right)\right)")
    assert printing.text(rule) == "crop_1(Σ_(o) dil_2(δ²_o) ⋆full rot180(K²_(o,c)))"
    assert printing.latex(FeatureMap("a", 0, c)) == "x_{c}"
    a, b, d = sp.symbols("a b d")
    assert printing.text(LongSum(2, a, -b, d)) == "a - b + d"
    assert printing.latex(LongSum(2, a, -b, d)) == "\\begin{aligned}\n&a - b \\\\\n&+ d\n\\end{aligned}"


def test_a_network_too_large_to_derive_symbolically_is_refused():
    with pytest.raises(SpecError, match=r"the network has 48416 values and 20 parameters; a symbolic derivation "
                                        r"through layers is limited to 4000"):
        LayeredNetwork([1, 100, 100], [conv2d(2, 3), flatten()])
