"""The package's top-level API, as the README's "From Python" section uses it."""

import sympy as sp

import symbackprop as sbp


def test_readme_from_python():
    d = sbp.derive(sbp.Network([2, 2, 2], activation="sigmoid", cost="quadratic", bias=False))
    assert len(d.params) == 8
    composed = d.gradient(("w", 1, 1, 1), form="composed")
    f = sp.lambdify([d.symbol(k) for k in d.params] + list(d.inputs) + list(d.targets), composed)
    assert isinstance(float(f(*([0.1] * 8), 0.5, -0.5, 1, 0)), float)

    general = sbp.derive_general(cost="binary_cross_entropy")
    assert general.check().ok

    wrong = sbp.check_formula(r"\delta^{3}_{1} = a^{3}_{1} - y_{1}", d.network)
    assert (wrong.status, wrong.method) == ("incorrect", "numeric")
    assert "missing_activation_derivative" in wrong.diagnosis
    right = sbp.check_formula(r"\delta^{3}_{1} = (a^{3}_{1} - y_{1}) a^{3}_{1} (1 - a^{3}_{1})", d.network)
    assert (right.status, right.method) == ("correct", "exact")

    values = {key: sp.Rational(i + 1, 10) for i, key in enumerate(d.params)}
    example = sbp.worked_example(d, values, x=[0.5, -0.5], y=[1, 0], lr=0.5)
    key = ("w", 2, 1, 1)
    step = example.updated[key] - (values[key] - sp.Rational(1, 2) * example.gradient(key).gradient.value)
    assert abs(step) < 1e-30


def test_exports_are_listed():
    assert set(sbp.__all__) <= set(dir(sbp))
    assert {"derive", "derive_general", "check_formula", "check_document", "worked_example"} <= set(sbp.__all__)
