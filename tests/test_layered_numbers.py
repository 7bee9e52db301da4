"""The worked example of a network of layers: its numbers against an independent oracle, its documents, bad values."""

import json

import mpmath
import pytest
import sympy as sp

from symbackprop.cli import main
from symbackprop.errors import SpecError
from symbackprop.model.layers import LayeredNetwork, batchnorm, conv2d, dense, maxpool, residual
from symbackprop.numbers.layered import (key_text, layered_worked_example, parse_layered_values,
                                         render_layered_worked)
from symbackprop.proof.layered import MpmathNetwork, derive_layered, site_key

NETWORK = LayeredNetwork([1, 3, 3], [conv2d(1, 2, activation="relu"), maxpool(2), dense(2, "softmax")],
                         cost="cross_entropy")
VALUES = {"K,1,1,1,1,1": 0.5, "K,1,1,1,1,2": -0.25, "K,1,1,1,2,1": 0.75, "K,1,1,1,2,2": 0.5, "b,1,1": 0.1,
          "w,3,1,1": 0.8, "w,3,2,1": -0.6, "b,3,1": 0, "b,3,2": 0.2,
          "x": [[[0.2, 0.4, 0.1], [0.9, 0.3, 0.5], [0.6, 0.8, 0.7]]], "y": [0, 1]}


@pytest.fixture(scope="module")
def derivation():
    return derive_layered(NETWORK)


RESIDUAL = LayeredNetwork(2, [dense(2, "tanh"), batchnorm(), residual(1), dense(1, "identity")], batch=3)
RESIDUAL_VALUES = {"w,1,1,1": 0.5, "w,1,1,2": -0.3, "b,1,1": 0.1, "w,1,2,1": 0.2, "w,1,2,2": 0.7, "b,1,2": -0.2,
                   "gamma,2,1": 1.5, "gamma,2,2": 0.8, "beta,2,1": 0.1, "beta,2,2": -0.1,
                   "w,4,1,1": 0.6, "w,4,1,2": -0.4, "b,4,1": 0.05,
                   "x": [[1, 0.5], [-0.5, 2], [0.3, -1]], "y": [[1], [0], [0.5]]}


#: the same block with a ReLU after the addition, as in a residual network
RESIDUAL_RELU = LayeredNetwork(2, [dense(2, "tanh"), batchnorm(), residual(1, "relu"), dense(1, "identity")], batch=3)


@pytest.mark.parametrize("network, values", [(NETWORK, VALUES), (RESIDUAL, RESIDUAL_VALUES),
                                             (RESIDUAL_RELU, RESIDUAL_VALUES)], ids=["conv", "residual", "relu"])
def test_every_gradient_agrees_with_central_differences_and_the_step_is_taken(network, values):
    derivation = derive_layered(network)
    params, x, y = parse_layered_values(values, derivation)
    example = layered_worked_example(derivation, params, x, y, lr=sp.Rational(1, 10))
    oracle = MpmathNetwork(network)
    with mpmath.workdps(40):
        point = {site_key(p): mpmath.mpf(str(sp.Float(v, 40))) for p, v in params.items()}
        xs = {pos: mpmath.mpf(str(sp.Float(v, 40))) for pos, v in x.items()}
        for record in example.parameters:
            truth = oracle.gradient(site_key(record.parameter.symbol), point, xs, [mpmath.mpf(v) for v in y])
            assert abs(mpmath.mpf(str(record.gradient.value)) - truth) < mpmath.mpf("1e-25")
            assert record.updated.value == record.parameter.value - sp.Rational(1, 10) * record.gradient.value
    if network is RESIDUAL_RELU:  # a³ = ReLU(z³) with z³ = a² + a¹: one entry below 0 here, cut to 0
        z, a = derivation.forward.weighted[3], derivation.forward.outputs[3]
        assert any(example.known[z[pos]] < 0 for pos in z)
        assert all(example.known[a[pos]] == max(example.known[z[pos]], 0) for pos in z)
    if network is NETWORK:
        assert example.known[derivation.forward.outputs[1][(1, 1, 1)]] == sp.Rational(37, 40)  # 0.1 − 0.1 + 0.675 + 0.15 + 0.1, exact


def test_values_with_every_kind_of_mistake_are_refused_at_once(derivation):
    bad = {key: value for key, value in VALUES.items() if key != "b,1,1"}
    bad.update({"K,1,1,1,1,1": "half", "K[1,1,1,9,9]": 1, "x": [[[0.2, 0.4], [0.9, 0.3, 0.5], [0.6, 0.8, 0.7]]],
                "y": [1, 1]})
    with pytest.raises(SpecError) as error:
        parse_layered_values(bad, derivation)
    text = str(error.value)
    for expected in ("'half'; expected a finite number", "unknown key 'K[1,1,1,9,9]'", "no value for b,1,1",
                     "x[0][0] is a list of 2; expected a list of 3 numbers", "y adds up to 2"):
        assert expected in text


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_the_documents_typeset(derivation, tmp_path, lang):
    from tooling import compile_tex, describe_failures, katex_failures, math_fragments

    params, x, y = parse_layered_values(VALUES, derivation)
    example = layered_worked_example(derivation, params, x, y)
    markdown = render_layered_worked(example, derivation, "md", lang).text
    failures = katex_failures(math_fragments(markdown, "github"))
    assert not failures, describe_failures(failures)
    if lang == "en":
        built, log = compile_tex(render_layered_worked(example, derivation, "tex", lang).text, lang, True)
        assert built, log


def test_the_command_writes_json_and_refuses_network_flags(tmp_path, capsys):
    spec = tmp_path / "net.json"
    spec.write_text(json.dumps({"input": [1, 3, 3], "cost": "cross_entropy", "layer": [
        {"type": "conv2d", "channels": 1, "kernel": 2, "activation": "relu"}, {"type": "maxpool", "size": 2},
        {"type": "dense", "size": 2, "activation": "softmax"}]}), encoding="utf-8")
    values = tmp_path / "values.json"
    values.write_text(json.dumps(VALUES), encoding="utf-8")
    assert main(["evaluate", str(spec), "--values", str(values), "--format", "json", "--lr", "1/10"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [g["key"] for g in data["gradients"]] == [key_text(p) for p in derive_layered(NETWORK).params]
    assert main(["evaluate", str(spec), "--values", str(values), "--cost", "quadratic"]) == 2
    assert "--cost cannot be combined" in capsys.readouterr().err
