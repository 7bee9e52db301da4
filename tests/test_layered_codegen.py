"""The NumPy module of a network of layers agrees with the derivation, evaluated with mpmath, to 1e-12."""

import inspect
import random

import mpmath
import pytest
import sympy as sp

from symbackprop.errors import SpecError
from symbackprop.examples import CONVOLUTIONAL
from symbackprop.codegen.layered import layered_module, site_array_index
from symbackprop.model.layers import (LayeredNetwork, avgpool, batchnorm, conv1d, conv2d, dense, flatten,
                                      layered_from_mapping, maxpool, residual, rnn)
from symbackprop.proof.layered import (LayeredPoint, MARGIN, MpmathNetwork, derive_layered, named_values, plant,
                                       random_layered_point, site_key, _mp)

from tooling import import_generated

np = pytest.importorskip("numpy")

def load(tmp_path, derivation):
    return import_generated(layered_module(derivation), tmp_path, "generated_layers")


def _points(derivation, count, seed):
    """``count`` random points of one parameter set (different inputs and targets), away from ties and kinks."""
    rng = random.Random(seed)
    oracle = MpmathNetwork(derivation.network)
    base = random_layered_point(derivation, rng)
    points = []
    with mpmath.workdps(40):
        while len(points) < count:
            other = random_layered_point(derivation, rng)
            point = LayeredPoint(base.params, other.x, other.y)
            params = {site_key(p): _mp(v) for p, v in point.params.items()}
            if oracle.run(params, {k: _mp(v) for k, v in point.x.items()}, [_mp(v) for v in point.y])[1] >= MARGIN:
                points.append(point)
    return points


def _arrays(module, point):
    params = {name: np.zeros_like(value) for name, value in module.init_params(0).items()}
    for symbol, value in point.params.items():
        name, index = site_array_index(symbol)
        params[name][index] = float(value)
    return params


def agree(tmp_path, network, batch=3, seed=1, tie=False):
    """The module's batched gradients agree to 1e-12 with Σ over the batch of the derivation's gradients
    (mpmath, 40 digits).

    ``tie``: every kernel entry 0 and every bias 1/2, so that every max-pooling window after the first
    layer is a tie, which both break by the first maximum in reading order.
    """
    derivation = derive_layered(network)
    worst, *rest = difference(load(tmp_path, derivation), derivation, batch, seed, tie)
    assert worst < 1e-12, worst
    return rest


def difference(module, derivation, batch=3, seed=1, tie=False):
    """The largest relative difference between the module's batched gradients and Σ over the batch of the
    derivation's gradients at random points, with the module, its parameters and the batch."""
    network = derivation.network
    if network.batch > 1:  # one point holds the whole batch, each position led by its example's number
        point = _points(derivation, 1, seed)[0]
        batch = network.batch
        points = [LayeredPoint(point.params, {pos[1:]: v for pos, v in point.x.items() if pos[0] == e},
                               tuple(v for t, v in zip(derivation.forward.targets, point.y) if t.position[0] == e))
                  for e in range(1, batch + 1)]
    else:
        points = _points(derivation, batch, seed)
    if tie:
        params = {p: sp.S.Zero if p.kind == "K" else sp.Rational(1, 2) if p.layer == 1 else v
                  for p, v in points[0].params.items()}
        points = [LayeredPoint(params, point.x, point.y) for point in points]
    params = _arrays(module, points[0])
    X = np.zeros((batch, *network.input_shape))
    for n, point in enumerate(points):
        for pos, value in point.x.items():
            X[(n, *(i - 1 for i in pos))] = float(value)
    Y = np.array([[float(v) for v in point.y] for point in points]).reshape((batch, *network.shapes[-1]))
    grads = module.gradients(params, X, Y)
    assert set(grads) == set(params)
    expected = {p: sp.S.Zero for p in derivation.params}
    for point in ([_points(derivation, 1, seed)[0]] if network.batch > 1 else points):
        known = named_values(derivation, point)
        for p in derivation.params:
            expected[p] += derivation.gradients[p].xreplace(known).evalf(40)
    worst = 0.0
    for p, value in expected.items():
        name, index = site_array_index(p)
        worst = max(worst, abs(grads[name][index] - float(value)) / max(1.0, abs(float(value))))
    return worst, module, params, X, Y


def test_the_gallery_network_module_agrees_with_the_derivation(tmp_path):
    module, params, X, Y = agree(tmp_path, layered_from_mapping(CONVOLUTIONAL))
    grads = module.gradients(params, X, Y)
    stepped = {name: params[name] - 0.01 * grads[name] for name in params}
    assert module.cost(stepped, X, Y) < module.cost(params, X, Y)
    assert module.predict(params, X[0]).shape == (1, 3)


def test_stride_padding_average_pooling_and_one_dimension_agree(tmp_path):
    # a convolution after another one: its δ goes back through the rotated kernel, dilated and cropped; the stride
    # leaves the last row (2-D: 4 + 2 − 3 = 3, stride 2) or the last entry (1-D: 6 + 2 − 3) past every window
    agree(tmp_path, LayeredNetwork([2, 5, 6], [conv2d(2, 2, activation="tanh"),
                                               conv2d(2, 3, stride=2, padding=1, activation="sigmoid"),
                                               avgpool(2, stride=1), dense(2, "sigmoid")], cost="quadratic"))
    agree(tmp_path, LayeredNetwork([1, 7], [conv1d(2, 2, activation="softplus"), conv1d(1, 3, stride=2, padding=1),
                                            maxpool(2, stride=1), flatten()], cost="quadratic"))


def test_batch_normalisation_and_a_residual_connection_agree(tmp_path):
    agree(tmp_path, LayeredNetwork(2, [dense(2, "tanh"), batchnorm(), residual(1), dense(1, "identity")], batch=3))
    # per-channel statistics over the examples and the positions of a feature map, and the ReLU after the
    # addition of a block of a residual network: its σ' in the error of both paths
    module, *_ = agree(tmp_path, LayeredNetwork([1, 3], [conv1d(2, 2, activation="sigmoid"), batchnorm(),
                                                         residual(1, "relu"), flatten(), dense(2, "identity")],
                                                batch=2))
    assert "z3 = a2 + a1" in inspect.getsource(module)


def test_ties_go_to_the_first_maximum_in_reading_order(tmp_path):
    agree(tmp_path, LayeredNetwork([1, 5, 5], [conv2d(1, 2, activation="identity"), maxpool(2),
                                               dense(2, "identity")], cost="quadratic"), batch=1, tie=True)


def test_a_recurrent_layer_with_its_output_at_the_last_step_agrees(tmp_path):
    # two recurrent layers: the first passes every state on, the second its last state to the cost
    agree(tmp_path, LayeredNetwork([2], [rnn(2, activation="tanh", output="every"), rnn(2, activation="sigmoid")],
                                   cost="quadratic", steps=3))


def test_dense_layers_after_a_recurrent_layer_softmax_and_a_skip_agree(tmp_path):
    module, params, X, Y = agree(tmp_path, LayeredNetwork([2], [rnn(3, activation="relu"), dense(2, "softmax")],
                                                          cost="cross_entropy", steps=3))
    assert module.predict(params, X[0]).shape == (1, 2)
    # a skip from the recurrent layer: its δ joins what the layer above passes back, before the steps are run back
    agree(tmp_path, LayeredNetwork([2], [rnn(2, activation="tanh"), dense(2, "tanh"), residual(1), dense(1, "identity")],
                                   steps=2))


@pytest.fixture(scope="module")
def every_step():
    """A recurrent layer with an output and a cost at every step, derived once."""
    return derive_layered(LayeredNetwork([2], [rnn(2, activation="sigmoid", output="every")],
                                         cost="binary_cross_entropy", steps=3))


def test_a_recurrent_layer_with_a_cost_at_every_step_agrees(tmp_path, every_step):
    worst, module, params, X, Y = difference(load(tmp_path, every_step), every_step)
    assert worst < 1e-12, worst
    assert Y.shape == (3, 3, 2) and module.cost(params, X, Y) > 0


def test_backpropagation_through_time_cut_to_one_step_in_the_module_disagrees(tmp_path, every_step):
    # the planted mistake: each step's δ without what the next step passes back, (W^1)ᵀ δ^1_{t+1}
    source = layered_module(every_step)
    right = "delta1[:, t] = (da1[:, t] + delta1[:, t + 1] @ W1) * slope1[:, t]"
    assert source.count(right) == 1
    cut = import_generated(source.replace(right, "delta1[:, t] = da1[:, t] * slope1[:, t]"), tmp_path, "cut")
    worst = difference(cut, every_step)[0]
    assert worst > 1e-3, worst


def test_a_planted_wrong_rule_through_time_is_refused(every_step):
    cut = plant("rnn", through_time=lambda fw, layer, delta, output: dict(output))
    with pytest.raises(SpecError, match="textbook rule"):
        layered_module(derive_layered(every_step.network, rules=cut))


def test_a_planted_wrong_rule_is_refused():
    rotated_wrongly = plant("conv2d", backward=lambda fw, layer, delta: {
        pos: sp.S.Zero for pos in __import__("symbackprop.model.layers", fromlist=["positions"]).positions(layer.input_shape)})
    derivation = derive_layered(LayeredNetwork([1, 4, 4], [conv2d(1, 2, activation="tanh"), conv2d(1, 2),
                                                           dense(1)]), rules=rotated_wrongly)
    with pytest.raises(SpecError, match="textbook rule"):
        layered_module(derivation)


def test_bad_batches_are_refused_with_a_message(tmp_path):
    derivation = derive_layered(layered_from_mapping(CONVOLUTIONAL))
    module = load(tmp_path, derivation)
    params = module.init_params(0)
    with pytest.raises(ValueError, match="expected \\(N, 1, 6, 6\\)"):
        module.predict(params, np.zeros((2, 6, 6)))
    with pytest.raises(ValueError, match="add up to 1"):
        module.gradients(params, np.zeros((1, 1, 6, 6)), np.array([[1.0, 1.0, 0.0]]))
