"""The recurrent layer: backpropagation through time proven against the chain rule through the
unrolled steps, every gradient against central differences, a planted cut of BPTT caught, and
bad descriptions refused with one message."""

import random

import pytest
import sympy as sp

from symbackprop.errors import SpecError
from symbackprop.model.layers import LayeredNetwork, Site, dense, layered_from_mapping, rnn
from symbackprop.proof import layered
from symbackprop.proof.layered import derive_layered, plant, rnn_through_time


def facts(report):
    return {(f.what, f.layer): f for f in report.facts}


def test_bptt_carries_the_next_step_back_and_sums_shared_weights_over_steps():
    net = LayeredNetwork(1, [rnn(2, activation="tanh"), dense(1, "identity")], steps=3)
    d = derive_layered(net)
    delta = lambda t, j: Site("delta", 1, t, j)  # noqa: E731
    a = lambda t, j: Site("a", 1, t, j)  # noqa: E731
    # δ_2 = (Wᵀ δ_3) ⊙ tanh'(z_2): no output at step 2
    assert sp.expand(d.deltas[1][(2, 1)] - (1 - a(2, 1) ** 2) * (Site("W", 1, 1, 1) * delta(3, 1)
                                                              + Site("W", 1, 2, 1) * delta(3, 2))) == 0
    # the last step receives only what the dense layer passes back
    assert sp.expand(d.deltas[1][(3, 2)] - (1 - a(3, 2) ** 2) * Site("w", 2, 1, 2) * Site("delta", 2, 1)) == 0
    # a shared weight: the sum over every step where it is used (W from step 2: the state before step 1 is 0)
    assert sp.expand(d.gradients[Site("W", 1, 1, 2)] - delta(2, 1) * a(1, 2) - delta(3, 1) * a(2, 2)) == 0
    assert d.gradients[Site("b", 1, 2)] == delta(1, 2) + delta(2, 2) + delta(3, 2)
    steps = layered.gradient_steps(d, Site("U", 1, 1, 1))
    assert steps[0].rule == "shared_weight_sum" and len(steps[0].after.args) == 3
    report = d.check(points=1)
    found = facts(report)
    assert report.ok and found[("through_time", 1)].method == "exact" and found[("through_time", 1)].count == 6


def _random_recurrent(rng: random.Random) -> LayeredNetwork:
    steps, size = rng.randint(2, 3), rng.randint(1, 2)
    activation = rng.choice(["tanh", "sigmoid", "relu", "generic"])
    shape = rng.choice(["last", "every", "stacked"])
    if shape == "stacked":
        layers = [rnn(2, activation, output="every"), rnn(1, rng.choice(["tanh", "sigmoid"]), bias=False,
                                                          output=rng.choice(["last", "every"]))]
    else:
        layers = [rnn(rng.randint(1, 2), activation, bias=rng.random() < 0.7, output=shape)]
    if layers[-1].output == "last" and rng.random() < 0.6:
        layers.append(dense(2, "sigmoid"))
    cost = "binary_cross_entropy" if layers[-1].activation == "sigmoid" and rng.random() < 0.5 else "quadratic"
    return LayeredNetwork(size, layers, cost=cost, steps=steps)


@pytest.mark.parametrize("seed", range(4))
def test_random_recurrent_networks_agree_with_central_differences(seed):
    net = _random_recurrent(random.Random(seed))
    report = derive_layered(net).check(points=1, seed=seed, composed=net.parameter_count <= 6)
    assert report.ok, (net, [f for f in report.facts if not f.ok])
    assert {f.what for f in report.facts} >= {"output", "through_time", "backward", "gradients", "numeric"}


def _cut_to_one_step(fw, layer, delta, output):
    """The classic mistake: each step keeps only its own output's gradient (the term (Wᵀ δ_{t+1}) dropped)."""
    return {pos: output.get(pos, sp.S.Zero) for pos in rnn_through_time(fw, layer, delta, output)}


@pytest.mark.parametrize("output", ["last", "every"])
def test_bptt_cut_to_one_step_is_caught(output):
    net = LayeredNetwork(2, [rnn(2, output=output)], steps=3)
    bad = derive_layered(net, rules=plant("rnn", through_time=_cut_to_one_step)).check(points=1, composed=False)
    found = facts(bad)
    assert not bad.ok
    cut = found[("through_time", 1)]
    assert not cut.ok and cut.failed == 4 and cut.first == Site("a", 1, 1, 1)  # every step but the last
    assert not found[("numeric", None)].ok
    assert found[("gradients", 1)].ok  # the sums over steps are right: only δ is wrong


@pytest.mark.parametrize("description, message", [
    ({"input": [2], "steps": 0, "layer": [{"type": "rnn", "size": 2}]},
     "spec: steps 0; expected a positive integer (the number of time steps of the input)"),
    ({"input": [1, 4], "steps": 3, "layer": [{"type": "rnn", "size": 2}]},
     "spec: input [1, 4] with steps = 3; expected the size of the input at each step, a size or [size]"),
    ({"input": [2], "layer": [{"type": "rnn", "size": 2}]},
     "spec: layer 1 (rnn) takes a sequence (steps × size); got shape 2; expected steps = T and input = [size] in "
     "the description, and an rnn layer with output = \"every\" before it, if any"),
    ({"input": 2, "steps": 3, "layer": [{"type": "rnn", "size": 2, "output": "every"}, {"type": "dense", "size": 1}]},
     "spec: layer 2 (dense) takes no sequence; got a sequence of shape 3×2 (steps × size); expected an rnn layer "
     "here, or output = \"last\" on the rnn layer before it"),
    ({"input": 2, "steps": 3, "layer": [{"type": "rnn", "size": 2, "output": "all"}]},
     "spec: layer 1 (rnn): output 'all'; expected one of: 'last', 'every'"),
    ({"input": 2, "steps": 3, "layer": [{"type": "rnn", "size": 0}]},
     "spec: layer 1 (rnn): size 0; expected a positive integer"),
    ({"input": 2, "steps": 3, "batch": 2, "layer": [{"type": "rnn", "size": 2}]},
     "spec: layer 1 (rnn) works on one example; got batch = 2; expected no batch (1) in a network with a recurrent "
     "layer"),
])
def test_a_bad_recurrent_description_gives_one_clear_message(description, message):
    with pytest.raises(SpecError) as error:
        layered_from_mapping(description)
    assert list(error.value.problems) == [message]


def test_the_cli_refuses_bad_steps_without_traceback(tmp_path, capsys):
    from symbackprop.cli import main

    spec = tmp_path / "rnn.toml"
    spec.write_text('input = 2\nsteps = "three"\n[[layer]]\ntype = "rnn"\nsize = 2\n', encoding="utf-8")
    assert main(["derive", str(spec)]) == 2
    err = capsys.readouterr().err
    assert "steps 'three'; expected a positive integer" in err and "Traceback" not in err


EVERY = LayeredNetwork(2, [rnn(2, output="every")], steps=3)


@pytest.mark.parametrize("claim, status, named", [
    (r"\delta^{1}_{t,j} = (a^{1}_{t,j} - y_{t,j} + \sum_{i} W^{1}_{i,j} \delta^{1}_{t+1,i}) (1 - (a^{1}_{t,j})^2)",
     "correct", ()),
    (r"\frac{\partial C}{\partial W^{1}_{1,2}} = \sum_{t} \delta^{1}_{t,1} a^{1}_{t-1,2}", "correct", ()),
    (r"\delta^{1}_{2,1} = (a^{1}_{2,1} - y_{2,1}) (1 - (a^{1}_{2,1})^2)", "incorrect", ("bptt_cut_to_one_step",)),
    (r"\frac{\partial C}{\partial U^{1}_{2,1}} = \delta^{1}_{3,2} x_{3,1}", "incorrect", ("missing_step_sum",)),
    # as the documents write them: e (what the output passes back), whole matrices and a step's vectors, T the steps
    (r"\frac{\partial C}{\partial a^{1}_{t,j}} = e^{1}_{t,j} + \sum_{i} W^{1}_{i,j} \delta^{1}_{t + 1,i}", "correct", ()),
    (r"\frac{\partial C}{\partial a^{1}_{2,1}} = \left(e^{1}_{2} + \left(W^{1}\right)^{T} \delta^{1}_{3}\right)_{1}", "correct",
     ()),
    (r"\frac{\partial C}{\partial x_{2,1}} = \left(\left(U^{1}\right)^{T} \delta^{1}_{2}\right)_{1}", "correct", ()),
    (r"\frac{\partial C}{\partial a^{1}_{T,j}} = e^{1}_{T,j}", "correct", ()),
    (r"\frac{\partial C}{\partial a^{1}_{2,1}} = e^{1}_{2,1}", "incorrect", ("bptt_cut_to_one_step",)),
])
def test_claims_about_a_recurrent_layer(claim, status, named):
    from symbackprop.claims.layered import check_layered_formula

    verdict = check_layered_formula(claim, EVERY)
    assert (verdict.status, verdict.diagnosis) == (status, named)


@pytest.mark.parametrize("lang, words", [("en", "2 units, tanh, bias, output at every step"),
                                         ("zh", "2 个单元，tanh，有偏置，每一步都输出")])
def test_the_network_table_states_a_recurrent_layers_settings(lang, words):
    from symbackprop.proof.layered_report import render_layered

    net = LayeredNetwork([2], [rnn(2, activation="tanh", output="every")], cost="quadratic", steps=3)
    text = render_layered(derive_layered(net), "md", lang).text
    row = next(line for line in text.splitlines() if line.startswith("| 1 | rnn |"))
    assert words in row
