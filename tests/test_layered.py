"""The derivation through layers: textbook rules proven against the chain rule, every gradient
against independent oracles, and planted wrong rules caught."""

import random

import mpmath
import pytest
import sympy as sp

from symbackprop.model.layers import (LayeredNetwork, Site, avgpool, conv1d, conv2d, dense, flatten, maxpool,
                                      positions, residual)
from symbackprop.proof import layered
from symbackprop.proof.layered import (MpmathNetwork, derive_layered, first_maximum, named_values, plant,
                                       random_layered_point, site_key)


def facts(report):
    return {(f.what, f.layer): f for f in report.facts}


def test_the_small_convolutional_network():
    net = LayeredNetwork([1, 6, 6], [conv2d(2, 3, activation="relu"), maxpool(2), dense(3, "softmax")],
                         cost="cross_entropy")
    d = derive_layered(net)
    report = d.check(points=1)
    assert report.ok, report.facts
    found = facts(report)
    assert found[("backward", 2)].method == "cases"      # max pooling: piecewise
    assert found[("backward", 1)].method == "exact"      # the convolution's rule, into the input
    assert found[("gradients", 1)].count == 20
    assert found[("numeric", None)].method == "numeric" and found[("numeric", None)].count == 47
    # softmax with the cross-entropy: δ = a − y, using that the targets sum to 1
    a, y = Site("a", 3, 1), Site("y", None, 1)
    assert d.deltas[3][(1,)] == a - y


def test_a_term_of_a_layer_is_differentiated_once_per_process(monkeypatch):
    a = [Site("a", 1, i) for i in (1, 2, 3)]
    definition = sp.Max(*a) + 2 * a[0] * a[1]  # a window's maximum needs sympy.diff; the product is read off
    layered._term_derivative.cache_clear()
    taken = []
    real_diff = sp.diff

    def counting(*args, **kwargs):
        taken.append(args[0])
        return real_diff(*args, **kwargs)

    monkeypatch.setattr(layered.sp, "diff", counting)
    first = layered.partial_derivative(definition, a[0])
    assert taken == [sp.Max(*a)]
    assert layered.partial_derivative(definition, a[0]) == first and taken == [sp.Max(*a)]
    assert first == real_diff(definition, a[0])
    layered._term_derivative.cache_clear()
    layered.partial_derivative(definition, a[0])
    assert taken == [sp.Max(*a)] * 2


def test_the_windows_of_a_network_derived_again_are_built_once_per_process():
    from symbackprop.model import layers

    net = LayeredNetwork([1, 4, 4], [conv2d(1, 3), maxpool(2), dense(2, "softmax")], cost="cross_entropy")
    derive_layered(net)
    maxima, firsts = layers._maximum.cache_info(), layered._first_maximum.cache_info()
    again = derive_layered(net)
    assert layers._maximum.cache_info().misses == maxima.misses and layers._maximum.cache_info().hits > maxima.hits
    assert layered._first_maximum.cache_info().misses == firsts.misses
    assert layered._first_maximum.cache_info().hits == firsts.hits + 4  # the one window's four entries
    window = [Site("a", 1, 1, i, j) for i in (1, 2) for j in (1, 2)]
    assert again.forward.definitions[2][(1, 1, 1)] == sp.Max(*window)


def test_kernel_entry_gradient_is_the_sum_over_every_position():
    net = LayeredNetwork([1, 3, 3], [conv2d(1, 2, activation="identity", bias=True), flatten()])
    d = derive_layered(net)
    delta = lambda i, j: Site("delta", 1, 1, i, j)  # noqa: E731
    x = lambda i, j: Site("x", None, 1, i, j)  # noqa: E731
    assert sp.expand(d.gradients[Site("K", 1, 1, 1, 2, 1)]
                     - sum(delta(i, j) * x(i + 1, j) for i in (1, 2) for j in (1, 2))) == 0
    assert d.gradients[Site("b", 1, 1)] == sum(delta(i, j) for i in (1, 2) for j in (1, 2))
    steps = layered.gradient_steps(d, Site("K", 1, 1, 1, 2, 1))
    assert steps[0].rule == "shared_weight_sum" and len(steps[0].after.args) == 4


def test_the_backward_rule_rotates_the_kernel():
    """∂C/∂a at the top-left corner of the input meets only the first kernel entry of the first output."""
    net = LayeredNetwork([1, 4, 4], [conv2d(1, 2, activation="identity"), conv2d(1, 2, activation="identity"),
                                    flatten()])
    d = derive_layered(net)
    corner = d.backward[2][(1, 1, 1)]
    assert corner == Site("K", 2, 1, 1, 1, 1) * Site("delta", 2, 1, 1, 1)
    far = d.backward[2][(1, 3, 3)]  # the last input entry: only the kernel's last entry reaches it
    assert far == Site("K", 2, 1, 1, 2, 2) * Site("delta", 2, 1, 2, 2)
    middle = d.backward[2][(1, 2, 2)]
    assert sp.expand(middle - sum(Site("K", 2, 1, 1, p, q) * Site("delta", 2, 1, 3 - p, 3 - q)
                                  for p in (1, 2) for q in (1, 2))) == 0


@pytest.mark.parametrize("layers, cost, composed", [
    ([conv2d(2, 2, stride=2, padding=1, activation="generic"), conv2d(1, 2, activation="tanh"), flatten(),
      dense(2, "sigmoid")], "quadratic", False),
    ([conv1d(2, 3, stride=2, padding=2, activation="softplus"), avgpool(2, stride=1), dense(2, "softmax")],
     "cross_entropy", False),
    ([conv1d(1, 2, activation="identity"), avgpool(2), flatten()], "quadratic", True),
    ([conv2d(1, 2, activation="relu"), maxpool(2, stride=1), avgpool(2), flatten()], "quadratic", False),
])
def test_combinations_agree_with_every_oracle(layers, cost, composed):
    shape = [2, 7] if layers[0].type == "conv1d" else [1, 4, 4]
    net = LayeredNetwork(shape, layers, cost=cost)
    report = derive_layered(net).check(points=1, composed=composed)
    assert report.ok, [f for f in report.facts if not f.ok]
    assert {f.what for f in report.facts} >= {"output", "backward", "numeric"}


def test_composed_cost_oracle_on_a_tiny_network():
    net = LayeredNetwork([1, 3, 3], [conv2d(1, 2, activation="sigmoid"), maxpool(2), dense(1, "identity")])
    report = derive_layered(net).check(points=1, composed=True)
    composed = facts(report)[("composed", None)]
    assert composed.ok and composed.count == 7 and composed.method == "composed"


def test_a_generic_activation_is_proven_for_every_activation():
    net = LayeredNetwork([1, 3, 3], [conv2d(1, 2, activation="generic"), conv2d(1, 2, activation="generic"),
                                    flatten()])
    d = derive_layered(net)
    sigma_prime = d.deltas[1][(1, 1, 1)].atoms(sp.core.function.AppliedUndef)
    assert {f.func.__name__ for f in sigma_prime} == {"sigma'"}
    assert facts(d.check(points=1))[("backward", 2)].ok


# ---------------------------------------------------------------------- planted mistakes


def _unrotated(fw, layer, delta):
    """The classic mistake: the full correlation with the kernel as it is, not rotated."""
    rules = layered.LAYER_RULES["conv2d"]
    rotated = rules.backward(fw, layer, delta)
    k = layer.spec.kernel
    flip = {Site("K", layer.index, o, c, p, q): Site("K", layer.index, o, c, k + 1 - p, k + 1 - q)
            for o in range(1, layer.spec.channels + 1) for c in range(1, layer.input_shape[0] + 1)
            for p in range(1, k + 1) for q in range(1, k + 1)}
    return {pos: value.xreplace(flip) for pos, value in rotated.items()}


def _to_every_position(fw, layer, delta):
    """The classic mistake: max pooling's δ sent to every entry of the window."""
    from symbackprop.model.layers import pool_window

    out = {pos: 0 for pos in positions(layer.input_shape)}
    for pos, d in delta.items():
        for p in pool_window(layer, pos):
            out[p] += d
    return out


def _one_position_only(fw, layer, delta):
    """The classic mistake: a shared kernel entry's gradient taken at one position, not summed."""
    grads = layered.LAYER_RULES["conv2d"].gradients(fw, layer, delta)
    return {p: (g.args[0] if g.is_Add else g) for p, g in grads.items()}


PLANTED = [
    ("conv2d", {"backward": _unrotated}, ("backward", 2)),
    ("maxpool", {"backward": _to_every_position}, ("backward", 2)),
    ("conv2d", {"gradients": _one_position_only}, ("gradients", 1)),
]


@pytest.mark.parametrize("rule, change, caught", PLANTED, ids=["kernel not rotated", "max to every position",
                                                              "shared weight not summed"])
def test_a_planted_wrong_rule_is_caught(rule, change, caught):
    second = conv2d(1, 2, activation="tanh") if rule == "conv2d" else maxpool(2)
    net = LayeredNetwork([1, 4, 4], [conv2d(1, 2, activation="sigmoid"), second, flatten(), dense(1, "identity")])
    good = derive_layered(net).check(points=1, composed=False)
    assert good.ok
    bad = derive_layered(net, rules=plant(rule, **change)).check(points=1, composed=False)
    found = facts(bad)
    assert not bad.ok
    assert not found[caught].ok and found[caught].failed > 0   # the symbolic proof fails
    assert not found[("numeric", None)].ok                      # and the independent numbers disagree


# ---------------------------------------------------------------------- pieces


def test_tie_convention_first_maximum_in_reading_order():
    a, b, c = sp.symbols("a b c", real=True)
    window = [a, b, c]
    at_tie = {a: 1, b: 2, c: 2}
    assert [first_maximum(window, i).xreplace(at_tie) for i in range(3)] == [0, 1, 0]
    assert sum(first_maximum(window, i).xreplace({a: 3, b: 3, c: 3}) for i in range(3)) == 1


def test_the_numeric_oracle_is_independent_of_the_derivation():
    """The mpmath forward pass reproduces the cost from the definitions the derivation uses."""
    net = LayeredNetwork([1, 4, 4], [conv2d(2, 2, stride=2, padding=1, activation="tanh"), maxpool(2),
                                    dense(2, "sigmoid")])
    d = derive_layered(net)
    point = random_layered_point(d, random.Random(3))
    values = named_values(d, point)
    ours = d.forward.cost.xreplace(values).evalf(40)
    with mpmath.workdps(40):
        params = {site_key(p): mpmath.mpf(p_value.p) / p_value.q for p, p_value in point.params.items()}
        x = {pos: mpmath.mpf(v.p) / v.q for pos, v in point.x.items()}
        y = [mpmath.mpf(v.p) / v.q for v in point.y]
        theirs = MpmathNetwork(net).run(params, x, y)[0]
    assert abs(float(ours) - float(theirs)) < 1e-30


def test_same_input_same_document():
    from symbackprop.proof.layered_report import render_layered

    net = LayeredNetwork([1, 3, 3], [conv2d(1, 2, activation="relu"), maxpool(2), dense(2, "softmax")],
                         cost="cross_entropy")
    first = render_layered(derive_layered(net), "md", report=derive_layered(net).check(points=1, composed=False)).text
    second = render_layered(derive_layered(net), "md", report=derive_layered(net).check(points=1, composed=False)).text
    assert first == second
    assert "\\operatorname{route}_{\\max}" in first and "\\operatorname{rot}_{180}" in first


def _random_network(rng: random.Random) -> LayeredNetwork:
    """A small random stack: one or two convolutions (1-D or 2-D, random stride and padding), maybe a
    pooling layer, maybe a residual block (a 1-wide convolution and a skip around it, with a random
    activation after the addition), then flatten or a dense layer, with random activations and a random cost."""
    dims = rng.choice([1, 2])
    shape = [rng.randint(1, 2)] + [rng.randint(4, 5)] * dims
    make = conv1d if dims == 1 else conv2d
    activations = ["sigmoid", "tanh", "softplus", "generic", "identity", "relu"]
    layers = [make(rng.randint(1, 2), rng.randint(1, 2), stride=rng.randint(1, 2), padding=rng.randint(0, 1),
                   activation=rng.choice(activations), bias=rng.random() < 0.7)]
    channels = layers[0].channels
    if rng.random() < 0.5:
        layers.append(make(1, 2, activation=rng.choice(activations)))
        channels = 1
    if rng.random() < 0.7:
        layers.append(rng.choice([maxpool, avgpool])(rng.randint(1, 2)))
    cost = rng.choice(["quadratic", "cross_entropy", "binary_cross_entropy"])
    output = {"quadratic": rng.choice(activations), "cross_entropy": "softmax", "binary_cross_entropy": "sigmoid"}
    if rng.random() < 0.5:  # drawn last: the draws before it give the stacks they gave without it
        below = len(layers)
        layers += [make(channels, 1, activation=rng.choice(activations)),
                   residual(below, activation=rng.choice([None, *activations, "leaky_relu"]))]
    layers.append(dense(2, output[cost]))
    return LayeredNetwork(shape, layers, cost=cost)


def _random_fitting_network(seed: int) -> LayeredNetwork:
    """The first random stack that fits (one whose shapes do not fit is refused as bad input)."""
    from symbackprop.errors import SpecError

    rng = random.Random(seed)
    for _ in range(50):
        try:
            return _random_network(rng)
        except SpecError:
            continue
    raise AssertionError("no random stack fits")


@pytest.mark.parametrize("seed", range(6))
def test_random_instances_agree_with_central_differences(seed):
    net = _random_fitting_network(seed)
    report = derive_layered(net).check(points=1, seed=seed, composed=False)
    assert report.ok, (net, [f for f in report.facts if not f.ok])
    assert {f.what for f in report.facts} >= {"output", "backward", "numeric"}


def test_the_random_instances_include_residual_blocks_with_an_activation():
    stacks = [_random_fitting_network(seed) for seed in range(6)]
    assert any(layer.type == "residual" and layer.has_z for net in stacks for layer in net.layers)


def _undivided(fw, layer, delta):
    """The classic mistake: average pooling passing δ on without dividing by the window's size."""
    from symbackprop.model.layers import pool_window

    out = {pos: 0 for pos in positions(layer.input_shape)}
    for pos, d in delta.items():
        for p in pool_window(layer, pos):
            out[p] += d
    return out


def test_average_pooling_without_the_division_is_caught():
    net = LayeredNetwork([1, 4, 4], [conv2d(1, 2, activation="tanh"), avgpool(2), flatten(), dense(1, "identity")])
    bad = derive_layered(net, rules=plant("avgpool", backward=_undivided)).check(points=1, composed=False)
    found = facts(bad)
    assert not found[("backward", 2)].ok and not found[("numeric", None)].ok


def test_the_chain_rules_derivative_of_each_definition_is_sympys():
    """partial_derivative reads off a term linear in the symbol; every definition of a network with every layer
    type gives what sympy.diff gives, symbol by symbol (and a wrong read-off would differ)."""
    from symbackprop.model.layers import batchnorm, rnn
    networks = [LayeredNetwork([1, 4, 4], [conv2d(2, 2, stride=2, padding=1, activation="relu"), maxpool(2),
                                           flatten(), dense(2, "softmax")], cost="cross_entropy"),
                LayeredNetwork(2, [dense(2, "tanh"), batchnorm(), residual(1, "relu"), dense(1)],
                               batch=2),
                LayeredNetwork([2], [rnn(2, "tanh"), dense(1)], steps=2)]
    checked = 0
    for network in networks:
        fw = derive_layered(network).forward
        for layer in network.layers:
            for definition in fw.definitions[layer.index].items():
                for symbol in definition[1].free_symbols:
                    assert layered.partial_derivative(definition[1], symbol) == sp.diff(definition[1], symbol)
                    checked += 1
    assert checked > 100
    w, a, b = sp.symbols("w a b")
    assert layered.partial_derivative(w * a + a**2 * b, a) == w + 2 * a * b
