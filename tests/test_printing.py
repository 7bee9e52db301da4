"""The notation-aware printers: small exact strings, the contract of the printed form."""

import pytest

from symbackprop import Network, SpecError, derive
from symbackprop.printing import latex, layer_number, notation, text
from symbackprop.symbols import COST, Partial, Quantity


def test_nielsen_numbers_the_input_layer_1():
    assert latex(Quantity("w", 2, 1, 3)) == "w^{3}_{13}"
    assert latex(Quantity("a", 0 + 1, 2)) == "a^{2}_{2}"
    assert layer_number(0) == 1


def test_ng_writes_theta_and_bias_units():
    assert latex(Quantity("w", 1, 2, 3), notation="ng") == r"\Theta^{(1)}_{23}"
    assert latex(Quantity("b", 1, 2), notation="ng") == r"\Theta^{(1)}_{20}"
    assert latex(Quantity("a", 1, 2), notation="ng") == "a^{(2)}_{2}"


def test_qiu_keeps_the_input_as_layer_0():
    assert latex(Quantity("w", 1, 2, 3), notation="qiu") == "W^{(1)}_{23}"
    assert latex(Quantity("delta", 2, 1), notation="qiu") == r"\delta^{(2)}_{1}"


def test_nodes_number_neurons_across_the_network():
    sizes = (2, 2, 2)
    assert latex(Quantity("w", 2, 1, 1), notation="nodes", sizes=sizes) == "w_{35}"
    assert latex(Quantity("w", 1, 2, 1), notation="nodes", sizes=sizes) == "w_{14}"
    assert latex(Quantity("a", 2, 1), notation="nodes", sizes=sizes) == "y_{21}"
    assert latex(Quantity("x", 1), notation="nodes", sizes=sizes) == r"\hat{x}_{1}"


def test_multi_digit_indices_are_separated():
    assert latex(Quantity("w", 1, 12, 3)) == "w^{2}_{12,3}"
    assert text(Quantity("w", 1, 12, 3)) == "w²_(12,3)"


def test_partials_and_activation_functions():
    d = derive(Network([1, 1], activation="generic"))
    a, z = Quantity("a", 1, 1), Quantity("z", 1, 1)
    assert latex(Partial(COST, a)) == r"\frac{\partial C}{\partial a^{2}_{1}}"
    assert text(Partial(a, z)) == "∂a²₁/∂z²₁"
    assert text(d.delta(1, 1)) == "(a²₁ - y₁)·σ'(z²₁)"
    assert latex(d.delta(1, 1), notation="ng") == r"\left(a^{(2)}_{1} - y_{1}\right) g'\left(z^{(2)}_{1}\right)"


def test_sums_read_in_index_order():
    d = derive(Network([2, 1, 11], activation="sigmoid"))
    printed = text(d.delta(1, 1))
    assert printed.index("δ³₂·") < printed.index("δ³_(10)")


def test_relu_derivative_prints_as_an_indicator():
    d = derive(Network([1, 1], activation="relu"))
    assert "[z²₁ > 0]" in text(d.delta(1, 1))
    assert r"\mathbb{1}\left[z^{2}_{1} > 0\right]" in latex(d.delta(1, 1))


def test_unknown_notation_lists_the_valid_ones():
    with pytest.raises(SpecError, match="expected one of: ng, nielsen, nodes, qiu"):
        notation("bishop")
