"""Numeric extremes that used to give silent wrong answers: targets that are no distribution under
softmax with cross-entropy, leaky ReLU slopes far outside any sane range, and a failed numeric fact
worded as if it agreed."""

import json
import types

import pytest
import sympy as sp

from hostile import refused, run_main
from symbackprop import Network, derive
from symbackprop.codegen import numpy_module
from symbackprop.proof.report import render
from symbackprop.errors import SpecError
from symbackprop.model.activations import SLOPE_RANGE, activation
from symbackprop.proof.equations import Fact, Report
from symbackprop.proof.oracle import CostOracle, assumes_targets_sum_to_one

SOFTMAX = ["--layers", "2,2", "--activation", "softmax", "--cost", "cross_entropy"]
PARAMETERS = {"w,1,1,1": 0.1, "w,1,1,2": 0.2, "w,1,2,1": 0.3, "w,1,2,2": 0.1, "b,1,1": 0, "b,1,2": 0}


def values(tmp_path, y):
    path = tmp_path / "v.json"
    path.write_text(json.dumps({**PARAMETERS, "x": [1, 2], "y": y}))
    return path


# ---------------------------------------------------------------- softmax with cross-entropy


def test_targets_that_are_no_distribution_are_refused(capsys, tmp_path):
    refused(capsys, tmp_path, ["evaluate", *SOFTMAX, "--values", values(tmp_path, [1, 1])],
            "y adds up to 2", "using Σ_j y_j = 1", "expected targets that add up to 1")


def test_a_distribution_is_evaluated_and_agrees_with_the_oracle(capsys, tmp_path):
    code, out, err = run_main(capsys, "evaluate", *SOFTMAX, "--values", values(tmp_path, [0.3, 0.7]),
                              "--format", "json")
    assert code == 0, err
    gradients = {g["key"]: sp.Rational(g["gradient"]["exact"]) for g in json.loads(out)["gradients"]}
    network = Network([2, 2], activation="softmax", cost="cross_entropy")
    params = {tuple([k[0], *map(int, k[2:].split(","))]): sp.Rational(str(v)) for k, v in PARAMETERS.items()}
    x, y = [1, 2], [sp.Rational(3, 10), sp.Rational(7, 10)]
    oracle = CostOracle(network).gradient(("b", 1, 1), params, x, y)
    assert abs(float(gradients["b,1,1"]) - float(oracle)) < 1e-12


def test_the_api_refuses_them_too():
    d = derive(Network([2, 2], activation="softmax", cost="cross_entropy"))
    assert assumes_targets_sum_to_one(d)
    with pytest.raises(SpecError, match="y adds up to 2"):
        d.evaluate(PARAMETERS, [1, 2], [1, 1])
    # the README's string keys are taken as written; a float distribution is one within rounding
    assert d.evaluate(PARAMETERS, [1, 2], [0.1, 0.9]).cost > 0
    # the quadratic cost makes no such assumption
    assert not assumes_targets_sum_to_one(derive(Network([2, 2], activation="sigmoid")))


def test_the_generated_module_states_and_enforces_the_condition():
    numpy = pytest.importorskip("numpy")
    source = numpy_module(derive(Network([2, 3, 3], activation=["sigmoid", "softmax"], cost="cross_entropy")))
    assert "holds only when every column of Y adds up to 1" in source
    module = types.ModuleType("softmax_net")
    exec(compile(source, "softmax_net.py", "exec"), module.__dict__)
    params, X = module.init_params(), numpy.array([[1.0, 2.0], [0.5, 1.0]])
    module.gradients(params, X, numpy.array([[1, 0], [0, 1], [0, 0.0]]))
    with pytest.raises(ValueError, match="the targets of example 0 add up to 2.0"):
        module.gradients(params, X, numpy.array([[1, 0], [1, 1], [0, 0.0]]))
    quadratic = numpy_module(derive(Network([2, 2], activation="sigmoid")))
    assert "adds up to 1" not in quadratic


# ---------------------------------------------------------------- leaky ReLU slopes


@pytest.mark.parametrize("slope, fragment", [
    ("1e999", "too long or too large to read exactly"),
    ("1e20", "out of range; expected a number from 0 to 1"),
    ("-0.5", "out of range"),
    ("3/2", "out of range"),
])
def test_slopes_outside_the_range_are_refused(capsys, tmp_path, slope, fragment):
    refused(capsys, tmp_path, ["derive", "--activation", f"leaky_relu:{slope}"], fragment)


@pytest.mark.parametrize("slope", ["0", "0.01", "1/3", "1"])
def test_slopes_inside_the_range_are_proven(capsys, slope):
    assert SLOPE_RANGE == (0, 1)
    assert activation(f"leaky_relu:{slope}").parameters[0][1] == sp.Rational(slope)
    code, out, err = run_main(capsys, "derive", "--layers", "2,2", "--activation", f"leaky_relu:{slope}")
    assert code == 0 and "[FAIL]" not in out, out + err


# ---------------------------------------------------------------- a failed fact reads as a failure


def _report(ok: bool) -> Report:
    evidence = {"kind": "numeric", "sampled": 4, "total": 4, "points": 3, "worst": "3.1e+19",
                "tolerance": "1e-20", "parameter": "w", "stand_in": ""}
    return Report((Fact("BP4", 1, "numeric", ok, "detail", evidence),), "numeric")


@pytest.mark.parametrize("lang, agreeing, failing", [
    ("en", "agree with central differences", "do NOT all agree"),
    ("zh", "与 mpmath 中心差分（40 位有效数字）相符", "并不全都相符"),
])
def test_a_failed_numeric_fact_is_worded_as_a_failure(lang, agreeing, failing):
    d = derive(Network([2, 2]))
    failed = render(d, "text", lang, report=_report(False)).text
    assert failing in failed and agreeing not in failed
    passed = render(d, "text", lang, report=_report(True)).text
    assert agreeing in passed and failing not in passed


def test_a_failed_fact_in_a_document_does_not_say_it_agrees():
    d = derive(Network([2, 2]))
    document = render(d, "md", "en", report=_report(False)).text
    assert "checked numerically and does not agree" in document and "agrees numerically" not in document
