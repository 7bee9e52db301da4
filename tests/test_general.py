"""BP1–BP4 proven for every network: agreement with the engine, planted mistakes, notations."""

import functools
from dataclasses import replace

import pytest
import sympy as sp

from symbackprop import Network, derive
from symbackprop.model.costs import COSTS
from symbackprop.proof.general import (
    EQUATION_NAMES, GENERAL_RULES, SIGMA_PRIME, GeneralStep, Induction, L, derive_general, i, j, k, l,
)
from symbackprop.documents.printing import NOTATIONS, latex, text
from symbackprop.model.symbols import LAMBDA, N_EXAMPLES, COST, Partial, Quantity

from conftest import same


def q(kind, *indices):
    return Quantity(kind, *indices)


@functools.cache
def general(cost="quadratic", activation="generic", l2=False, softmax=None):
    return derive_general(cost, activation, l2=l2, softmax=softmax)


@functools.cache
def checked(cost="quadratic", activation="generic", l2=False, softmax=None):
    return general(cost, activation, l2, softmax).check()


def failures(report):
    return {f.equation for f in report.facts if not f.ok}


def planted(derivation, name, mapping, start=0):
    """The derivation with ``mapping`` applied to equation ``name``: statement, goal and steps from ``start`` on."""
    equation = derivation.equation(name)

    def change(expr):
        return None if expr is None else expr.xreplace(mapping)

    def steps(proof, first):
        return tuple(s if n < first else GeneralStep(s.rule, change(s.before), change(s.after), change(s.reason))
                     for n, s in enumerate(proof))

    return derivation.with_equation(replace(
        equation, statement=change(equation.statement), goal=change(equation.goal),
        proof=steps(equation.proof, start), matrix_proof=steps(equation.matrix_proof, 0)))


def with_step(derivation, name, number, **changes):
    """The derivation with step ``number`` of equation ``name``'s index proof changed."""
    equation = derivation.equation(name)
    proof = list(equation.proof)
    proof[number] = replace(proof[number], **changes)
    return derivation.with_equation(replace(equation, proof=tuple(proof)))


def first(equation, rule):
    return next(n for n, s in enumerate(equation.proof) if s.rule == rule)


# ------------------------------------------------- (a) agreement with the concrete engine

CASES = [
    # cost, activation, softmax, l2, sizes
    ("quadratic", "generic", None, False, [2, 3, 2]),
    ("quadratic", "sigmoid", None, False, [3, 2, 2, 2]),
    ("quadratic", "relu", None, False, [1, 4, 3]),
    ("quadratic", "leaky_relu:0.2", None, True, [2, 3, 2]),
    ("quadratic", "generic", True, False, [2, 3, 3]),
    ("binary_cross_entropy", "sigmoid", None, False, [2, 3, 2]),
    ("binary_cross_entropy", "generic", None, 0.1, [3, 2, 2, 2]),
    ("binary_cross_entropy", "tanh", True, False, [1, 4, 3]),  # a tanh output would leave (0, 1)
    ("cross_entropy", "tanh", None, True, [2, 3, 2]),
    ("cross_entropy", "generic", None, False, [3, 2, 2, 2]),
    ("cross_entropy", "softplus", None, False, [1, 4, 3]),
    ("cross_entropy", "sigmoid", False, False, [2, 2, 2]),
]


def network_for(derivation, sizes, l2):
    hidden = [derivation.activation] * (len(sizes) - 2)
    output = "softmax" if derivation.softmax else derivation.activation
    return Network(sizes, activation=hidden + [output], cost=derivation.cost, l2=l2 if l2 is not False else None)


@pytest.mark.parametrize("cost, activation, softmax, l2, sizes", CASES)
def test_every_general_result_agrees_with_the_engine(cost, activation, softmax, l2, sizes):
    derivation = general(cost, activation, l2=bool(l2), softmax=softmax)
    network = network_for(derivation, sizes, l2)
    concrete = derive(network)
    values = derivation.instantiate(network)
    expected = {("delta", layer.index, n) for layer in network.layers for n in range(1, layer.size + 1)}
    assert set(values) == expected | set(concrete.params)
    for key, value in values.items():
        reference = concrete.delta(*key[1:]) if key[0] == "delta" else concrete.gradient(key)
        assert value == reference or sp.expand(value - reference) == 0 or sp.simplify(value - reference) == 0, \
            (key, value, reference)


def test_every_registered_cost_is_covered():
    assert {case[0] for case in CASES} == set(COSTS)


def test_instantiation_works_from_any_notation_and_without_biases():
    network = Network([2, 3, 2], activation="sigmoid", cost="quadratic", bias=[False, True])
    concrete = derive(network)
    for name in NOTATIONS:
        values = general("quadratic", "sigmoid").in_notation(name).instantiate(network)
        assert not any(key[0] == "b" and key[1] == 1 for key in values)
        for key in concrete.params:
            assert same(values[key], concrete.gradient(key)), (name, key)


def test_a_generic_result_becomes_the_concrete_one_by_writing_sigma_prime():
    network = Network([2, 3, 2], activation="sigmoid", cost="binary_cross_entropy")
    generic = general("binary_cross_entropy").instantiate(network_for(general("binary_cross_entropy"), [2, 3, 2],
                                                                       False))
    concrete = derive(network)
    for key, value in generic.items():
        layer = key[1]
        primes = {SIGMA_PRIME(q("z", layer, n)): q("a", layer, n) * (1 - q("a", layer, n)) for n in range(1, 4)}
        reference = concrete.delta(*key[1:]) if key[0] == "delta" else concrete.gradient(key)
        difference = value.xreplace(primes) - reference
        assert sp.expand(difference) == 0 or sp.simplify(difference) == 0, key


def test_instantiating_another_network_is_refused():
    with pytest.raises(ValueError, match="cost"):
        general("quadratic").instantiate(Network([2, 2], activation="generic", cost="binary_cross_entropy"))
    with pytest.raises(ValueError, match="softmax"):
        general("cross_entropy").instantiate(Network([2, 2], activation="generic", cost="cross_entropy"))
    with pytest.raises(ValueError, match="L2"):
        general("quadratic").instantiate(Network([2, 2], activation="generic", l2=True))


# ------------------------------------------------- (b) planted mistakes are caught


def test_bp2_with_swapped_weight_indices_is_caught():
    derivation = general()
    step = first(derivation.bp2, "collapse")
    wrong = planted(derivation, "BP2", {q("w", l + 1, k, j): q("w", l + 1, j, k)}, start=step)
    report = wrong.check()
    assert "BP2" in failures(report) and not report.ok
    fact = next(f for f in report.facts if f.equation == "BP2")
    assert "collapse" in fact.detail
    # BP1, BP3 and BP4 are unaffected; the induction's step is what fails
    assert failures(report) == {"BP2", "induction"}


def test_bp2_statement_alone_with_swapped_indices_is_caught():
    derivation = general()
    statement = derivation.bp2.statement.xreplace({q("w", l + 1, k, j): q("w", l + 1, j, k)})
    report = derivation.with_equation(replace(derivation.bp2, statement=statement)).check()
    assert failures(report) == {"BP2", "induction"}


@pytest.mark.parametrize("start", ["through_activation", "collapse"])
def test_bp2_without_sigma_prime_is_caught(start):
    derivation = general()
    mapping = {SIGMA_PRIME(q("z", l, j)): sp.S.One, SIGMA_PRIME(q("z", l, i)): sp.S.One}
    wrong = planted(derivation, "BP2", mapping, start=first(derivation.bp2, start))
    report = wrong.check()
    fact = next(f for f in report.facts if f.equation == "BP2")
    # ∂a^l_j/∂z^l_j written 1 instead of σ'(z^l_j): sympy.diff of a = σ(z) disagrees
    assert not fact.ok and "differentiate" in fact.detail


def test_bp2_collapses_the_derivative_of_the_next_weighted_input_by_the_activation():
    proof = general().bp2.proof
    z_next, a_l, z_l = q("z", l + 1, k), q("a", l, j), q("z", l, j)
    rules = [s.rule for s in proof]
    split = rules.index("through_activation")
    assert proof[split].before == Partial(z_next, z_l)
    assert proof[split].after == Partial(z_next, a_l) * Partial(a_l, z_l)
    differentiate, collapse = proof[split + 1], proof[split + 2]
    assert (differentiate.rule, differentiate.before) == ("differentiate", Partial(z_next, a_l))
    assert any(isinstance(f, sp.KroneckerDelta) for f in sp.preorder_traversal(differentiate.after))
    assert (collapse.rule, collapse.after) == ("collapse", q("w", l + 1, k, j))


@pytest.mark.parametrize("change", ["wrong_neuron", "dropped_factor", "wrong_activation"])
def test_a_wrong_split_through_the_activation_is_caught(change):
    derivation = general()
    number = first(derivation.bp2, "through_activation")
    step = derivation.bp2.proof[number]
    a_l, z_l = q("a", l, j), q("z", l, j)
    if change == "wrong_neuron":  # through a^l_k instead of a^l_j
        wrong = with_step(derivation, "BP2", number, after=step.after.xreplace({a_l: q("a", l, k)}))
    elif change == "dropped_factor":
        wrong = with_step(derivation, "BP2", number, after=Partial(q("z", l + 1, k), a_l))
    else:  # claims a^l_j = σ(z^l_k)
        wrong = with_step(derivation, "BP2", number, reason=sp.Eq(a_l, q("z", l, k), evaluate=False))
    report = wrong.check()
    fact = next(f for f in report.facts if f.equation == "BP2")
    assert not fact.ok and "through_activation" in fact.detail and "induction" in failures(report)


def test_the_proof_expressions_run_from_the_goal_to_the_statement():
    for equation in general("cross_entropy", l2=True).equations:
        chain = equation.expressions()
        assert chain[0] == equation.goal.lhs and chain[-1] == equation.goal.rhs
        assert len(chain) == len(equation.proof) + 1
        matrix = equation.expressions(matrix=True)
        assert matrix[-1] == sp.Tuple(equation.statement.lhs, equation.statement.rhs)


def test_bp2_with_a_wrong_chain_rule_or_index_range_is_caught():
    derivation = general()
    chain = derivation.bp2.proof[0]
    skipped = with_step(derivation, "BP2", 0, after=chain.after.xreplace({q("z", l + 1, k): q("z", l + 2, k)}))
    assert "BP2" in failures(skipped.check())
    step = first(derivation.bp2, "collapse")
    wrong_range = with_step(derivation, "BP2", step, reason=j <= q("m", l + 1))
    assert "BP2" in failures(wrong_range.check())


def test_bp2_matrix_form_without_transpose_is_caught():
    derivation = general()
    matrix = derivation.bp2.matrix
    rhs = matrix.rhs.replace(lambda e: isinstance(e, sp.Transpose), lambda e: e.arg)
    report = derivation.with_equation(replace(derivation.bp2, matrix=sp.Eq(matrix.lhs, rhs, evaluate=False))).check()
    assert "BP2" in failures(report)


@pytest.mark.parametrize("cost, activation, wrong", [
    ("quadratic", "generic", (q("y", j) - q("a", L, j)) * SIGMA_PRIME(q("z", L, j))),
    ("binary_cross_entropy", "sigmoid", q("a", L, j) * (1 - q("y", j))),
    ("cross_entropy", "generic", q("a", L, j) * (1 - q("y", j))),
])
def test_a_wrong_bp1_is_caught(cost, activation, wrong):
    derivation = general(cost, activation)
    bp1 = derivation.bp1
    statement = sp.Eq(bp1.statement.lhs, wrong, evaluate=False)
    goal = sp.Eq(bp1.goal.lhs, wrong, evaluate=False)
    report = derivation.with_equation(replace(bp1, statement=statement, goal=goal)).check()
    assert failures(report) == {"BP1", "induction"}


def test_a_wrong_bp1_step_is_caught():
    derivation = general("quadratic")
    differentiate = derivation.bp1.proof[0]
    dropped = differentiate.after.xreplace({SIGMA_PRIME(q("z", L, i)): sp.S.One})
    report = with_step(derivation, "BP1", 0, after=dropped).check()
    fact = next(f for f in report.facts if f.equation == "BP1")
    assert not fact.ok and "differentiate" in fact.detail


def test_softmax_bp1_needs_the_targets_to_sum_to_one():
    derivation = general("cross_entropy")
    step = first(derivation.bp1, "targets_sum_to_one")
    s = derivation.bp1.proof[step]
    wrong = with_step(derivation, "BP1", step, reason=sp.Eq(s.reason.lhs, 2, evaluate=False))
    assert "BP1" in failures(wrong.check())


def test_the_induction_hypothesis_is_usable_only_in_the_inductive_step():
    derivation = general()
    last = len(derivation.bp3.proof) - 1
    wrong = with_step(derivation, "BP3", last, rule="induction_hypothesis")
    assert failures(wrong.check()) == {"BP3"}


def test_an_induction_that_leaves_a_layer_out_is_caught():
    derivation = general()
    gap = replace(derivation.induction, step_domain=sp.Tuple(l, 2, L - 1))
    assert failures(replace(derivation, induction=gap).check()) == {"induction"}
    wrong_claim = replace(derivation.induction, claim=sp.Eq(q("delta", l, j), Partial(COST, q("a", l, j)),
                                                            evaluate=False))
    assert "induction" in failures(replace(derivation, induction=wrong_claim).check())


def test_an_unknown_rule_is_refused():
    with pytest.raises(ValueError, match="unknown rule"):
        GeneralStep("intuition", q("delta", l, j), q("delta", l, j))


# ------------------------------------------------- (c) every proof re-verifies


@pytest.mark.parametrize("cost", sorted(COSTS))
@pytest.mark.parametrize("l2", [False, True])
def test_every_step_of_every_proof_reverifies(cost, l2):
    derivation = general(cost, l2=l2)
    report = checked(cost, l2=l2)
    assert report.ok, [(f.equation, f.detail) for f in report.failures]
    assert [f.equation for f in report.facts] == [*EQUATION_NAMES, "induction"]
    assert {(f.method, f.layer) for f in report.facts} == {("general", 0)}
    for fact, equation in zip(report.facts, derivation.equations):
        assert fact.evidence["steps"] == len(equation.proof) > 0
        assert fact.evidence["matrix_steps"] == len(equation.matrix_proof) >= 2
        assert {s.rule for s in equation.proof + equation.matrix_proof} <= set(GENERAL_RULES)


@pytest.mark.parametrize("activation", ["sigmoid", "tanh", "relu", "softplus", "identity", "leaky_relu:0.2"])
def test_concrete_activations_are_substituted_and_reverify(activation):
    report = checked("binary_cross_entropy", activation)
    assert report.ok, [(f.equation, f.detail) for f in report.failures]
    rules = {s.rule for s in general("binary_cross_entropy", activation).bp2.proof}
    assert rules & {"activation_identity", "activation_derivative"}


def test_softmax_with_a_cost_other_than_cross_entropy():
    derivation = general("quadratic", softmax=True)
    assert checked("quadratic", softmax=True).ok
    assert any(isinstance(m, sp.Transpose) for m, _ in derivation.bp1.dimensions)


def test_a_renumbered_derivation_still_checks():
    for name in NOTATIONS:
        shown = general("cross_entropy", l2=True).in_notation(name)
        assert shown.notation == name
        assert shown.check().ok
        assert shown.in_notation(None) == general("cross_entropy", l2=True)


def test_the_statements_are_the_textbook_ones():
    derivation = general("binary_cross_entropy", "sigmoid")
    assert derivation.bp1.statement.rhs == q("a", L, j) - q("y", j)
    assert general("cross_entropy").bp1.statement.rhs == q("a", L, j) - q("y", j)
    assert general("cross_entropy").assumptions
    bp2 = general().bp2.statement.rhs
    assert bp2 == sp.Sum(q("w", l + 1, k, j) * q("delta", l + 1, k), (k, 1, q("m", l + 1))) * SIGMA_PRIME(q("z", l, j))
    assert general().bp3.statement.rhs == q("delta", l, j)
    assert general().bp4.statement.rhs == q("a", l - 1, k) * q("delta", l, j)
    assert general().bp2.domain == sp.Tuple(l, 1, L - 1)


def test_the_induction_as_data():
    induction = general().induction
    assert isinstance(induction, Induction)
    # δ is the value the backward recursion computes: the base case is that BP1's right side is ∂C/∂z^L_j
    bp1, bp2 = general().bp1, general().bp2
    assert induction.claim == sp.Eq(q("delta", l, j), Partial(COST, q("z", l, j)), evaluate=False)
    assert induction.base == sp.Eq(bp1.statement.rhs, Partial(COST, q("z", L, j)), evaluate=False)
    assert not induction.base.has(q("delta", L, j))
    # BP2 sums over every neuron k of layer l+1, so the hypothesis is stated for every k
    assert induction.hypothesis == sp.Eq(q("delta", l + 1, k), Partial(COST, q("z", l + 1, k)), evaluate=False)
    # the step: from the hypothesis, BP2's right side (in the δ^{l+1}_k) is ∂C/∂z^l_j
    assert induction.step.args == (induction.hypothesis, induction.step_goal)
    assert induction.step_goal == sp.Eq(bp2.statement.rhs, Partial(COST, q("z", l, j)), evaluate=False)
    assert (induction.base_equation, induction.step_equation) == ("BP1", "BP2")
    assert induction.domain == sp.Tuple(l, 1, L)


def _induction_problem(derivation, **changes):
    report = replace(derivation, induction=replace(derivation.induction, **changes)).check()
    fact = next(f for f in report.facts if f.equation == "induction")
    assert not fact.ok and not report.ok
    return fact.evidence["problem"]["key"]


def test_a_circular_induction_is_caught():
    """δ^L = ∂C/∂z^L as the base case, or the claim itself as the step's conclusion, proves nothing: refused."""
    derivation = general()
    ind = derivation.induction
    circular_base = sp.Eq(q("delta", L, j), Partial(COST, q("z", L, j)), evaluate=False)
    assert _induction_problem(derivation, base=circular_base) == "base_wrong"
    assert _induction_problem(derivation, step=sp.Implies(ind.hypothesis, ind.claim)) == "step_wrong"
    # a base or step goal that is not what the proof of BP1 or BP2 shows
    other = sp.Eq(derivation.bp2.statement.rhs, Partial(COST, q("z", L, j)), evaluate=False)
    assert _induction_problem(derivation, base=other) == "base_wrong"
    wrong_goal = sp.Eq(derivation.bp1.statement.rhs, Partial(COST, q("z", l, j)), evaluate=False)
    assert _induction_problem(derivation, step=sp.Implies(ind.hypothesis, wrong_goal)) == "step_wrong"


def test_a_hypothesis_for_one_neuron_only_is_caught():
    """δ^{l+1}_1 = ∂C/∂z^{l+1}_1 is not enough for BP2, which uses every neuron of layer l+1."""
    derivation = general()
    one = sp.Eq(q("delta", l + 1, 1), Partial(COST, q("z", l + 1, 1)), evaluate=False)
    induction = replace(derivation.induction, hypothesis=one, step=sp.Implies(one, derivation.induction.claim))
    report = replace(derivation, induction=induction).check()
    fact = next(f for f in report.facts if f.equation == "induction")
    assert not fact.ok and fact.evidence["problem"]["key"] == "hypothesis_wrong"
    assert report.ok is False and "induction" in failures(report)


def test_problems_are_keys_with_data_not_sentences():
    derivation = general()
    bp2 = derivation.bp2
    number = first(bp2, "through_activation")
    wrong = with_step(derivation, "BP2", number, reason=sp.Eq(q("a", l, j), q("z", l, j), evaluate=False))
    fact = next(f for f in wrong.check().facts if f.equation == "BP2")
    assert fact.evidence["problem"] == {"key": "activation_not_given", "step": number + 1,
                                        "rule": "through_activation", "form": "index"}
    assert "activation_not_given" in fact.detail and "step %d" % (number + 1) in fact.detail


def test_every_problem_key_is_phrased_in_every_language():
    import re
    from pathlib import Path

    import symbackprop.proof.general as module
    from symbackprop.proof.general import PROBLEMS

    source = Path(module.__file__).read_text(encoding="utf-8")
    used = set(re.findall(r'_problem\("([a-z_]+)"', source)) | set(re.findall(r'_Unprovable\("([a-z_]+)"', source))
    assert used <= set(PROBLEMS) and len(used) >= 50
    root = Path(module.__file__).parents[2] / "templates"
    for lang in ("en", "zh"):
        names = (root / lang / "general.names.j2").read_text(encoding="utf-8")
        block = names[names.index("{% set problems = {"):]
        phrased = set(re.findall(r'^  "([a-z_]+)": ', block, re.M))
        assert phrased == set(PROBLEMS), (lang, set(PROBLEMS) ^ phrased)


# ------------------------------------------------- (d) regularisation


@pytest.mark.parametrize("cost", sorted(COSTS))
def test_regularisation_adds_lambda_over_n_w_to_bp4_only(cost):
    plain, regularised = general(cost), general(cost, l2=True)
    w = q("w", l, j, k)
    assert sp.simplify(regularised.bp4.statement.rhs - plain.bp4.statement.rhs - LAMBDA / N_EXAMPLES * w) == 0
    for name in ("BP1", "BP2", "BP3"):
        assert regularised.equation(name).statement == plain.equation(name).statement
    chain = regularised.bp4.proof[0]
    assert chain.rule == "chain_rule" and any(isinstance(t, Partial) for t in sp.Add.make_args(chain.after))
    assert not any(isinstance(t, Partial) for t in sp.Add.make_args(regularised.bp3.proof[0].after))


# ------------------------------------------------- (e) printing


@pytest.mark.parametrize("notation", sorted(NOTATIONS))
def test_every_statement_and_step_prints_in_every_notation(notation):
    for cost in sorted(COSTS):
        derivation = general(cost, l2=True).in_notation(notation)
        shown = [*derivation.forward, derivation.induction.step, derivation.induction.base]
        for equation in derivation.equations:
            shown += [equation.statement, equation.goal, *equation.assumptions]
            for step in equation.proof + equation.matrix_proof:
                shown += [step.before, step.after] + ([step.reason] if step.reason is not None else [])
            for printer in (latex, text):
                assert printer(equation.matrix, notation=notation, shapes=True)
        for expr in shown:
            assert latex(expr, notation=notation) and text(expr, notation=notation)


@pytest.mark.parametrize("notation, weight, delta", [
    ("nielsen", "w^{l + 1}_{kj}", r"\delta^{l}_{j}"),
    ("ng", r"\Theta^{(l)}_{kj}", r"\delta^{(l)}_{j}"),
    ("qiu", "W^{(l + 1)}_{kj}", r"\delta^{(l)}_{j}"),
    ("nodes", "w_{jk}", r"\delta_{lj}"),
])
def test_bp2_reads_in_each_notations_own_numbering(notation, weight, delta):
    shown = latex(general().in_notation(notation).bp2.statement, notation=notation)
    assert weight in shown and shown.startswith(delta)


# ------------------------------------------------- (f) networks and documents


def test_general_options_read_a_network():
    from symbackprop.proof.general import general_options
    from symbackprop.errors import SpecError

    options = general_options(Network([2, 3, 2], activation="leaky_relu:0.2", cost="quadratic", l2=True))
    assert options == {"cost": "quadratic", "activation": "leaky_relu:1/5", "l2": True, "softmax": False}
    assert derive_general(**options).check().ok
    options = general_options(Network([4, 5, 3], activation=["tanh", "softmax"], cost="cross_entropy"))
    assert (options["activation"], options["softmax"]) == ("tanh", True)
    with pytest.raises(SpecError, match="one element-wise activation"):
        general_options(Network([2, 3, 3, 2], activation=["tanh", "sigmoid", "sigmoid"]))


def test_the_nodes_notation_is_refused_for_general_documents():
    from symbackprop.errors import SpecError
    from symbackprop.proof.report import render_general

    with pytest.raises(SpecError, match="nielsen, ng, qiu"):
        render_general(general(), "md", notation="nodes")
    with pytest.raises(SpecError, match="unknown notation"):
        render_general(general(), "md", notation="dirac")


def test_a_document_includes_the_general_section_only_when_asked():
    from symbackprop.proof.report import render

    network = Network([2, 3, 2], activation="generic", cost="quadratic")
    concrete = derive(network)
    for lang, heading in (("en", "the four equations for every network"), ("zh", "对任意网络成立的四个方程")):
        for fmt in ("md", "tex"):
            plain = render(concrete, fmt, lang).text
            with_proof = render(concrete, fmt, lang, general=general(), general_report=checked()).text
            assert heading not in plain and heading in with_proof
            # a heading per equation; the statements themselves are the document's own, stated once
            assert with_proof.count("general-bp") >= (4 if fmt == "tex" else 0)
            # the section holds every statement, printed by the notation's printer
            for equation in general().in_notation("nielsen").equations:
                assert latex(equation.statement, notation="nielsen").split(" = ")[0] in with_proof


@pytest.mark.parametrize("notation, weight, cost", [
    ("nielsen", "w^{l + 1}_{kj}", r"\frac{\partial C}{\partial z^{l}_{j}}"),
    ("ng", r"\Theta^{(l)}_{kj}", r"\frac{\partial J}{\partial z^{(l)}_{j}}"),
    ("qiu", "W^{(l + 1)}_{kj}", r"\frac{\partial \mathcal{L}}{\partial z^{(l)}_{j}}"),
])
def test_a_general_document_prints_in_each_notations_numbering(notation, weight, cost):
    from symbackprop.proof.report import render_general

    text = render_general(general(), "md", notation=notation, report=checked()).text
    assert weight in text and cost in text
    first_layer = {"nielsen": "2", "ng": "2", "qiu": "1"}[notation]  # the first layer BP2 and BP3 cover
    assert f"${first_layer} \\le l \\le L - 1$" in text and f"${first_layer} \\le l \\le L$" in text
