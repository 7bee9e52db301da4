"""The exact decision of claims (claims/exact.py): identities are shown, differences are never called identities.

The independent oracle is the numbers: every formula the rewriting calls identical to the truth must
agree with it at random points (40 digits), and every form of the truth the derivation itself writes
(the composed form in x, w, b only, the raw form with σ' kept opaque) must be shown identical.
"""

import dataclasses
import signal
import time
from unittest import mock

import pytest
import sympy as sp

import symbackprop as sbp
from symbackprop.claims import verdicts as C
from symbackprop.claims.exact import decide
from symbackprop.claims.formula import Target
from symbackprop.model.activations import A, ACTIVATIONS, Z
from symbackprop.model.symbols import LAMBDA, N_EXAMPLES
from symbackprop.proof.equations import prove_rule

NETWORKS = {
    "sigmoid": sbp.Network([2, 3, 2]),
    "tanh": sbp.Network([2, 3, 2], activation="tanh"),
    "generic": sbp.Network([2, 3, 2], activation="generic"),
    "relu": sbp.Network([2, 3, 2], activation="relu"),
    "identity": sbp.Network([2, 3, 2], activation="identity"),
    "softmax": sbp.Network([2, 3, 3], activation=["tanh", "softmax"], cost="cross_entropy"),
    "bce": sbp.Network([2, 3, 2], cost="binary_cross_entropy"),
    "l2": sbp.Network([2, 3, 2], l2=LAMBDA),
}
DERIVATIONS = {}


def derivation(name):
    if name not in DERIVATIONS:
        DERIVATIONS[name] = sbp.derive(NETWORKS[name])
    return DERIVATIONS[name]


def targets(d):
    network = d.network
    found = [Target("delta", ("delta", l, j)) for l in range(1, network.depth + 1)
             for j in range(1, network.sizes[l] + 1)]
    found += [Target("gradient", key) for key in d.params[::4]]
    found += [Target("delta_vector", ("delta", l)) for l in range(1, network.depth + 1)]
    found += [Target("gradient_matrix", ("W", l)) for l in range(1, network.depth + 1)]
    return found + [Target("cost", ("C",))]


@pytest.mark.parametrize("name", sorted(NETWORKS))
def test_every_form_the_derivation_writes_is_shown_identical_to_the_truth(name):
    d = derivation(name)
    for key in d.params[::3]:
        truth = C.truth(d, Target("gradient", key))
        if name != "relu":  # (SymPy folds relu's composed pieces into conditions on sums of other pieces)
            assert decide(d, d.gradient(key, form="composed"), truth) is True, key   # only x, w, b, y
        assert decide(d, d.gradient(key), truth) is True, key                        # compact, with δ
        if key[0] == "b":                                                            # σ' as an opaque function
            raw = d._without_deltas(d.deltas[(key[1], key[2])].raw, opaque=True)
            assert decide(d, raw, truth) is True, key


@pytest.mark.parametrize("name", sorted(NETWORKS))
def test_nothing_that_differs_in_numbers_is_called_identical(name):
    d = derivation(name)
    stand_in = C.stand_in_for(d.network)
    called_different = 0
    for target in targets(d):
        truth = C.truth(d, target)
        sample = C._points(d, 2, 7, C._unvalued(d, truth) | {N_EXAMPLES})
        for key, mutant in C.mutations(d, target).items():
            agree = all(C._agree(C._value(mutant, known, stand_in), C._value(truth, known, stand_in))
                        for _, known in sample)
            decided = decide(d, mutant, truth)
            if decided is True:
                assert agree, (target, key)
            if not agree:
                assert decided is False, (target, key)
                called_different += 1
    assert called_different > 20


@pytest.mark.parametrize("network, claim", [
    (sbp.Network([2, 3, 2]), r"\delta^{3}_{1} = (a^{3}_{1} - y_{1}) \frac{e^{-z^{3}_{1}}}{(1+e^{-z^{3}_{1}})^2}"),
    (sbp.Network([2, 3, 2]), r"\delta^{3}_{1} = (\sigma(z^{3}_{1}) - y_{1}) \sigma(z^{3}_{1})(1-\sigma(z^{3}_{1}))"),
    (sbp.Network([2, 3, 2]), r"\delta^{3}_{1} = (a^{3}_{1} - y_{1}) "
                             r"\sigma'(w^{3}_{11} a^{2}_{1} + w^{3}_{12} a^{2}_{2} + w^{3}_{13} a^{2}_{3} + b^{3}_{1})"),
    (sbp.Network([2, 3, 2]), r"\delta^{3}_{1} = (a^{3}_{1} - y_{1}) \sigma'(z^{3}_{1}) + z^{3}_{1} - z^{3}_{1}"),
    (sbp.Network([2, 3, 2], activation="tanh"), r"\delta^{3}_{1} = (a^{3}_{1} - y_{1}) (1 - \tanh^2(z^{3}_{1}))"),
    (sbp.Network([2, 3, 2], activation="tanh"),
     r"\delta^{3}_{1} = (a^{3}_{1} - y_{1}) \frac{4}{(e^{z^{3}_{1}}+e^{-z^{3}_{1}})^2}"),
    (sbp.Network([2, 3, 2], activation="softplus"),
     r"\delta^{3}_{1} = (a^{3}_{1} - y_{1}) \frac{1}{1+e^{-z^{3}_{1}}}"),
    (sbp.Network([2, 3, 2], activation="relu"), r"\delta^{2}_{1} = \sum_k w^{3}_{k1} \delta^{3}_{k} \sigma'(z^{2}_{1})"),
    (sbp.Network([2, 3, 2], activation="generic"),
     r"\delta^{2}_{1} = \sum_k w^{3}_{k1} \delta^{3}_{k} \sigma'(z^{2}_{1})"),
    (sbp.Network([2, 3, 2], cost="binary_cross_entropy"),
     r"C = -\sum_j (y_j \log a^{3}_{j} + (1-y_j)\log(1-a^{3}_{j}))"),
    (sbp.Network([2, 4, 3], activation=["tanh", "softmax"], cost="cross_entropy"), r"\delta^{3} = a^{3} - y"),
    (sbp.Network([2, 4, 3], activation=["tanh", "softmax"], cost="cross_entropy"),
     r"\delta^{3}_{1} = \frac{e^{z^{3}_{1}}}{e^{z^{3}_{1}} + e^{z^{3}_{2}} + e^{z^{3}_{3}}} - y_{1}"),
    (sbp.Network([2, 3, 3, 2]), r"\delta^{2}_{1} = \sum_k w^{3}_{k1} \delta^{3}_{k} \sigma'(z^{2}_{1})"),
])
def test_a_claim_written_with_the_activations_own_functions_is_proven_exactly(network, claim):
    verdict = sbp.check_formula(claim, network)
    assert (verdict.status, verdict.method) == ("correct", "exact"), verdict


def test_a_planted_wrong_exponential_identity_fails_the_rule_check():
    sigmoid = ACTIVATIONS["sigmoid"]
    assert prove_rule(sigmoid).ok
    planted = dataclasses.replace(sigmoid, exponential=(1, (1 - A) / A))      # e^{-z}, not e^{z}
    proof = prove_rule(planted)
    assert not proof.ok and "FAILS" in proof.detail


def test_a_rule_is_proven_once_and_a_rule_that_differs_only_in_its_derivative_again():
    tanh = ACTIVATIONS["tanh"]
    assert prove_rule(tanh) is prove_rule(tanh, 7)  # an element-wise rule's proof ignores the layer's size
    planted = dataclasses.replace(tanh, derivative=1 - Z)       # same name, wrong σ'
    assert prove_rule(planted) is not prove_rule(tanh)
    assert not prove_rule(planted).ok and prove_rule(tanh).ok


def test_the_bound_counts_terms_and_gives_one_answer():
    d = derivation("sigmoid")
    truth = C.truth(d, Target("gradient", ("w", 1, 1, 1)))
    expanded = sp.expand(truth)
    assert decide(d, expanded, truth) is True
    assert decide(d, expanded, truth, max_terms=2) is None
    assert {decide(d, expanded, truth, max_terms=2) for _ in range(3)} == {None}


def test_no_verdict_consults_the_clock():
    # every clock and alarm a bound by seconds would need raises while the claims are decided
    def refuse(*arguments, **keywords):
        raise AssertionError("a verdict consulted the clock")

    network = sbp.Network([2, 3, 2])
    claims = [r"\delta^{2}_{1} = \sum_k w^{3}_{k1} \delta^{3}_{k} \sigma'(z^{2}_{1})",
              r"\delta^{2}_{1} = \sum_k w^{3}_{1k} \delta^{3}_{k} \sigma'(z^{2}_{1})"]
    d = sbp.derive(network)
    with mock.patch.object(signal, "setitimer", refuse), mock.patch.object(signal, "alarm", refuse), \
            mock.patch.object(time, "monotonic", refuse), mock.patch.object(time, "perf_counter", refuse), \
            mock.patch.object(time, "time", refuse):
        verdicts = [sbp.check_formula(claim, network, derivation=d) for claim in claims]
    assert [(v.status, v.method) for v in verdicts] == [("correct", "exact"), ("incorrect", "numeric")]


def test_bp2_and_a_weights_gradient_on_784_30_10_are_decided_exactly():
    network = sbp.Network([784, 30, 10])
    d = sbp.derive(network)
    for claim in (r"\delta^{2}_{1} = \sum_k w^{3}_{k1} \delta^{3}_{k} \sigma'(z^{2}_{1})",
                  r"\frac{\partial C}{\partial w^{2}_{1,784}} = \delta^{2}_{1} a^{1}_{784}"):
        verdict = sbp.check_formula(claim, network, derivation=d)
        assert (verdict.status, verdict.method) == ("correct", "exact"), verdict
    wrong = sbp.check_formula(r"\delta^{2}_{1} = \sum_k w^{3}_{1k} \delta^{3}_{k} \sigma'(z^{2}_{1})", network,
                              derivation=d)
    assert wrong.status == "incorrect" and wrong.counterexample is not None


def test_two_rational_functions_are_compared_once_per_process_whatever_else_is_a_step():
    from symbackprop.claims import exact

    x, y, s = sp.symbols("x y s", real=True)
    exact._same_rational_in.cache_clear()
    assert exact._same_rational(x * (1 - x) / y, (x - x**2) / y, {s})
    assert exact._same_rational(x * (1 - x) / y, (x - x**2) / y, set())  # s is in neither side: the same question
    assert exact._same_rational_in.cache_info().hits == 1
    assert exact._same_rational(s**2 * x, s * x, {s}) and not exact._same_rational(s**2 * x, s * x, set())
