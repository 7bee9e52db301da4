"""Describing a network: validation collects every problem, loading from files and flags."""

import json

import pytest
import sympy as sp

from symbackprop import Network, SpecError
from symbackprop.model.activations import ACTIVATIONS
from symbackprop.model.spec import parse_sizes, parse_spec
from symbackprop.model.symbols import LAMBDA


def problems(**kwargs):
    sizes = kwargs.pop("sizes", [2, 3, 2])
    with pytest.raises(SpecError) as error:
        Network(sizes, **kwargs)
    assert isinstance(error.value, ValueError)
    return error.value.problems


def test_a_valid_network():
    net = Network([2, 3, 2], activation=["tanh", "softmax"], cost="cross_entropy", bias=[True, False], l2=0.1)
    assert net.sizes == (2, 3, 2)
    assert [layer.activation.name for layer in net.layers] == ["tanh", "softmax"]
    assert [layer.bias for layer in net.layers] == [True, False]
    assert net.l2 == sp.Rational(1, 10)
    assert net.parameter_count == 2 * 3 + 3 + 3 * 2


def test_symbolic_l2():
    assert Network([2, 2], l2=True).l2 == LAMBDA


def test_no_layers():
    assert any("no layer of neurons" in p for p in problems(sizes=[3]))
    assert any("no layer of neurons" in p for p in problems(sizes=[]))


@pytest.mark.parametrize("bad", [0, -1, 2.5, "3", True, None])
def test_bad_sizes_are_quoted(bad):
    found = list(problems(sizes=[2, bad, 2]))
    assert found == [f"layer 1 has size {bad!r}; expected a positive integer"] or found == [
        f"layer 1 has size {bad}; expected a positive integer"
    ]


def test_every_problem_is_reported_at_once():
    found = problems(sizes=[2, 0, -3], activation="swish", cost="hinge", bias="yes", l2=-1)
    text = "\n".join(found)
    assert "layer 1 has size 0" in text
    assert "layer 2 has size -3" in text
    assert "unknown activation 'swish'" in text
    assert "unknown cost 'hinge'" in text
    assert "bias 'yes'" in text
    assert "l2 strength -1 is negative" in text
    assert len(found) == 6


def test_unknown_cost_lists_the_valid_names():
    (message,) = problems(cost="hinge")
    for name in ("quadratic", "binary_cross_entropy", "cross_entropy"):
        assert name in message


def test_softmax_only_on_the_output_layer():
    (message,) = problems(sizes=[2, 3, 3, 2], activation=["sigmoid", "softmax", "sigmoid"])
    assert "softmax on layer 2" in message and "output layer (3) only" in message


def test_per_layer_list_of_the_wrong_length():
    (message,) = problems(activation=["sigmoid", "tanh", "relu"])
    assert "has 3 entries; expected 2" in message
    (message,) = problems(bias=[True])
    assert "has 1 entries; expected 2" in message


def test_networks_are_immutable_values():
    net = Network([2, 2])
    with pytest.raises(AttributeError):
        net.sizes = (3, 3)
    assert net == Network([2, 2]) and hash(net) == hash(Network([2, 2]))


def test_toml_spec():
    net = parse_spec('layers = [2, 2, 2]\nactivation = "sigmoid"\ncost = "quadratic"\nbias = false\n', "toml")
    assert net == Network([2, 2, 2], bias=False)


def test_json_spec():
    text = json.dumps({"layers": [4, 3, 2], "activation": ["relu", "softmax"], "cost": "cross_entropy", "l2": 0.5})
    net = parse_spec(text, "json")
    assert net == Network([4, 3, 2], activation=["relu", "softmax"], cost="cross_entropy", l2=0.5)


def test_malformed_toml_says_where():
    with pytest.raises(SpecError) as error:
        parse_spec('layers = [2, 2\ncost = "quadratic"\n', "toml", source="net.toml")
    assert "net.toml: invalid TOML" in str(error.value) and "line" in str(error.value)


def test_malformed_json_says_where():
    with pytest.raises(SpecError) as error:
        parse_spec('{"layers": [2, 2],\n "cost": }', "json", source="net.json")
    assert "net.json: invalid JSON at line 2, column" in str(error.value)


def test_unknown_and_missing_keys():
    with pytest.raises(SpecError) as error:
        parse_spec('sizes = [2, 2]\nactivaton = "relu"\n', "toml", source="s.toml")
    text = str(error.value)
    assert "unknown key 'activaton'" in text and "unknown key 'sizes'" in text and "missing key 'layers'" in text


def test_problems_in_a_file_name_the_file():
    with pytest.raises(SpecError) as error:
        parse_spec('layers = [2, 0]\nactivation = "swish"\n', "toml", source="s.toml")
    assert all(p.startswith("s.toml: ") for p in error.value.problems)
    assert len(error.value.problems) == 2


def test_sizes_from_flag_text_keep_bad_items_for_validation():
    assert parse_sizes("2, 3,2") == [2, 3, 2]
    assert parse_sizes("2,x,-1") == [2, "x", "-1"]
    with pytest.raises(SpecError):
        Network(parse_sizes("2,x"))


def test_registry_names_are_all_accepted():
    for name in ACTIVATIONS:
        if name == "softmax":
            Network([2, 2], activation=name)
        else:
            Network([2, 2, 2], activation=name)


@pytest.mark.parametrize("cost", ["binary_cross_entropy", "cross_entropy"])
@pytest.mark.parametrize("output", ["relu", "leaky_relu:0.2", "identity", "tanh", "softplus"])
def test_a_cross_entropy_needs_an_output_in_the_unit_interval(cost, output):
    found = problems(activation=["sigmoid", output], cost=cost, l2=-1)
    assert len(found) == 2  # collected with the other problems
    message = next(p for p in found if "logarithm" in p)
    assert cost in message and Network([2, 2], activation=output).output.activation.label in message
    assert "expected an output activation of: generic, sigmoid, softmax (or a custom one)" in message


@pytest.mark.parametrize("cost", ["binary_cross_entropy", "cross_entropy"])
@pytest.mark.parametrize("output", ["sigmoid", "softmax", "generic", sp.Lambda(sp.Symbol("t"), sp.tanh(sp.Symbol("t")))])
def test_probability_generic_and_custom_outputs_suit_a_cross_entropy(cost, output):
    # a custom formula cannot be judged, so it is allowed (even tanh written as a formula)
    net = Network([2, 3, 2], activation=["tanh", output], cost=cost)
    assert net.cost.name == cost


def test_quadratic_cost_takes_any_output():
    assert Network([2, 2], activation="relu", cost="quadratic").output.activation.name == "relu"
