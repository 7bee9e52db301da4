"""The activation registry: every rule against sympy.diff, lookups, parameters."""

import pytest
import sympy as sp

from symbackprop.model.activations import A, ACTIVATIONS, Activation, VectorActivation, Z, activation, custom, leaky_relu
from symbackprop.proof.equations import prove_rule
from symbackprop.errors import SpecError

ELEMENTWISE = [name for name, rule in ACTIVATIONS.items() if isinstance(rule, Activation)]


@pytest.mark.parametrize("name", ELEMENTWISE)
def test_registered_derivative_equals_sympy_diff(name):
    rule = ACTIVATIONS[name]
    assert sp.simplify(sp.diff(rule.forward, Z) - rule.derivative) == 0


@pytest.mark.parametrize("name", [n for n in ELEMENTWISE if ACTIVATIONS[n].identity is not None])
def test_identity_in_terms_of_the_activation(name):
    rule = ACTIVATIONS[name]
    assert sp.simplify(rule.identity.xreplace({A: rule.forward}) - sp.diff(rule.forward, Z)) == 0


def test_sigmoid_identity_is_the_classic_one():
    assert ACTIVATIONS["sigmoid"].identity == A * (1 - A)
    assert ACTIVATIONS["tanh"].identity == 1 - A**2


def test_relu_derivative_is_a_step_with_zero_at_the_kink():
    rule = ACTIVATIONS["relu"]
    assert rule.prime(sp.Integer(0)) == 0
    assert rule.prime(sp.Rational(1, 3)) == 1
    assert rule.prime(sp.Rational(-1, 3)) == 0
    assert rule.convention == "derivative_at_zero_is_zero"


def test_leaky_relu_carries_its_slope():
    rule = activation("leaky_relu:0.2")
    assert rule.parameters == (("slope", sp.Rational(1, 5)),)
    assert rule.prime(sp.Integer(-3)) == sp.Rational(1, 5)
    assert rule.apply(sp.Integer(-10)) == -2
    assert leaky_relu(0.5).parameters[0][1] == sp.Rational(1, 2)
    assert prove_rule(rule).ok


def test_softmax_is_not_elementwise_and_its_jacobian_is_proven():
    rule = ACTIVATIONS["softmax"]
    assert isinstance(rule, VectorActivation) and not rule.elementwise
    assert prove_rule(rule, 3).ok


def test_custom_activation_from_a_lambda():
    u = sp.Symbol("u")
    rule = activation(sp.Lambda(u, u**3 + sp.sin(u)))
    assert rule.derivative == 3 * Z**2 + sp.cos(Z)
    assert prove_rule(rule).ok


def test_custom_activation_must_be_a_lambda_of_one_variable():
    u, v = sp.symbols("u v")
    with pytest.raises(SpecError, match="Lambda of one variable"):
        custom(sp.Lambda((u, v), u * v))


def test_unknown_activation_lists_the_valid_names():
    with pytest.raises(SpecError) as error:
        activation("swish")
    message = str(error.value)
    assert "'swish'" in message
    for name in ACTIVATIONS:
        assert name in message


def test_leaky_relu_slope_must_be_a_number_and_is_never_evaluated():
    with pytest.raises(SpecError, match="not a number"):
        activation("leaky_relu:__import__('os')")


@pytest.mark.parametrize("name", ELEMENTWISE)
def test_rule_proof_accepts_every_registered_rule(name):
    assert prove_rule(ACTIVATIONS[name]).ok


def test_rule_proof_rejects_a_planted_wrong_derivative():
    wrong = Activation("sigmoid", 1 / (1 + sp.exp(-Z)), sp.exp(-Z) / (1 + sp.exp(-Z)), A * (1 - A))
    assert not prove_rule(wrong).ok
    wrong_identity = Activation("tanh", sp.tanh(Z), 1 - sp.tanh(Z) ** 2, 1 + A**2)
    assert not prove_rule(wrong_identity).ok


@pytest.mark.parametrize("text", ["1/0", "3/0"])
def test_a_number_that_divides_by_zero_is_a_spec_error(text):
    with pytest.raises(SpecError, match=f"leaky_relu slope '{text}' divides by zero"):
        activation(f"leaky_relu:{text}")
