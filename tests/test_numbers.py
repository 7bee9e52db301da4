"""The worked numeric example: the derivation's closed forms with numbers carried through."""

import random

import mpmath
import pytest
import sympy as sp

from symbackprop import Network, SpecError, derive
from symbackprop.numbers import ETA, parse_key, parse_values, worked_example
from symbackprop.proof.oracle import CostOracle, random_point
from symbackprop.model.symbols import COST, LAMBDA, N_EXAMPLES, Partial, Quantity


def close(left, right, rel=sp.Float("1e-30", 40)) -> bool:
    """Agreement of two 40-digit numbers far beyond float precision."""
    left, right = sp.sympify(left), sp.sympify(right)
    return abs(left - right) <= rel * max(1, abs(right))


def to_mpf(value):
    return mpmath.mpf(sp.Float(value, 40)._mpf_)


def product(values):
    result = sp.Integer(1)
    for v in values:
        result *= v.value
    return result


@pytest.fixture(scope="module")
def sigmoid_2_2_2():
    return derive(Network([2, 2, 2], activation="sigmoid", cost="quadratic"))


@pytest.fixture(scope="module")
def point(sigmoid_2_2_2):
    return random_point(sigmoid_2_2_2, random.Random(11))


@pytest.fixture(scope="module")
def example(sigmoid_2_2_2, point):
    return worked_example(sigmoid_2_2_2, point.params, point.x, point.y, lr=0.5, digits=6)


def test_the_example_matches_evaluate(sigmoid_2_2_2, point, example):
    floats = {key: float(v) for key, v in point.params.items()}
    result = sigmoid_2_2_2.evaluate(floats, [float(v) for v in point.x], [float(v) for v in point.y])
    for layer in example.layers:
        l = layer.index
        assert [float(v.value) for v in layer.z] == pytest.approx(result.z[l], rel=1e-12)
        assert [float(v.value) for v in layer.a] == pytest.approx(result.a[l], rel=1e-12)
        assert [float(v.value) for v in layer.delta] == pytest.approx(result.delta[l], rel=1e-12, abs=1e-15)
    assert float(example.cost.value) == pytest.approx(result.cost, rel=1e-12)
    for g in example.gradients:
        assert float(g.gradient.value) == pytest.approx(result.gradients[g.key], rel=1e-12, abs=1e-15)


def test_every_gradient_agrees_with_the_finite_difference_oracle(sigmoid_2_2_2, point, example):
    oracle = CostOracle(sigmoid_2_2_2.network)
    with mpmath.workdps(40):
        assert abs(to_mpf(example.cost.value) - oracle.cost(point.params, point.x, point.y)) < mpmath.mpf("1e-35")
    for g in example.gradients:
        expected = oracle.gradient(g.key, point.params, point.x, point.y)
        with mpmath.workdps(40):
            assert abs(to_mpf(g.gradient.value) - expected) <= mpmath.mpf("1e-25") * max(1, abs(expected)), g.key


def test_the_chain_rule_factors_multiply_to_the_gradient(sigmoid_2_2_2, example):
    fw = sigmoid_2_2_2.forward
    for g in example.gradients:
        l, j = g.key[1], g.key[2]
        z, a, theta = fw.q("z", l, j), fw.q("a", l, j), fw.q(*g.key)
        # the factors name the chain ∂C/∂a · ∂a/∂z · ∂z/∂θ
        assert [f.symbol for f in g.factors] == [Partial(COST, a), Partial(a, z), Partial(z, theta)]
        assert g.regularisation is None
        assert close(product(g.factors), g.gradient.value), g.key
        # δ = ∂C/∂a · ∂a/∂z, and the δ of the layer agrees
        assert close(g.factors[0].value * g.factors[1].value, g.delta.value)
        assert g.delta.value == example.layers[l - 1].delta[j - 1].value
        # σ'(z) for the sigmoid: a(1 − a) at this neuron's a
        a_value = example.layers[l - 1].a[j - 1].value
        assert close(g.factors[1].value, a_value * (1 - a_value))
        assert g.factors[1].forms[-1] == a * (1 - a)
        # ∂z/∂θ: the input of the weight (exact), or 1 for a bias
        if g.key[0] == "w":
            k = g.key[3]
            source = example.x[k - 1] if l == 1 else example.layers[l - 2].a[k - 1]
            assert g.factors[2].value == source.value
        else:
            assert g.factors[2].value == 1
        if l == 2:  # output: ∂C/∂a = a − y for the quadratic cost, no sum
            assert g.terms == ()
            assert close(g.factors[0].value, example.layers[1].a[j - 1].value - example.y[j - 1].value)
        else:  # hidden: ∂C/∂a is the sum over the next layer of δ^{l+1}_k w^{l+1}_{kj}
            assert len(g.terms) == 2
            for k, (delta_k, weight) in enumerate(g.terms, start=1):
                assert delta_k.symbol == Partial(COST, fw.q("z", 2, k))
                assert delta_k.value == example.layers[1].delta[k - 1].value
                assert weight.symbol == Partial(fw.q("z", 2, k), a)
                assert weight.value == example.params[("w", 2, k, j)]
            assert close(sum(left.value * right.value for left, right in g.terms), g.factors[0].value)


def test_the_update_is_theta_minus_eta_gradient(sigmoid_2_2_2, point, example):
    assert example.lr == sp.Rational(1, 2)
    for g in example.gradients:
        assert g.parameter.value == point.params[g.key]
        assert g.updated.value == point.params[g.key] - sp.Rational(1, 2) * g.gradient.value
        assert g.updated.forms == (Quantity(*g.key) - ETA * Partial(COST, Quantity(*g.key)),)
    assert example.updated == {g.key: g.updated.value for g in example.gradients}
    # a learning rate written as a float is the decimal it prints as
    other = worked_example(sigmoid_2_2_2, point.params, point.x, point.y, lr=0.1)
    key = ("w", 1, 2, 1)
    assert other.lr == sp.Rational(1, 10)
    assert other.updated[key] == point.params[key] - sp.Rational(1, 10) * other.gradient(key).gradient.value


def test_a_step_downhill_lowers_the_cost(sigmoid_2_2_2, point, example):
    after = worked_example(sigmoid_2_2_2, example.updated, point.x, point.y, lr=0.5)
    assert after.cost.value < example.cost.value


def test_digits_round_the_display_but_not_the_values(sigmoid_2_2_2, point, example):
    coarse = worked_example(sigmoid_2_2_2, point.params, point.x, point.y, digits=3)
    fine = worked_example(sigmoid_2_2_2, point.params, point.x, point.y, digits=20)
    assert (coarse.digits, fine.digits) == (3, 20)
    assert coarse.cost.value == fine.cost.value == example.cost.value
    for left, right in zip(coarse.gradients, fine.gradients):
        assert left.gradient.value == right.gradient.value
        assert left.updated.value == right.updated.value
        assert [f.value for f in left.factors] == [f.value for f in right.factors]
    # values carry 40 significant digits (or are exact), whatever is shown
    a = coarse.layers[0].a[0].value
    assert isinstance(a, sp.Float) and a._prec >= 130
    assert isinstance(coarse.layers[0].z[0].value, sp.Rational)  # affine in exact numbers
    assert coarse.show(sp.Rational(2, 3)) == "0.667"
    assert fine.show(sp.Rational(2, 3)) == "0.66666666666666666667"
    assert coarse.show(sp.Rational(-1, 8000)) == "-0.000125"
    assert coarse.show(sp.Rational(-1, 80000000)) == "-1.25e-8"
    assert str(coarse.rounded(sp.Rational(2, 3))) == "0.667"
    for value in (coarse.cost.value, *(g.gradient.value for g in coarse.gradients)):
        digits = coarse.show(value).lstrip("-").split("e")[0].replace(".", "").lstrip("0")
        assert 1 <= len(digits) <= 3
        assert float(coarse.show(value)) == pytest.approx(float(value), rel=5e-3)


def test_an_identity_network_is_exact():
    d = derive(Network([2, 1], activation="identity", cost="quadratic"))
    values = {("w", 1, 1, 1): sp.Rational(1, 3), ("w", 1, 1, 2): -2, ("b", 1, 1): sp.Rational(1, 7)}
    ex = worked_example(d, values, [3, sp.Rational(1, 2)], [5], lr=sp.Rational(1, 4))
    # z = 1 − 1 + 1/7 = 1/7; a = z; C = (1/7 − 5)²/2; ∂C/∂w_11 = (a − y) x_1
    assert ex.layers[0].z[0].value == sp.Rational(1, 7)
    assert ex.cost.value == (sp.Rational(1, 7) - 5) ** 2 / 2
    assert ex.gradient(("w", 1, 1, 1)).gradient.value == (sp.Rational(1, 7) - 5) * 3
    assert ex.updated[("b", 1, 1)] == sp.Rational(1, 7) - sp.Rational(1, 4) * (sp.Rational(1, 7) - 5)


def test_softmax_with_l2_sums_the_jacobian_and_adds_the_regulariser():
    d = derive(Network([2, 3, 3], activation=["tanh", "softmax"], cost="cross_entropy", l2=True))
    p = random_point(d, random.Random(5))
    ex = worked_example(d, {**p.params, **p.l2}, p.x, p.y)
    assert [v.symbol for v in ex.l2] == [LAMBDA, N_EXAMPLES]
    oracle = CostOracle(d.network)
    fw = d.forward
    for g in ex.gradients:
        l, j = g.key[1], g.key[2]
        expected = oracle.gradient(g.key, p.params, p.x, p.y, p.l2)
        with mpmath.workdps(40):
            assert abs(to_mpf(g.gradient.value) - expected) <= mpmath.mpf("1e-25") * max(1, abs(expected))
        if g.key[0] == "w":
            assert g.regularisation.value == p.l2["lambda"] * p.params[g.key] / p.l2["n"]
            assert close(product(g.factors) + g.regularisation.value, g.gradient.value)
        else:
            assert g.regularisation is None
            assert close(product(g.factors), g.gradient.value)
        assert close(sum(left.value * right.value for left, right in g.terms), g.factors[0].value)
        if l == 2:  # softmax: (∂C/∂z, ∂z/∂θ), ∂C/∂z = Σ_i ∂C/∂a_i ∂a_i/∂z_j = a_j − y_j
            assert [f.symbol for f in g.factors] == [Partial(COST, fw.q("z", 2, j)), Partial(fw.q("z", 2, j), fw.q(*g.key))]
            assert [left.symbol for left, _ in g.terms] == [Partial(COST, a) for a in fw.activations(2)]
            assert close(g.factors[0].value, ex.layers[1].a[j - 1].value - ex.y[j - 1].value)


def test_parse_values_reads_both_key_spellings_exactly(sigmoid_2_2_2):
    keys = sigmoid_2_2_2.params
    data = {("w[%s]" if i % 2 else "w,%s") % ",".join(map(str, key[1:])) if key[0] == "w"
            else "b,%d,%d" % key[1:]: 0.1 * (i + 1) for i, key in enumerate(keys)}
    data.update(x=[0.5, -0.25], y=[1, 0])
    params, x, y, l2 = parse_values(data, sigmoid_2_2_2)
    assert set(params) == set(keys)
    assert params[("w", 1, 1, 1)] == sp.Rational(1, 10)
    assert x == (sp.Rational(1, 2), sp.Rational(-1, 4)) and y == (1, 0) and l2 == {}
    assert parse_key("w[1, 2, 1]") == parse_key("w,1,2,1") == ("w", 1, 2, 1)
    assert parse_key("b[2,1]") == ("b", 2, 1)
    assert parse_key("w,1,2") is None and parse_key("x,1") is None
    ex = worked_example(sigmoid_2_2_2, {**params, **l2}, x, y)
    by_text = worked_example(sigmoid_2_2_2, {k: v for k, v in data.items() if k not in ("x", "y")}, data["x"], data["y"])
    assert ex.cost.value == by_text.cost.value


def test_bad_values_give_one_error_listing_every_problem(sigmoid_2_2_2):
    data = {"w,1,1,1": 0.1, "w[1,1,1]": 0.2, "w,1,1,2": "0.3", "w,9,9,9": 1, "q": 2,
            "w,1,2,1": float("nan"), "x": [1, 2, 3], "lambda": 0.1}
    with pytest.raises(SpecError) as caught:
        parse_values(data, sigmoid_2_2_2)
    problems = caught.value.problems
    text = str(caught.value)
    assert text.startswith(f"{len(problems)} problems:")
    expected = [
        "w,1,1,1 is given twice",
        "values['w,1,1,2'] is '0.3'; expected a number",
        "unknown key(s) w,9,9,9; expected the parameters of this network: w,1,1,1 w,1,1,2 w,1,2,1 w,1,2,2 "
        "b,1,1 b,1,2 … b,2,1 b,2,2 (12 keys)",
        "unknown key 'q'",
        "values['w,1,2,1'] is nan; expected a finite number",
        "x has 3 values; expected 2",
        "no 'y'; expected a list of 2 numbers",
        "no value for 9 parameter(s): w,1,2,2 b,1,1 b,1,2 w,2,1,1 w,2,1,2 … (9 keys)",
        "'lambda' is given but the network has no L2 regulariser",
    ]
    for fragment in expected:
        assert sum(fragment in p for p in problems) == 1, (fragment, problems)
    assert len(problems) == len(expected)


def test_worked_example_checks_its_arguments(sigmoid_2_2_2, point):
    with pytest.raises(SpecError) as caught:
        worked_example(sigmoid_2_2_2, {**point.params, ("b", 2, 3): 1}, [1], point.y, lr=-1, digits=0)
    problems = caught.value.problems
    assert any("unknown key(s) b,2,3; expected the parameters of this network: w,1,1,1" in p for p in problems)
    assert not any("Derivation.params" in p for p in problems)
    assert any("x has 1 values; expected 2" in p for p in problems)
    assert any("learning rate -1" in p for p in problems)
    assert any("digits 0" in p for p in problems)
    assert len(problems) == 4
    regularised = derive(Network([1, 1], l2=True))
    with pytest.raises(SpecError, match="needs a value for 'lambda'") as caught:
        worked_example(regularised, {("w", 1, 1, 1): 1, ("b", 1, 1): 0, "n": 0}, [1], [0])
    assert any("values['n'] is 0" in p for p in caught.value.problems)
    with pytest.raises(SpecError, match="generic activation"):
        worked_example(derive(Network([1, 1], activation="generic")), {("w", 1, 1, 1): 1, ("b", 1, 1): 0}, [1], [0])


def test_an_unreadable_key_lists_the_valid_ones(sigmoid_2_2_2, point):
    with pytest.raises(SpecError) as caught:
        worked_example(sigmoid_2_2_2, {**point.params, "w[1,1]": 1}, point.x, point.y)
    message, = caught.value.problems
    assert "unknown key 'w[1,1]'" in message and "Derivation.params" not in message
    assert "(w,1,1,1 w,1,1,2 w,1,2,1 w,1,2,2 b,1,1 b,1,2 … b,2,1 b,2,2 (12 keys)), \"lambda\" or \"n\"" in message


def test_as_data_shows_whole_numbers_as_the_text_does():
    d = derive(Network([1, 1], activation="identity", cost="quadratic"))
    ex = worked_example(d, {("w", 1, 1, 1): 1, ("b", 1, 1): 0}, x=[2], y=[sp.Rational(1, 2)], lr=1)
    data = ex.as_data()
    assert data["x"] == [{"value": "2", "rounded": 2, "exact": "2"}]
    assert data["lr"]["value"] == "1" and data["layers"][0]["z"][0]["value"] == "2"
    assert data["y"][0] == {"value": "0.5", "rounded": 0.5, "exact": "1/2"}
    assert ex.show(sp.Integer(-3)) == "-3" and ex.show(sp.Float(3, 40)) == "3.0"


def test_as_data_is_plain_and_keyed_canonically(example):
    import json

    data = json.loads(json.dumps(example.as_data()))
    assert data["digits"] == 6
    first = data["gradients"][0]
    assert first["key"] == "w,1,1,1"
    assert first["factors"][0]["symbol"] == "∂C/∂a²₁"
    assert first["gradient"]["value"] == example.show(example.gradients[0].gradient.value)
    assert close(sp.Float(first["gradient"]["exact"], 40), example.gradients[0].gradient.value,
                 rel=sp.Float("1e-38", 40))


# ---------------------------------------------------------------------- display and documents


def test_rounded_keeps_whole_numbers_whole(example):
    assert example.rounded(sp.Integer(-3)) == -3 and isinstance(example.rounded(sp.Integer(-3)), sp.Integer)
    assert isinstance(example.rounded(sp.Rational(1, 3)), sp.Float)
    data = example.as_data()
    assert data["cost"]["rounded"] == float(data["cost"]["value"])
    assert data["cost"]["rounded"] == pytest.approx(float(example.cost.value), rel=1e-5)


def _classic_example():
    d = derive(Network([2, 2, 2], activation="sigmoid", cost="quadratic"))
    values = {"w,1,1,1": 0.15, "w,1,1,2": 0.2, "w,1,2,1": 0.25, "w,1,2,2": 0.3, "b,1,1": 0.35, "b,1,2": 0.35,
              "w,2,1,1": 0.4, "w,2,1,2": 0.45, "w,2,2,1": 0.5, "w,2,2,2": 0.55, "b,2,1": 0.6, "b,2,2": 0.6}
    return worked_example(d, values, [0.05, 0.1], [0.01, 0.99], lr=0.5)


def test_the_terminal_text_carries_every_number_through():
    from symbackprop.numbers import render_worked

    text = render_worked(_classic_example(), "text").text
    # figures of this classic example, computed by hand to 6 digits
    for line in ("z²₁ = w²₁₁·x₁ + w²₁₂·x₂ + b²₁ = 0.15·0.05 + 0.2·0.1 + 0.35 = 0.3775",
                 "a²₁ = 1/(1 + exp(-z²₁)) = 0.59327",
                 "C = (a³₁ - y₁)²/2 + (a³₂ - y₂)²/2 = 0.298371",
                 "∂a³₁/∂z³₁ = σ'(z³₁) = a³₁·(1 - a³₁) = 0.186816",
                 "∂C/∂w³₁₁ = ∂C/∂a³₁·∂a³₁/∂z³₁·∂z³₁/∂w³₁₁ = 0.741365·0.186816·0.59327 = 0.082167",
                 "w³₁₁ - η·∂C/∂w³₁₁ = 0.4 - 0.5·0.082167 = 0.358916",
                 "∂C/∂a²₁ = ∂C/∂z³₁·∂z³₁/∂a²₁ + ∂C/∂z³₂·∂z³₂/∂a²₁ = δ³₁·w³₁₁ + δ³₂·w³₂₁ "
                 "= 0.138499·0.4 + (-0.0380982)·0.5 = 0.0363503",
                 "w²₁₁: 0.15 → 0.149781"):
        assert line in text, line
    assert text.count(" - η·∂C/∂") == 12  # one step for every parameter
    assert "6 significant digits" in text
    zh = render_worked(_classic_example(), "text", "zh").text
    assert "6 位有效数字" in zh and "w³₁₁ - η·∂C/∂w³₁₁ = 0.4 - 0.5·0.082167 = 0.358916" in zh


def test_softmax_and_l2_documents_show_the_sum_and_the_regulariser():
    from symbackprop.numbers import render_worked

    d = derive(Network([2, 2, 3], activation=["tanh", "softmax"], cost="cross_entropy", l2=True))
    p = random_point(d, random.Random(3))
    ex = worked_example(d, {**p.params, **p.l2}, p.x, p.y, digits=4)
    md = render_worked(ex, "md").text
    assert "sum over all the outputs" in md and "what the regularisation term adds" in md
    assert md.count(" - \\eta \\frac{\\partial C}") == len(d.params)  # one step for every parameter
    tex = render_worked(ex, "tex", standalone=False).text
    assert "\\documentclass" not in tex and "\\frac{\\lambda w^{3}_{11}}{n}" in tex
    with pytest.raises(SpecError, match="unknown format 'pdf'"):
        render_worked(ex, "pdf")


def test_worked_documents_parse_and_compile():
    import tooling
    from symbackprop.numbers import render_worked

    d = derive(Network([2, 1, 2], activation=["relu", "softmax"], cost="cross_entropy", l2=0.1))
    p = random_point(d, random.Random(8))
    ex = worked_example(d, {**p.params, **p.l2}, p.x, p.y)
    tooling.require_node_packages()
    fragments = tooling.math_fragments(render_worked(ex, "md").text, "github")
    assert fragments and not tooling.katex_failures(fragments)
    tooling.require_tex("en")
    ok, log = tooling.compile_tex(render_worked(ex, "tex").text, "en", True)
    assert ok, log
