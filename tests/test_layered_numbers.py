"""The worked example of a network of layers: its numbers against an independent oracle, its documents, bad values;
a recurrent layer's numbers step by step through time, and a planted cut of backpropagation through time caught."""

import json

import mpmath
import pytest
import sympy as sp

from symbackprop.claims.layered import check_layered_document
from symbackprop.claims.values import WorkedPoint
from symbackprop.cli import main
from symbackprop.errors import SpecError
from symbackprop.model.layers import LayeredNetwork, Site, batchnorm, conv1d, conv2d, dense, maxpool, residual, rnn
from symbackprop.numbers.layered import (key_text, layered_worked_example, parse_layered_values,
                                         render_layered_worked)
from symbackprop.proof.layered import LayeredPoint, MpmathNetwork, derive_layered, plant, rnn_through_time, site_key

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


#: a recurrent layer over 3 steps whose state at every step meets its target (the cost summed over the steps)
RNN = LayeredNetwork(2, [rnn(2, "tanh", output="every")], cost="quadratic", steps=3)
RNN_PARAMETERS = {"W,1,1,1": 0.5, "W,1,1,2": -0.3, "W,1,2,1": 0.2, "W,1,2,2": 0.4, "U,1,1,1": 0.7, "U,1,1,2": -0.1,
                  "U,1,2,1": 0.3, "U,1,2,2": 0.6, "b,1,1": 0.1, "b,1,2": -0.2}
RNN_VALUES = {**RNN_PARAMETERS, "x": [[1, 0], [0.5, -1], [0, 2]], "y": [[0.1, 0.2], [0, -0.5], [0.3, 0.4]]}
#: the same layer passing on its last state to a dense layer: the output reaches the states at the last step only
RNN_LAST = LayeredNetwork(2, [rnn(2, "tanh"), dense(1, "sigmoid")], cost="quadratic", steps=3)
RNN_LAST_VALUES = {**RNN_PARAMETERS, "w,2,1,1": 0.8, "w,2,1,2": -0.5, "b,2,1": 0.05, "x": RNN_VALUES["x"], "y": [0.25]}


def _oracle_gradients(network, params, x, y) -> dict:
    """Every parameter's gradient by central differences of a forward pass written separately in mpmath."""
    oracle = MpmathNetwork(network)
    mp = lambda v: mpmath.mpf(str(sp.Float(v, 40)))  # noqa: E731
    with mpmath.workdps(40):
        point, xs = {site_key(p): mp(v) for p, v in params.items()}, {pos: mp(v) for pos, v in x.items()}
        return {p: sp.Float(str(oracle.gradient(site_key(p), point, xs, [mp(v) for v in y])), 40) for p in params}


#: a stride that leaves the last entry of the padded input past every window (5 + 2 − 2 = 5, stride 2)
STRIDED = LayeredNetwork([1, 5], [conv1d(1, 2, stride=2, padding=1, activation="tanh"), dense(1, "identity")],
                         cost="quadratic")
STRIDED_VALUES = {"K,1,1,1,1": 0.5, "K,1,1,1,2": -0.25, "b,1,1": 0.1, "w,2,1,1": 0.8, "w,2,1,2": -0.6, "w,2,1,3": 0.3,
                  "b,2,1": 0.2, "x": [[0.2, 0.4, -0.1, 0.9, 0.3]], "y": [0.5]}

#: the residual block with a ReLU after the addition, as in a residual network
RESIDUAL_RELU = LayeredNetwork(2, [dense(2, "tanh"), batchnorm(), residual(1, "relu"), dense(1, "identity")], batch=3)


@pytest.mark.parametrize("network, values", [(NETWORK, VALUES), (RESIDUAL, RESIDUAL_VALUES), (RNN, RNN_VALUES),
                                             (RNN_LAST, RNN_LAST_VALUES), (RESIDUAL_RELU, RESIDUAL_VALUES),
                                             (STRIDED, STRIDED_VALUES)],
                         ids=["conv", "residual", "rnn", "rnn-last", "relu", "strided"])
def test_every_gradient_agrees_with_central_differences_and_the_step_is_taken(network, values):
    derivation = derive_layered(network)
    params, x, y = parse_layered_values(values, derivation)
    example = layered_worked_example(derivation, params, x, y, lr=sp.Rational(1, 10))
    truth = _oracle_gradients(network, params, x, y)
    for record in example.parameters:
        assert abs(record.gradient.value - truth[record.parameter.symbol]) < sp.Float("1e-25")
        assert record.updated.value == record.parameter.value - sp.Rational(1, 10) * record.gradient.value
        if record.terms:  # a weight shared by the steps: one term per step where it is used, adding up to it
            steps = 3 if record.parameter.symbol.kind != "W" else 2
            assert len(record.terms) == steps
            assert abs(sum(t.value for t in record.terms) - record.gradient.value) < sp.Float("1e-35")
    if network is RESIDUAL_RELU:  # a³ = ReLU(z³) with z³ = a² + a¹: one entry below 0 here, cut to 0
        z, a = derivation.forward.weighted[3], derivation.forward.outputs[3]
        assert any(example.known[z[pos]] < 0 for pos in z)
        assert all(example.known[a[pos]] == max(example.known[z[pos]], 0) for pos in z)
    if network is NETWORK:
        assert example.known[derivation.forward.outputs[1][(1, 1, 1)]] == sp.Rational(37, 40)  # 0.1 − 0.1 + 0.675 + 0.15 + 0.1, exact
    if network is RESIDUAL:  # every layer type has its name in the documents
        text = render_layered_worked(example, derivation, "md", "en").text
        assert "Layer 2: batch normalisation" in text and "Layer 3: residual connection" in text
    if network is RNN:  # step 1 reads no state (a^1_0 = 0): z^1_{1,1} = 0.1 + 0.7 · 1 − 0.1 · 0, exact
        assert example.known[Site("z", 1, 1, 1)] == sp.Rational(4, 5)
        assert [c.symbol for c in example.step_costs] == [Site("C", None, t) for t in (1, 2, 3)]
        assert abs(sum(c.value for c in example.step_costs) - example.cost.value) < sp.Float("1e-35")
    if network is RNN_LAST:  # e^1_t only at the last step; ∂C/∂a^1_t of an earlier step is (W^1)ᵀ δ^1_{t+1} alone
        steps = example.layers[0].steps
        assert [s.step for s in steps] == [3, 2, 1]
        assert all(v is not None for v in steps[0].passed) and all(v is None for s in steps[1:] for v in s.passed)


def test_a_single_step_uses_no_recurrent_weight():
    network = LayeredNetwork(1, [rnn(1, "tanh")], cost="quadratic", steps=1)
    derivation = derive_layered(network)
    params, x, y = parse_layered_values({"W,1,1,1": 2, "U,1,1,1": 0.5, "b,1,1": 0, "x": [[1]], "y": [0]}, derivation)
    example = layered_worked_example(derivation, params, x, y)
    gradients = {record.parameter.symbol.kind: record for record in example.parameters}
    assert gradients["W"].gradient.value == 0 and not gradients["W"].terms and len(gradients["U"].terms) == 1
    assert "∂C/∂W¹_(1,1) = 0" in render_layered_worked(example, derivation, "text").text


def _cut_to_one_step(fw, layer, delta, output):
    """A planted mistake: backpropagation through time cut to one step (each state keeps only e^l_t)."""
    return {pos: output.get(pos, sp.S.Zero) for pos in rnn_through_time(fw, layer, delta, output)}


def test_numbers_through_time_cut_to_one_step_disagree_with_central_differences():
    planted = derive_layered(RNN, rules=plant("rnn", through_time=_cut_to_one_step))
    params, x, y = parse_layered_values(RNN_VALUES, planted)
    example = layered_worked_example(planted, params, x, y)
    truth = _oracle_gradients(RNN, params, x, y)
    wrong = {r.parameter.symbol for r in example.parameters
             if abs(r.gradient.value - truth[r.parameter.symbol]) > sp.Float("1e-6")}
    assert wrong == set(params)  # every δ before the last step is wrong, and every gradient sums over them
    # and its document states the cut rule, e^1_t alone, which check-doc names
    text = render_layered_worked(example, planted, "md").text
    assert r"\frac{\partial C}{\partial a^{1}_{1,1}} &= e^{1}_{1,1} = " in text
    results = check_layered_document(text, "md", RNN, values=WorkedPoint(LayeredPoint(params, x, y), example.lr))
    cut = [r for r in results if r.status == "incorrect" and "bptt_cut_to_one_step" in r.diagnosis]
    assert {r.line for r in cut} and not [r for r in results if r.status == "unreadable"]


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


def test_bad_values_of_a_sequence_are_refused_at_once_naming_the_step():
    derivation = derive_layered(RNN)
    bad = {key: value for key, value in RNN_VALUES.items() if key != "b,1,2"}
    bad.update({"W,1,2,2": "0.4", "x": [[1, 0], [0.5, -1]], "y": [[0.1, 0.2], [0, -0.5, 1], [0.3, 0.4]]})
    with pytest.raises(SpecError) as error:
        parse_layered_values(bad, derivation)
    text = str(error.value)
    for expected in ("values['W,1,2,2'] is '0.4'; expected a finite number", "no value for b,1,2",
                     "x has 2 steps; expected 3 steps, one list of 2 numbers for each (shape 3×2: steps × entries)",
                     "y[1] (step 2) is a list of 3; expected a list of 2 numbers"):
        assert expected in text
    with pytest.raises(SpecError, match=r"x\[2\]\[1\] \(step 3\) is 'two'; expected a finite number"):
        parse_layered_values({**RNN_VALUES, "x": [[1, 0], [0.5, -1], [0, "two"]]}, derivation)


@pytest.mark.parametrize("network, values, lang", [(NETWORK, VALUES, "en"), (NETWORK, VALUES, "zh"),
                                                   (RNN, RNN_VALUES, "en"), (RNN_LAST, RNN_LAST_VALUES, "zh")])
def test_the_documents_typeset(network, values, lang):
    from tooling import compile_tex, describe_failures, katex_failures, math_fragments

    derivation = derive_layered(network)
    params, x, y = parse_layered_values(values, derivation)
    example = layered_worked_example(derivation, params, x, y)
    markdown = render_layered_worked(example, derivation, "md", lang).text
    failures = katex_failures(math_fragments(markdown, "github"))
    assert not failures, describe_failures(failures)
    if lang == "en":
        built, log = compile_tex(render_layered_worked(example, derivation, "tex", lang).text, lang, True)
        assert built, log


def test_the_recurrent_document_states_each_step_and_check_doc_finds_every_claim_and_number_correct():
    derivation = derive_layered(RNN)
    params, x, y = parse_layered_values(RNN_VALUES, derivation)
    example = layered_worked_example(derivation, params, x, y)
    text = render_layered_worked(example, derivation, "md", "en").text
    for line in (r"C &= C_{1} + C_{2} + C_{3} = 0.164102 + 0.241115 + 0.0613145 = 0.466532",
                 r"e^{1}_{3,1} &= a^{1}_{3,1} - y_{3,1} = 0.362114 - 0.3 = 0.0621141",
                 r"\frac{\partial C}{\partial a^{1}_{2,1}} &= e^{1}_{2,1} + W^{1}_{1,1} \delta^{1}_{3,1} + W^{1}_{2,1} \delta^{1}_{3,2}",
                 r"&= 0.259374 + 0.0373561 \\"):
        assert line in text
    backward = text.index("## The backward pass")
    assert text.index("*Step 3.*", backward) < text.index("*Step 1.*", backward)  # from the last step back
    results = check_layered_document(text, "md", RNN, derivation=derivation,
                                     values=WorkedPoint(LayeredPoint(params, x, y), example.lr, example.digits))
    assert {r.status for r in results} == {"correct", "skipped"}
    numbers = [r for r in results if r.status == "correct" and r.method == "value"]  # decided at the example's point
    assert len(numbers) > 100 and any(r.text.startswith("C_{2} = ") for r in numbers)


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


def test_the_command_evaluates_a_recurrent_network_and_refuses_bad_values_with_exit_2(tmp_path, capsys):
    spec = tmp_path / "rnn.toml"
    spec.write_text('input = [2]\nsteps = 3\ncost = "quadratic"\n[[layer]]\ntype = "rnn"\nsize = 2\n'
                    'output = "every"\n', encoding="utf-8")
    values = tmp_path / "values.json"
    values.write_text(json.dumps(RNN_VALUES), encoding="utf-8")
    assert main(["evaluate", str(spec), "--values", str(values), "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [step["step"] for step in data["layers"][0]["through_time"]] == [3, 2, 1]
    assert len(data["step_costs"]) == 3 and [len(g["terms"]) for g in data["gradients"]] == [2] * 4 + [3] * 6
    values.write_text(json.dumps({**RNN_VALUES, "x": [[1, 0], [0.5, -1]]}), encoding="utf-8")
    out = tmp_path / "worked.md"
    assert main(["evaluate", str(spec), "--values", str(values), "--format", "md", "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert "x has 2 steps; expected 3 steps" in err and "Traceback" not in err and not out.exists()
