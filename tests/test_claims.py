"""Checking hand-derived claims: verdicts, counterexamples, diagnoses, time limits, documents."""

import pytest
import sympy as sp

import symbackprop as sbp
from symbackprop.claims import verdicts as C
from symbackprop.documents import printing
from symbackprop.claims.verdicts import Skipped, Unreadable, check_claim, check_document, check_formula
from symbackprop.claims.formula import Mismatch, parse_claim, split_chain
from symbackprop.claims.report import render_verdicts

NET = sbp.Network([2, 3, 2])                      # sigmoid, quadratic, with biases
SQUARE = sbp.Network([2, 2, 2], bias=False)       # the network of seed 002
DERIVATIONS = {}


def derivation(network):
    if network not in DERIVATIONS:  # a Network compares by its sizes, layers, cost, L2 and mean
        DERIVATIONS[network] = sbp.derive(network)
    return DERIVATIONS[network]


def check(text, network=NET, notation="nielsen", **options):
    return check_formula(text, network, notation, derivation=derivation(network), **options)


def negated(claim: str) -> str:
    lhs, rhs = claim.split(" = ", 1)
    return f"{lhs} = -({rhs})"


# ------------------------------------------------------------------ every input form, in every notation

# (form, notation) -> a correct claim about the 2-3-2 network written with that form
FORMS = {
    ("layer superscript w^{l}_{jk}", "nielsen"):
        r"\frac{\partial C}{\partial w^{3}_{12}} = (a^{3}_{1} - y_{1}) \sigma'(z^{3}_{1}) a^{2}_{2}",
    ("layer superscript w^{l}_{jk}", "ng"):
        r"\frac{\partial J}{\partial \Theta^{(2)}_{12}} = (a^{(3)}_{1} - y_{1}) g'(z^{(3)}_{1}) a^{(2)}_{2}",
    ("layer superscript w^{l}_{jk}", "qiu"):
        r"\frac{\partial \mathcal{L}}{\partial W^{(2)}_{12}} = (a^{(2)}_{1} - y_{1}) f'(z^{(2)}_{1}) a^{(1)}_{2}",
    ("multi-digit subscripts y_{21}", "nodes"):
        r"\frac{\partial C}{\partial w_{46}} = (y_{21} - \hat y_{1}) f'(z_{21}) y_{12}",
    ("\\Theta^{(l)}_{ij}", "ng"): r"\frac{\partial J}{\partial \Theta^{(1)}_{21}} = \delta^{(2)}_{2} x_{1}",
    ("a^{(l)}", "nielsen"): r"\frac{\partial C}{\partial W^{3}} = \delta^{3} (a^{(2)})^T",
    ("a^{(l)}", "ng"): r"\frac{\partial J}{\partial \Theta^{(2)}} = \delta^{(3)} (a^{(2)})^T",
    ("a^{(l)}", "qiu"): r"\frac{\partial \mathcal{L}}{\partial W^{(2)}} = \delta^{(2)} (a^{(1)})^T",
    ("a^{(l)}", "nodes"): r"\frac{\partial C}{\partial W_{1}} = \delta_{2} y_{1}^T",
    # the cost written by name with its arguments, or as the operand of \frac{\partial}{\partial ...}
    ("\\mathcal{L}(y, \\hat y)", "qiu"):
        r"\frac{\partial \mathcal{L}(\mathbf{y}, \hat{\mathbf{y}})}{\partial W^{(2)}} = \delta^{(2)} (\mathbf{a}^{(1)})^{\mathrm{T}}",
    ("L(y, \\hat y)", "qiu"): r"\frac{\partial L(y, \hat y)}{\partial W^{(2)}_{12}} = \delta^{(2)}_{1} a^{(1)}_{2}",
    ("J(\\Theta)", "ng"): r"\frac{\partial J(\Theta)}{\partial \Theta^{(1)}_{31}} = a_1^{(1)} \delta_3^{(2)}",
    ("\\frac{\\partial}{\\partial w} J(\\Theta)", "ng"):
        r"\frac{\partial}{\partial \Theta_{31}^{(1)}} J(\Theta) = a_1^{(1)} \delta_3^{(2)}",
    ("\\frac{\\partial}{\\partial w} J(\\Theta)", "nielsen"):
        r"\frac{\partial}{\partial b^{3}_{2}} C = \delta^{3}_{2}",
    ("\\frac{\\partial}{\\partial z} J(\\Theta) on the right", "ng"):
        r"\delta^{(3)}_{1} = \frac{\partial}{\partial z^{(3)}_{1}} J(\Theta)",
    ("C_x", "nielsen"): r"\frac{\partial C_x}{\partial w^{3}_{12}} = (a^{3}_{1} - y_{1}) \sigma'(z^{3}_{1}) a^{2}_{2}",
}
GENERIC = {  # form -> notation -> claim
    "\\sigma": {
        "nielsen": r"\delta^{3}_{1} = (a^{3}_{1} - y_{1}) \sigma(z^{3}_{1}) (1 - \sigma(z^{3}_{1}))",
        "ng": r"\delta^{(3)}_{1} = (a^{(3)}_{1} - y_{1}) \sigma(z^{(3)}_{1}) (1 - \sigma(z^{(3)}_{1}))",
        "qiu": r"\delta^{(2)}_{1} = (a^{(2)}_{1} - y_{1}) \sigma(z^{(2)}_{1}) (1 - \sigma(z^{(2)}_{1}))",
        "nodes": r"\delta_{21} = (y_{21} - \hat y_{1}) \sigma(z_{21}) (1 - \sigma(z_{21}))",
    },
    "f'": {
        "nielsen": r"\delta^{3}_{2} = (a^{3}_{2} - y_{2}) f'(z^{3}_{2})",
        "ng": r"\delta^{(3)}_{2} = (a^{(3)}_{2} - y_{2}) f'(z^{(3)}_{2})",
        "qiu": r"\delta^{(2)}_{2} = (a^{(2)}_{2} - y_{2}) f'(z^{(2)}_{2})",
        "nodes": r"\delta_{22} = (y_{22} - \hat y_{2}) f^{'}(z_{22})",
    },
    "\\sigma'(z)": {
        "nielsen": r"\delta^{3}_{2} = (a^{3}_{2} - y_{2}) \sigma'(z^{3}_{2})",
        "ng": r"\delta^{(3)}_{2} = (a^{(3)}_{2} - y_{2}) \sigma'(z^{(3)}_{2})",
        "qiu": r"\delta^{(2)}_{2} = (a^{(2)}_{2} - y_{2}) \sigma'(z^{(2)}_{2})",
        "nodes": r"\delta_{22} = (y_{22} - \hat y_{2}) \sigma'(z_{22})",
    },
    "\\odot and ^T": {
        "nielsen": r"\delta^{2} = ((W^{3})^T \delta^{3}) \odot \sigma'(z^{2})",
        "ng": r"\delta^{(2)} = ((\Theta^{(2)})^T \delta^{(3)}) \odot g'(z^{(2)})",
        "qiu": r"\delta^{(1)} = f'(z^{(1)}) \odot ((W^{(2)})^T \delta^{(2)})",
        "nodes": r"\delta_{1} = (W_{1}^T \delta_{2}) \odot f'(z_{1})",
    },
    "^\\top": {
        "nielsen": r"\delta^{2} = ((w^{3})^\top \delta^{3}) \odot \sigma'(z^{2})",
        "ng": r"\delta^{(2)} = ((\Theta^{(2)})^{\top} \delta^{(3)}) \odot g'(z^{(2)})",
        "qiu": r"\delta^{(1)} = f'(z^{(1)}) \odot ((W^{(2)})^{\top} \delta^{(2)})",
        "nodes": r"\delta_{1} = (W_{1}^\top \delta_{2}) \odot f'(z_{1})",
    },
    "\\sum_k": {
        "nielsen": r"\delta^{2}_{1} = \sum_k w^{3}_{k1} \delta^{3}_{k} \sigma'(z^{2}_{1})",
        "ng": r"\delta^{(2)}_{1} = \sum_k \Theta^{(2)}_{k1} \delta^{(3)}_{k} g'(z^{(2)}_{1})",
        "qiu": r"\delta^{(1)}_{1} = \sum_{k=1}^{m^{(2)}} W^{(2)}_{k1} \delta^{(2)}_{k} f'(z^{(1)}_{1})",
        "nodes": r"\delta_{11} = \sum_{k} w_{3k} \delta_{2,k-5} f'(z_{11})",
    },
    "\\hat y": {
        "nielsen": r"\delta^{3}_{1} = (\hat y_{1} - y_{1}) \sigma'(z^{3}_{1})",
        "ng": r"\delta^{(3)}_{1} = (\hat{y}_{1} - y_{1}) g'(z^{(3)}_{1})",
        "qiu": r"\delta^{(2)} = (\hat{y} - y) \odot f'(z^{(2)})",
        "nodes": r"\delta_{2} = (y_{2} - \hat y) \odot f'(z_{2})",
    },
    "\\cdot and \\times": {
        "nielsen": r"\frac{\partial C}{\partial w^{3}_{21}} = \delta^{3}_{2} \cdot a^{2}_{1} \times 1",
        "ng": r"\frac{\partial J}{\partial \Theta^{(2)}_{21}} = \delta^{(3)}_{2} \cdot a^{(2)}_{1}",
        "qiu": r"\frac{\partial \mathcal{L}}{\partial W^{(2)}} = \delta^{(2)} \times (a^{(1)})^T",
        "nodes": r"\frac{\partial C}{\partial W_{1}} = ((y_{2} - \hat y) \odot f'(z_{2})) \times y_{1}^T",
    },
    ".*": {
        "nielsen": r"\delta^{2} = (W^{3})^T \delta^{3} .* \sigma'(z^{2})",
        "ng": r"\delta^{(2)} = (\Theta^{(2)})^T \delta^{(3)} .* g'(z^{(2)})",
        "qiu": r"\delta^{(1)} = f'(z^{(1)}) .* (W^{(2)})^T \delta^{(2)}",
        "nodes": r"\delta_{1} = W_{1}^T \delta_{2} .* f'(z_{1})",
    },
    "\\frac and \\partial chain": {
        "nielsen": r"\frac{\partial C}{\partial b^{3}_{1}} = \frac{\partial C}{\partial a^{3}_{1}} "
                   r"\frac{\partial a^{3}_{1}}{\partial z^{3}_{1}} \frac{\partial z^{3}_{1}}{\partial b^{3}_{1}}",
        "ng": r"\frac{\partial J}{\partial \Theta^{(2)}_{10}} = \frac{\partial J}{\partial z^{(3)}_{1}}",
        "qiu": r"\frac{\partial \mathcal{L}}{\partial b^{(2)}_{1}} = \frac{\partial \mathcal{L}}{\partial a^{(2)}_{1}} "
               r"\frac{\partial a^{(2)}_{1}}{\partial z^{(2)}_{1}}",
        "nodes": r"\frac{\partial C}{\partial w_{46}} = \frac{\partial C}{\partial y_{21}} "
                 r"\frac{\partial y_{21}}{\partial z_{21}} \frac{\partial z_{21}}{\partial w_{46}}",
    },
    "plain text": {
        "nielsen": "delta^3_1 = (a^3_1 - y_1)*sigma(z^3_1)*(1-sigma(z^3_1))",
        "ng": "dJ/dTheta^(2)_12 = (a^(3)_1 - y_1)*sigma(z^(3)_1)*(1-sigma(z^(3)_1))*a^(2)_2",
        "qiu": "delta^(1)_2 = sum_k(W^(2)_k2*delta^(2)_k)*sigma(z^(1)_2)*(1-sigma(z^(1)_2))",
        "nodes": "delta_21 = (y_21 - yhat_1)*sigma(z_21)*(1-sigma(z_21))",
    },
}
for form, by_notation in GENERIC.items():
    for notation_name, text in by_notation.items():
        FORMS[(form, notation_name)] = text


@pytest.mark.parametrize("form, notation", sorted(FORMS), ids=lambda v: str(v))
def test_each_input_form_reads_right_and_its_sign_error_is_caught(form, notation):
    text = FORMS[(form, notation)]
    right = check(text, notation=notation)
    assert right.status == "correct" and right.method == "exact", (text, right)
    wrong = check(negated(text), notation=notation)
    assert wrong.status == "incorrect" and "sign" in wrong.diagnosis, (text, wrong)


# ------------------------------------------------------------------ BP1-BP4, right and wrong, in each notation

BP = {
    "nielsen": {
        "BP1": (r"\delta^{3} = \nabla_a C \odot \sigma'(z^{3})", r"\delta^{3} = \nabla_a C"),
        "BP2": (r"\delta^{2} = ((w^{3})^T \delta^{3}) \odot \sigma'(z^{2})",
                r"\delta^{2} = ((w^{3})^T \delta^{3}) \odot \sigma'(a^{2})"),
        "BP3": (r"\frac{\partial C}{\partial b^{2}_{3}} = \delta^{2}_{3}", r"\frac{\partial C}{\partial b^{2}_{3}} = -\delta^{2}_{3}"),
        "BP4": (r"\frac{\partial C}{\partial w^{2}_{31}} = a^{1}_{1} \delta^{2}_{3}",
                r"\frac{\partial C}{\partial w^{2}_{31}} = a^{2}_{1} \delta^{2}_{3}"),
    },
    "ng": {
        "BP1": (r"\delta^{(3)}_{2} = (a^{(3)}_{2} - y_{2}) g'(z^{(3)}_{2})", r"\delta^{(3)}_{2} = 2(a^{(3)}_{2} - y_{2}) g'(z^{(3)}_{2})"),
        "BP2": (r"\delta^{(2)} = (\Theta^{(2)})^T \delta^{(3)} \odot g'(z^{(2)})",
                r"\delta^{(2)} = (\Theta^{(2)})^T \delta^{(3)}"),
        "BP3": (r"\frac{\partial J}{\partial \Theta^{(1)}_{30}} = \delta^{(2)}_{3}",
                r"\frac{\partial J}{\partial \Theta^{(1)}_{30}} = \frac{1}{2}\delta^{(2)}_{3}"),
        "BP4": (r"\frac{\partial J}{\partial \Theta^{(1)}} = \delta^{(2)} (a^{(1)})^T",
                r"\frac{\partial J}{\partial \Theta^{(1)}} = 2\delta^{(2)} (a^{(1)})^T"),
    },
    "qiu": {
        "BP1": (r"\delta^{(2)} = \nabla_{a^{(2)}} \mathcal{L} \odot f'(z^{(2)})", r"\delta^{(2)} = -\nabla_{a^{(2)}} \mathcal{L} \odot f'(z^{(2)})"),
        "BP2": (r"\delta^{(1)}_{3} = f'(z^{(1)}_{3}) \sum_k W^{(2)}_{k3} \delta^{(2)}_{k}",
                r"\delta^{(1)}_{3} = f'(z^{(1)}_{3}) W^{(2)}_{13} \delta^{(2)}_{1}"),
        "BP3": (r"\frac{\partial \mathcal{L}}{\partial b^{(1)}} = \delta^{(1)}", r"\frac{\partial \mathcal{L}}{\partial b^{(1)}} = \delta^{(2)}"),
        "BP4": (r"\frac{\partial \mathcal{L}}{\partial W^{(1)}} = \delta^{(1)} x^T", r"\frac{\partial \mathcal{L}}{\partial W^{(1)}} = x (\delta^{(1)})^T"),
    },
    "nodes": {
        "BP1": (r"\delta_{2} = (y_{2} - \hat{y}) \odot f'(z_{2})", r"\delta_{2} = (y_{2} - \hat{y})"),
        "BP2": (r"\delta_{12} = (w_{47} \delta_{22} + w_{46} \delta_{21}) f'(z_{12})",
                r"\delta_{12} = (w_{47} \delta_{22} + w_{46} \delta_{21}) f'(y_{12})"),
        "BP3": (r"\frac{\partial C}{\partial b_{22}} = \delta_{22}", r"\frac{\partial C}{\partial b_{22}} = \delta_{21}"),
        "BP4": (r"\frac{\partial C}{\partial w_{25}} = \hat x_{2} \delta_{13}", r"\frac{\partial C}{\partial w_{25}} = \hat x_{1} \delta_{13}"),
    },
}


@pytest.mark.parametrize("notation", sorted(BP))
@pytest.mark.parametrize("equation", ["BP1", "BP2", "BP3", "BP4"])
def test_bp_equations_right_and_wrong_in_each_notation(notation, equation):
    right, wrong = BP[notation][equation]
    assert check(right, notation=notation).status == "correct"
    verdict = check(wrong, notation=notation)
    assert verdict.status == "incorrect", wrong


# ------------------------------------------------------------------ every listed mistake, by name

TANH = sbp.Network([2, 3, 2], activation="tanh")
L2 = sbp.Network([2, 3, 2], l2=True)
MEAN = sbp.Network([2, 3, 2], mean=True)
DEEP = sbp.Network([2, 2, 2, 2])
WIDE = sbp.Network([2, 3, 3, 2])

MISTAKES = [
    ("missing_transpose", NET, r"\delta^{2} = (W^{3}\delta^{3}) \odot \sigma'(z^{2})"),          # shapes disagree
    ("missing_transpose", SQUARE, r"\delta^{2} = (W^{3}\delta^{3}) \odot \sigma'(z^{2})"),       # shapes agree
    ("missing_transpose", NET, r"\frac{\partial C}{\partial W^{3}} = a^{2} (\delta^{3})^T"),
    ("swapped_indices", SQUARE, r"\delta^{2}_{1} = \sum_k w^{3}_{1k}\delta^{3}_{k} \sigma'(z^{2}_{1})"),
    ("swapped_indices", NET, r"\frac{\partial C}{\partial w^{3}_{12}} = \delta^{3}_{2} a^{2}_{1}"),
    ("sign", NET, r"\delta^{3}_{1} = (y_{1} - a^{3}_{1}) \sigma'(z^{3}_{1})"),
    ("factor_2", NET, r"\delta^{3}_{1} = 2(a^{3}_{1} - y_{1}) \sigma'(z^{3}_{1})"),
    ("factor_half", NET, r"\delta^{3}_{1} = \frac12(a^{3}_{1} - y_{1}) \sigma'(z^{3}_{1})"),
    ("factor_1_over_n", MEAN, r"\delta^{3}_{1} = \frac{1}{n}(a^{3}_{1} - y_{1}) \sigma'(z^{3}_{1})"),
    ("regulariser_without_1_over_n", L2,
     r"\frac{\partial C}{\partial w^{3}_{12}} = \delta^{3}_{1} a^{2}_{2} + \lambda w^{3}_{12}"),
    ("missing_activation_derivative", NET, r"\delta^{3}_{1} = a^{3}_{1} - y_{1}"),
    ("derivative_at_activation", NET, r"\delta^{3}_{1} = (a^{3}_{1} - y_{1})\sigma'(a^{3}_{1})"),
    ("sigmoid_derivative_for_other_activation", TANH, r"\delta^{3}_{1} = (a^{3}_{1} - y_{1}) a^{3}_{1}(1-a^{3}_{1})"),
    ("product_for_hadamard", NET, r"\delta^{2} = ((W^{3})^T\delta^{3}) \sigma'(z^{2})"),
    ("hadamard_for_product", NET, r"\delta^{2} = ((W^{3})^T \odot \delta^{3}) \odot \sigma'(z^{2})"),
    ("missing_sum", NET, r"\delta^{2}_{1} = w^{3}_{11}\delta^{3}_{1} \sigma'(z^{2}_{1})"),
    ("wrong_layer", NET, r"\frac{\partial C}{\partial w^{3}_{12}} = \delta^{3}_{1} a^{3}_{2}"),
    ("wrong_layer_delta", NET, r"\frac{\partial C}{\partial w^{2}_{12}} = \delta^{3}_{1} a^{1}_{2}"),
    ("missing_regularisation", L2, r"\frac{\partial C}{\partial w^{3}_{12}} = \delta^{3}_{1} a^{2}_{2}"),
    # the error's own weights instead of those of the next layer; on 2-3-2 the sum is read where both exist
    ("wrong_layer", DEEP, r"\delta^{2}_{1} = \sigma'(z^{2}_{1}) \sum_k w^{2}_{k1} \delta^{3}_{k}"),
    ("wrong_layer", NET, r"\delta^{2}_{1} = \sigma'(z^{2}_{1}) \sum_k w^{2}_{k1} \delta^{3}_{k}"),
    ("wrong_layer_delta", WIDE, r"\frac{\partial C}{\partial w^{3}_{11}} = \delta^{2}_{1} a^{2}_{1}"),
    ("factor_1_over_n", WIDE, r"\frac{\partial C}{\partial w^{3}_{11}} = \frac{1}{n}\delta^{3}_{1} a^{2}_{1}"),
    # the activation of the neuron the weight leads into, a^{l-1}_j, where a^{l-1}_k belongs
    ("swapped_activation_index", NET, r"\frac{\partial C}{\partial w^{3}_{12}} = \delta^{3}_{1} a^{2}_{1}"),
    # another neuron in any factor: the error, or σ' of a hidden neuron
    ("wrong_neuron", NET, r"\frac{\partial C}{\partial w^{3}_{12}} = \delta^{3}_{2} a^{2}_{2}"),
    ("wrong_neuron", NET, r"\delta^{2}_{1} = \sum_k w^{3}_{k1} \delta^{3}_{k} \sigma'(z^{2}_{2})"),
    # two columns of one shape: the transpose that gives ∂C/∂W its shape, not ⊙
    ("missing_transpose", SQUARE, r"\frac{\partial C}{\partial w^{2}} = \delta^{2} x"),
]


@pytest.mark.parametrize("name, network, text", MISTAKES, ids=[f"{m[0]}-{i}" for i, m in enumerate(MISTAKES)])
def test_each_listed_mistake_is_diagnosed_by_name_with_the_right_formula(name, network, text):
    verdict = check(text, network)
    assert verdict.status == "incorrect"
    assert name in verdict.diagnosis, verdict.diagnosis
    shown = render_verdicts(derivation(network), [verdict])
    corrected = C.corrected_form(derivation(network), verdict.claim.target)
    assert f"the right formula: {printing.text(corrected, notation='nielsen', sizes=network.sizes)}" in shown
    # the formula shown as the correction is right: read back, it is proven
    lhs = split_chain(text)[0]
    written = printing.latex(corrected, notation="nielsen", sizes=network.sizes)
    assert check(f"{lhs} = {written}", network).status == "correct", written


@pytest.mark.parametrize("text, written, right, name", [
    (r"\frac{\partial C}{\partial w^{3}_{12}} = \delta^{3}_{1} a^{2}_{1}", "a²₁", "a²₂", "swapped_activation_index"),
    (r"\frac{\partial C}{\partial w^{3}_{12}} = \delta^{3}_{2} a^{2}_{2}", "δ³₂", "δ³₁", "wrong_neuron"),
    (r"\delta^{2}_{1} = \sum_k w^{3}_{k1} \delta^{3}_{k} \sigma'(z^{2}_{2})", "z²₂", "z²₁", "wrong_neuron"),
])
def test_a_wrong_neuron_names_the_quantity_written_and_the_one_that_belongs(text, written, right, name):
    verdict = check(text)
    assert verdict.diagnosis == (name,)
    shown = render_verdicts(derivation(NET), [verdict])
    assert f"{written} stands where {right} belongs" in shown and "no common mistake" not in shown
    assert f"写成了 {written}，应为 {right}" in render_verdicts(derivation(NET), [verdict], lang="zh")
    data = __import__("json").loads(render_verdicts(derivation(NET), [verdict], fmt="json"))
    assert data["results"][0]["diagnosis"] == [name] and len(data["results"][0]["wrong_neurons"]) == 1


@pytest.mark.parametrize("network", [SQUARE, sbp.Network([3, 3, 2]), NET], ids=["2-2-2", "3-3-2", "2-3-2"])
def test_the_named_mistake_agrees_with_the_right_formula_printed(network):
    # δ x for ∂C/∂W: whatever the sizes, the repair is the transpose of the right formula δ xᵀ, and it is right
    verdict = check(r"\frac{\partial C}{\partial w^{2}} = \delta^{2} x", network)
    assert (verdict.diagnosis, verdict.repaired) == (("missing_transpose",), "exact")
    shown = render_verdicts(derivation(network), [verdict])
    assert "a transpose is missing" in shown and "the right formula: δ² xᵀ" in shown and "⊙" not in shown


@pytest.mark.parametrize("cost, right", [("cross_entropy", "a³ - y"), ("quadratic", "J³ᵀ ∇_a³ C")])
def test_a_softmax_output_prints_its_right_formula_with_the_notation_printer(cost, right):
    network = sbp.Network([2, 4, 2], activation=["tanh", "softmax"], cost=cost)
    verdict = check(r"\delta^{3} = (a^{3} - y) \odot \sigma'(z^{3})", network)
    assert verdict.status == "incorrect"
    for lang in ("en", "zh"):
        shown = render_verdicts(derivation(network), [verdict], lang=lang)
        assert right in shown and "Matrix" not in shown, shown
    if cost == "cross_entropy":                   # the formula printed is right: read back, it is proven
        assert check(r"\delta^{3} = a^{3} - y", network).method == "exact"


def test_a_power_of_tanh_as_notes_write_it_is_read_and_proven():
    network = sbp.Network([2, 4, 2], activation="tanh")
    verdict = check(r"\delta^{2}_{4} = \sum_k w^{3}_{k4} \delta^{3}_{k} (1-\tanh^2(z^{2}_{4}))", network)
    assert (verdict.status, verdict.method) == ("correct", "exact")
    assert check(r"\delta^{2}_{4} = \sum_k w^{3}_{k4} \delta^{3}_{k} (1-\tanh^2(z^{2}_{3}))", network).diagnosis == \
        ("wrong_neuron",)


def test_a_sum_whose_symbols_disagree_about_its_range_is_read_where_all_exist_and_says_so():
    text = r"\delta^{2}_{1} = \sigma'(z^{2}_{1}) \sum_k w^{2}_{k1} \delta^{3}_{k}"
    with pytest.raises(sbp.errors.SpecError, match="no single range"):
        parse_claim(text, NET)                    # read strictly, it is refused
    verdict = check(text)
    (narrowed,) = verdict.claim.narrowed
    assert narrowed.index == "k" and narrowed.common == "1..2"
    assert narrowed.symbols == (("w^{2}_{k1}", "1..3"), ("\\delta^{3}_{k}", "1..2"))
    assert "the sum over k has no single range (w^{2}_{k1} gives k in 1..3, \\delta^{3}_{k} gives k in 1..2): " \
        "it is read over k in 1..2" in render_verdicts(derivation(NET), [verdict])
    assert "对 k 的求和没有统一的范围" in render_verdicts(derivation(NET), [verdict], lang="zh")
    assert check(r"\delta^{2}_{1} = \sigma'(z^{2}_{1}) \sum_k w^{3}_{k1} \delta^{3}_{k}").claim.narrowed == ()


@pytest.mark.parametrize("text, network, fitted, unfitted", [
    # a weight's gradient with swapped indices is no error collecting weights
    (r"\frac{\partial C}{\partial w^{3}_{12}} = \delta^{3}_{2} a^{2}_{1}", NET,
     ("∂C/∂w_jk is the error of neuron j", "∂C/∂w_jk 等于这条连线所进入的第 j 个神经元的误差"),
     ("collects w_kj", "收集的是 w_kj")),
    # the gradient of a weight matrix has no weights in it to transpose
    (r"\frac{\partial C}{\partial w^{2}} = x \delta^{2}", NET,
     ("the error of layer l as a column times the activations of layer l-1 as a row", "排法与 W 相同"),
     ("the weights should enter transposed", "权重矩阵应当以转置的形式出现")),
    # an error with the wrong layer's weights is no activation of the wrong layer
    (r"\delta^{2}_{1} = \sigma'(z^{2}_{1}) \sum_k w^{2}_{k1} \delta^{3}_{k}", DEEP,
     ("the weights are taken from the wrong layer", "权重取错了层"),
     ("an activation is taken from the wrong layer", "激活值取错了层")),
    # δ of a layer: the weights of the next layer enter transposed
    (r"\delta^{2} = (W^{3}\delta^{3}) \odot \sigma'(z^{2})", NET,
     ("the weights of the next layer enter transposed", "下一层的权重矩阵应当以转置的形式出现"), ("laid out like W",)),
])
def test_each_mistake_is_worded_for_the_quantity_the_claim_names(text, network, fitted, unfitted):
    verdict = check(text, network)
    shown = render_verdicts(derivation(network), [verdict]) + render_verdicts(derivation(network), [verdict],
                                                                               lang="zh")
    for words in fitted:
        assert words in shown
    for words in unfitted:
        assert words not in shown


def test_a_correct_claim_has_no_diagnosis_and_a_mutant_name_is_a_listed_one():
    assert check(r"\delta^{3}_{1} = (a^{3}_{1} - y_{1}) \sigma'(z^{3}_{1})").diagnosis == ()
    listed = {name for name, _, _ in MISTAKES} | {"wrong_shape"}
    for key in C.mutations(derivation(L2), parse_claim(r"\delta^{2}_{1} = 0", L2).target):
        assert C.mistake_name(key) in listed


# ------------------------------------------------------------------ how a verdict was established


def test_correct_says_exact_when_proven():
    verdict = check(r"\delta^{3}_{1} = (a^{3}_{1} - y_{1}) \sigma'(z^{3}_{1})")
    assert (verdict.status, verdict.method, verdict.reason) == ("correct", "exact", None)
    shown = render_verdicts(derivation(NET), [verdict])
    assert "proven exactly" in shown and "numeric" not in shown


def test_correct_by_numbers_only_names_the_points_and_is_never_called_a_proof(monkeypatch):
    monkeypatch.setattr(C, "_prove", lambda *arguments: False)  # the rewriting shows no identity
    verdict = check(r"\delta^{3}_{1} = (a^{3}_{1} - y_{1}) \sigma'(z^{3}_{1})", points=5)
    assert (verdict.status, verdict.method, verdict.points, verdict.reason) == ("correct", "numeric", 5, "not_proven")
    for lang in ("en", "zh"):
        shown = render_verdicts(derivation(NET), [verdict], lang=lang)
        assert "5" in shown
        assert ("proven" not in shown.replace("not a proof", "")) if lang == "en" else ("并不构成证明" in shown)
    assert "at 5 random points, which is not a proof" in render_verdicts(derivation(NET), [verdict])


def test_undecided_only_past_the_bound_of_terms_with_the_numeric_evidence():
    # the bound counts terms, never seconds: the same claim and bound give the same verdict at any load
    claim = r"\frac{\partial C}{\partial w^{3}_{12}} = (a^{3}_{1} - y_{1}) a^{3}_{1} a^{2}_{2} - (a^{3}_{1} - y_{1}) a^{3}_{1} a^{3}_{1} a^{2}_{2}"
    verdict = check(claim, max_terms=1)
    assert (verdict.status, verdict.method, verdict.reason, verdict.max_terms) == ("undecided", "numeric", "work", 1)
    shown = render_verdicts(derivation(NET), [verdict])
    assert "would expand to more than 1 terms" in shown and "agree at 3 random points" in shown
    assert check(claim).status == "correct"
    # a wrong claim is settled by its counterexample whatever the bound
    assert check(r"\frac{\partial C}{\partial w^{3}_{12}} = 0", max_terms=1).status == "incorrect"


def test_a_counterexample_is_a_point_where_the_two_sides_differ():
    verdict = check(r"\delta^{3}_{1} = 2(a^{3}_{1} - y_{1}) \sigma'(z^{3}_{1})")
    example = verdict.counterexample
    assert set(example.params) == set(derivation(NET).params)
    assert len(example.x) == 2 and len(example.y) == 2
    assert abs(example.claimed - 2 * example.actual) < 1e-30  # twice the right value at that point
    # the right value there is the oracle's: finite differences of the cost, computed independently
    from symbackprop.proof.oracle import CostOracle

    key_b = ("b", 2, 1)  # δ^3_1 = ∂C/∂b^3_1
    fd = CostOracle(NET).gradient(key_b, example.params, example.x, example.y)
    assert abs(float(fd) - float(example.actual)) < 1e-8


def test_a_matrix_counterexample_is_printed_by_the_text_printer():
    verdict = check(r"\frac{\partial C}{\partial W^{3}} = 2\delta^{3} (a^{2})^T")
    shown = render_verdicts(derivation(NET), [verdict])
    assert "Matrix(" not in shown
    line = next(l for l in shown.splitlines() if "the formula gives:" in l)
    rows = line.split(":", 1)[1].strip()
    assert rows.startswith("[") and rows.count(";") == 1 and rows.count(",") == 4  # 2 rows of 3 entries


def test_the_dimensions_decide_without_a_point():
    verdict = check(r"\delta^{2} = (W^{3}\delta^{3}) \odot \sigma'(z^{2})")
    assert (verdict.status, verdict.method, verdict.counterexample) == ("incorrect", "dimensions", None)
    assert verdict.diagnosis == ("missing_transpose",)
    assert verdict.mismatches == (Mismatch("missing_transpose", "multiply", (2, 3), (2, 1), "W^{3}", r"\delta^{3}"),)
    shown = render_verdicts(derivation(NET), [verdict])
    assert "the dimensions disagree" in shown and r"cannot multiply 2×3 (W^{3}) and 2×1 (\delta^{3})" in shown
    assert "the right formula: w³ᵀ δ³ ⊙ σ'(z²)" in shown
    # no repair fits: still a wrong formula, not unreadable text
    verdict = check(r"\delta^{2} = \delta^{3} + \delta^{2}")
    assert (verdict.status, verdict.diagnosis) == ("incorrect", ("wrong_shape",))


def test_symbols_the_network_gives_no_value_are_given_values_at_the_point():
    verdict = check(r"\delta^{3}_{1} = (a^{3}_{1} - y_{1}) \sigma'(z^{3}_{1}) + \eta")
    assert verdict.status == "incorrect"
    eta = next(k for k in verdict.counterexample.l2 if str(k) == "eta")
    shown_eta = printing.text(eta, notation="nielsen", sizes=NET.sizes)
    assert f"constants: {shown_eta} = " in render_verdicts(derivation(NET), [verdict])


def test_the_same_claim_gives_the_same_answer():
    text = r"\frac{\partial C}{\partial W^{3}} = 2\delta^{3} (a^{2})^T"
    assert render_verdicts(derivation(NET), [check(text)]) == render_verdicts(derivation(NET), [check(text)])


# ------------------------------------------------------------------ chain-rule factors


BP2_CHAIN = (r"\delta^{2}_{1} = \frac{\partial C}{\partial z^{3}_{1}}\frac{\partial z^{3}_{1}}{\partial z^{2}_{1}}"
             r" + \frac{\partial C}{\partial z^{3}_{2}}\frac{\partial z^{3}_{2}}{\partial z^{2}_{1}}")


def test_the_bp2_chain_through_the_next_layers_weighted_inputs_is_proven():
    assert check(BP2_CHAIN).status == "correct" and check(BP2_CHAIN).method == "exact"
    # through the activation: ∂z^{3}_k/∂a^{2}_1 = w^{3}_{k1}, ∂a^{2}_1/∂z^{2}_1 = σ'(z^{2}_1)
    via_a = (r"\delta^{2}_{1} = (\frac{\partial C}{\partial z^{3}_{1}}\frac{\partial z^{3}_{1}}{\partial a^{2}_{1}}"
             r" + \frac{\partial C}{\partial z^{3}_{2}}\frac{\partial z^{3}_{2}}{\partial a^{2}_{1}})"
             r"\frac{\partial a^{2}_{1}}{\partial z^{2}_{1}}")
    assert check(via_a).status == "correct"
    # the same chain with one path dropped, or with the indices of the factor crossed, is caught
    one_path = check(BP2_CHAIN.split(" + ")[0])
    assert one_path.status == "incorrect" and one_path.diagnosis == ("missing_sum",)
    crossed = check(BP2_CHAIN.replace(r"\partial z^{3}_{2}}{\partial z^{2}_{1}}", r"\partial z^{3}_{1}}{\partial z^{2}_{2}}"))
    assert crossed.status == "incorrect"


def test_a_factor_across_layers_is_summed_over_every_path():
    # ∂z^{3}_k/∂w^{2}_{11} = w^{3}_{k1} σ'(z^{2}_1) a^{1}_1: two layers apart
    text = (r"\frac{\partial C}{\partial w^{2}_{11}} = \frac{\partial C}{\partial z^{3}_{1}}"
            r"\frac{\partial z^{3}_{1}}{\partial w^{2}_{11}} + \frac{\partial C}{\partial z^{3}_{2}}"
            r"\frac{\partial z^{3}_{2}}{\partial w^{2}_{11}}")
    assert check(text).status == "correct"
    assert check(text.replace("w^{2}_{11}}", "w^{2}_{21}}", 2)).status == "incorrect"


def test_each_forward_factor_is_the_derivative_of_the_composed_quantity():
    """Oracle: ∂(z or a)/∂(w, b or x) from ``diff`` of the fully composed quantity, at a random point."""
    import random

    from symbackprop.proof.oracle import named_values, random_point, realise
    from symbackprop.model.symbols import Partial

    for network in (NET, sbp.Network([2, 2, 2], activation=["tanh", "softmax"], cost="cross_entropy")):
        d = derivation(network)
        fw = d.forward
        point = random_point(d, random.Random(3))
        known = named_values(d, point.substitution(d))
        variables = [fw.q(*key) for key in d.params] + list(fw.inputs)
        quantities = [fw.q(kind, l, j) for l in range(1, network.depth + 1) for kind in ("z", "a")
                      for j in range(1, network.sizes[l] + 1)]
        nonzero = 0
        for of in quantities:
            composed = fw.composed(of)
            for wrt in variables:
                factor = C._partial_value(d, Partial(of, wrt))
                oracle = sp.diff(composed, wrt)
                value, expected = (sp.N(realise(e).xreplace(known), 30) for e in (factor, oracle))
                assert abs(value - expected) < 1e-25, (network, of, wrt, factor)
                nonzero += expected != 0
        assert nonzero > 40  # the factors across layers (∂z³/∂x, ∂a³/∂w²) are among them and are not 0


def test_a_softmax_output_chains_through_its_jacobian():
    network = sbp.Network([2, 3, 2], activation=["sigmoid", "softmax"], cost="cross_entropy")
    text = (r"\delta^{3}_{1} = \frac{\partial C}{\partial a^{3}_{1}}\frac{\partial a^{3}_{1}}{\partial z^{3}_{1}}"
            r" + \frac{\partial C}{\partial a^{3}_{2}}\frac{\partial a^{3}_{2}}{\partial z^{3}_{1}}")
    assert check(text, network).status == "correct"
    assert check(text.split(" + ")[0], network).status == "incorrect"


def test_a_factor_that_is_no_derivative_of_the_forward_pass_is_refused():
    with pytest.raises(sbp.SpecError, match="expected a weight, a bias, an input"):
        check(r"\delta^{3}_{1} = \frac{\partial C}{\partial y_{1}}")


# ------------------------------------------------------------------ regularisation constants

FIXED_L2 = sbp.Network([2, 3, 2], l2=0.1)


def test_lambda_is_the_networks_strength_when_it_is_a_number():
    right = check(r"\frac{\partial C}{\partial W^{3}} = \delta^{3}(a^{2})^T + \frac{\lambda}{n}W^{3}", FIXED_L2)
    assert (right.status, right.method) == ("correct", "exact")
    assert check(r"\frac{\partial C}{\partial w^{3}_{12}} = \delta^{3}_{1} a^{2}_{2} + \frac{\lambda}{n} w^{3}_{12}",
                 FIXED_L2).status == "correct"
    wrong = check(r"\frac{\partial C}{\partial W^{3}} = \delta^{3}(a^{2})^T + \frac{2\lambda}{n}W^{3}", FIXED_L2)
    assert wrong.status == "incorrect"
    # without regularisation λ is free: a term in λ is wrong at a random λ
    assert check(r"\frac{\partial C}{\partial W^{3}} = \delta^{3}(a^{2})^T + \frac{\lambda}{n}W^{3}").status \
        == "incorrect"


def test_lambda_w_for_lambda_over_n_w_is_its_own_mistake_in_both_languages():
    for network in (L2, FIXED_L2):
        verdict = check(r"\frac{\partial C}{\partial W^{3}} = \delta^{3}(a^{2})^T + \lambda W^{3}", network)
        assert verdict.diagnosis == ("regulariser_without_1_over_n",), verdict.diagnosis
        en = render_verdicts(derivation(network), [verdict])
        assert "the regularisation term is written λw" in en and "training examples" not in en
        assert "正则化项写成了 λw" in render_verdicts(derivation(network), [verdict], lang="zh")


# ------------------------------------------------------------------ the cost itself


def test_a_claim_about_the_cost_is_checked():
    assert check(r"C = \frac{1}{2}((a^{3}_{1} - y_{1})^2 + (a^{3}_{2} - y_{2})^2)").status == "correct"
    verdict = check(r"C = \frac{1}{2}((a^{3}_{1} - y_{1})^2 - (a^{3}_{2} - y_{2})^2)")
    assert verdict.status == "incorrect" and verdict.diagnosis == ("subtracted_term",)
    assert "a term of the sum over the outputs is subtracted" in render_verdicts(derivation(NET), [verdict])
    assert check(r"C = (a^{3}_{1} - y_{1})^2 + (a^{3}_{2} - y_{2})^2").diagnosis == ("factor_2",)
    assert check(r"C = \frac{1}{2}((a^{3}_{1} - y_{1})^2 + (a^{3}_{2} - y_{2})^2)", L2).diagnosis \
        == ("missing_regularisation",)


@pytest.mark.parametrize("written", [r"\|a^{3}-y\|^2", r"\left\| a^{3} - y \right\|^2"])
def test_the_quadratic_cost_written_as_a_squared_norm_is_proven_and_its_factor_2_named(written):
    right = check(rf"C = \frac{{1}}{{2}}{written}")
    assert right.status == "correct" and right.method == "exact", right
    wrong = check(rf"C = {written}")
    assert wrong.status == "incorrect" and wrong.diagnosis == ("factor_2",), wrong
    cost = check(r"\mathcal{L}(\mathbf{y}, \hat{\mathbf{y}}) = \frac{1}{2}\|\hat{\mathbf{y}} - \mathbf{y}\|^2", notation="qiu")
    assert cost.status == "correct" and cost.method == "exact", cost
    assert check(r"C = \frac{1}{2}\|a^{3}+y\|^2").status == "incorrect"


# ------------------------------------------------------------------ shapes, and the repaired formula


def test_a_repaired_formula_that_is_still_wrong_gets_a_counterexample():
    verdict = check(r"\delta^{2} = (W^{3}\delta^{3}) \odot \sigma(z^{2})")   # σ for σ', and no transpose
    assert (verdict.status, verdict.method, verdict.repaired) == ("incorrect", "dimensions", "incorrect")
    example = verdict.counterexample
    assert example is not None and not C._agree(example.claimed, example.actual)
    for lang, said in (("en", "even with the repair named below the formula is wrong"),
                       ("zh", "即使按下面指出的错误修正，公式仍然不对")):
        shown = render_verdicts(derivation(NET), [verdict], lang=lang)
        assert said in shown and ("the repaired formula gives:" in shown or "修正后的公式给出的值" in shown)


def test_a_repaired_formula_that_is_right_says_the_shapes_are_the_only_mistake():
    verdict = check(r"\delta^{2} = (W^{3}\delta^{3}) \odot \sigma'(z^{2})")
    assert (verdict.repaired, verdict.counterexample) == ("exact", None)
    assert "the formula is right (proven exactly): the shapes are its only mistake" in \
        render_verdicts(derivation(NET), [verdict])
    assert "唯一的问题出在维度上" in render_verdicts(derivation(NET), [verdict], lang="zh")


def test_a_power_of_a_matrix_is_phrased_as_such():
    verdict = check(r"\delta^{2} = ((\delta^{2})^T)^{2}")          # a column vector's power is element-wise
    assert "the base is 1×3, not a scalar, so it cannot be raised to a power" in \
        render_verdicts(derivation(NET), [verdict])
    assert "的底数是 1×3 的矩阵，不是标量，不能作为底数求幂" in render_verdicts(derivation(NET), [verdict], lang="zh")


@pytest.mark.parametrize("network, notation, text", [
    # tanh' = 1 - a², written as a power of the activation vector
    (sbp.Network([3, 4, 2], activation="tanh"), "qiu",
     r"\delta^{(1)} = (W^{(2)})^T \delta^{(2)} \odot (1-(a^{(1)})^2)"),
    # seed 003: ∂J/∂a = (a - y) / (a - a²), element by element, for the sigmoid and the cross-entropy
    (sbp.Network([3, 4, 2], cost="binary_cross_entropy"), "ng",
     r"\delta^{(3)}=\frac{a^{(3)}-y}{a^{(3)}-(a^{(3)})^2}\odot a^{(3)} \odot (1-a^{(3)})"),
])
def test_powers_and_quotients_of_vectors_are_read_element_wise(network, notation, text):
    assert check(text, network, notation).status == "correct"
    assert check(text.replace("^2", "^3"), network, notation).status == "incorrect"


# ------------------------------------------------------------------ documents

MARKDOWN = r"""# Backpropagation by hand

The output error, element by element:

$$
\delta^{3}_{1} = \frac{\partial C}{\partial a^{3}_{1}} \sigma'(z^{3}_{1}) = (a^{3}_{1} - y_{1}) \sigma'(z^{3}_{1})
$$

A slip when the hidden error was written out:

$$
\delta^{2}_{1} = \sum_k w^{3}_{k1} \delta^{3}_{k}
$$

$$
z^{2} = W^{2} x + b^{2}
$$
"""

LATEX = r"""\section{Weights of the last layer}
\begin{align}
\frac{\partial C}{\partial w^{3}_{21}} &= \delta^{3}_{2} a^{2}_{1} \\
  &= (a^{3}_{2} - y_{2}) \sigma'(z^{3}_{2}) a^{2}_{1} \\
  &= (a^{3}_{2} - y_{2}) \sigma'(a^{3}_{2}) a^{2}_{1}
\end{align}
% \[ \delta^{3}_{1} = 0 \] is commented out
\[ \frac{\partial C}{\partial b^{3}_{1}} = \delta^{3}_{1} \]
"""


def test_check_doc_on_markdown_reports_each_claim_of_a_chain_by_line():
    results = check_document(MARKDOWN, "md", NET, derivation=derivation(NET))
    lines = [(r.line, r.status) for r in results]
    assert lines == [(6, "correct"), (6, "correct"), (12, "incorrect"), (16, "skipped")]
    assert isinstance(results[-1], Skipped)
    assert results[2].diagnosis == ("missing_activation_derivative",)
    shown = render_verdicts(derivation(NET), results)
    assert "line 12: " in shown and "2 correct, 1 incorrect, 0 undecided, 0 unreadable, 1 skipped" in shown


def test_check_doc_on_latex_finds_the_planted_wrong_line():
    results = check_document(LATEX, "tex", NET, derivation=derivation(NET))
    assert [(r.line, r.status) for r in results] == [(3, "correct"), (3, "correct"), (3, "incorrect"),
                                                     (8, "correct")]
    assert results[2].diagnosis == ("derivative_at_activation",)


def test_an_unreadable_right_hand_side_is_reported_with_its_line():
    results = check_document("$$\n\\delta^{3}_{1} = q^{3}_{1}\n$$\n", "md", NET, derivation=derivation(NET))
    assert len(results) == 1 and isinstance(results[0], Unreadable)
    assert results[0].line == 2 and "unknown symbol q^{3}_{1}" in results[0].message


# Seed 002 derives the gradients of a 2-2-2 sigmoid network without bias in the nodes notation
# (w_{ab} from node a to node b; nodes 1, 2 inputs, 3, 4 hidden, 5, 6 outputs; z_{2} = W_{1} y_{1} with
# W_{1} = [[w_{35}, w_{45}], [w_{36}, w_{46}]]). Its formulas are transcribed here in our own layout,
# with ⊙ where the seed writes * for the element-wise product. Four of its steps are wrong: the
# cost has "-" between the squares; ∂C/∂W_{1} and ∂C/∂W_{0}, written entry by entry, are laid out
# transposed; and the matrix [[w_{35}, w_{36}], [w_{45}, w_{46}]], which is W_{1}^T, is then called W_{1}.
SEED_002 = r"""## Forward pass

$$
C = \frac{1}{2}((y_{21} - \hat y_{1})^2 - (y_{22} - \hat y_{2})^2)
$$

$$
z_{2} = \begin{bmatrix} w_{35} & w_{45} \\ w_{36} & w_{46} \end{bmatrix} \times y_{1}
$$

## The last layer

$$
\frac{\partial C}{\partial w_{35}} = \frac{\partial C}{\partial y_{21}} \frac{\partial y_{21}}{\partial z_{21}} \frac{\partial z_{21}}{\partial w_{35}} = (y_{21}-\hat y_{1}) f^{'}(z_{21}) y_{11}
$$

$$
\frac{\partial C}{\partial w_{46}} = (y_{22}-\hat y_{2}) f^{'}(z_{22}) y_{12}
$$

$$
\frac{\partial C}{\partial W_{1}} = \begin{bmatrix} \frac{\partial C}{\partial w_{35}} & \frac{\partial C}{\partial w_{36}} \\ \frac{\partial C}{\partial w_{45}} & \frac{\partial C}{\partial w_{46}} \end{bmatrix} = \begin{bmatrix} (y_{21}-\hat y_{1}) f^{'}(z_{21}) \times y^{T}_{1} \\ (y_{22}-\hat y_{2}) f^{'}(z_{22}) \times y^{T}_{1} \end{bmatrix} = ((y_{2}-\hat y) \odot f^{'}(z_{2})) \times y^{T}_{1}
$$

## The hidden layer

$$
\frac{\partial C}{\partial w_{13}} = (\frac{\partial C}{\partial y_{21}} \frac{\partial y_{21}}{\partial z_{21}} \frac{\partial z_{21}}{\partial y_{11}} + \frac{\partial C}{\partial y_{22}} \frac{\partial y_{22}}{\partial z_{22}} \frac{\partial z_{22}}{\partial y_{11}}) \frac{\partial y_{11}}{\partial z_{11}} \frac{\partial z_{11}}{\partial w_{13}} = ((y_{21}-\hat y_{1}) f^{'}(z_{21}) w_{35} + (y_{22}-\hat y_{2}) f^{'}(z_{22}) w_{36}) f^{'}(z_{11}) \hat x_{1}
$$

$$
\frac{\partial C}{\partial W_{0}} = \begin{bmatrix} \frac{\partial C}{\partial w_{13}} & \frac{\partial C}{\partial w_{14}} \\ \frac{\partial C}{\partial w_{23}} & \frac{\partial C}{\partial w_{24}} \end{bmatrix} = \left( \begin{bmatrix} w_{35} & w_{36} \\ w_{45} & w_{46} \end{bmatrix} \times ((y_{2}-\hat y) \odot f^{'}(z_{2})) \odot f^{'}(z_{1}) \right) \times \hat x^{T} = \left( W_{1} \times ((y_{2}-\hat y) \odot f^{'}(z_{2})) \odot f^{'}(z_{1}) \right) \times \hat x^{T}
$$
"""


def test_the_seed_002_derivation_is_checked_line_by_line():
    results = check_document(SEED_002, "md", SQUARE, "nodes", derivation=derivation(SQUARE))
    found = [(r.line, r.status, getattr(r, "diagnosis", ())) for r in results]
    assert found == [
        (4, "incorrect", ("subtracted_term",)),      # "-" between the squares of the cost
        (8, "skipped", ()),                          # a definition, not a claim
        (14, "correct", ()), (14, "correct", ()), (18, "correct", ()),
        (22, "incorrect", ("transposed_layout",)),   # ∂C/∂W_1 entry by entry, transposed
        (22, "correct", ()), (22, "correct", ()),    # rows of blocks, and the merged product
        (28, "correct", ()), (28, "correct", ()),    # the chain through both outputs
        (32, "incorrect", ("transposed_layout",)),   # ∂C/∂W_0 entry by entry, transposed
        (32, "correct", ()),                         # the explicit matrix, which is W_1^T
        (32, "incorrect", ("missing_transpose",)),   # ... called W_1
    ]
    shown = render_verdicts(derivation(SQUARE), results, notation="nodes")
    assert "8 correct, 4 incorrect, 0 undecided, 0 unreadable, 1 skipped" in shown
    assert "the entries are laid out transposed" in shown and "is subtracted instead of added" in shown
    # the merged line as the seed writes it, * for the element-wise product, is caught too
    literal = r"\frac{\partial C}{\partial W_{0}} = W_{1} \times ((y_{2}-\hat y) * f^{'}(z_{2})) * f^{'}(z_{1}) \times \hat x^{T}"
    verdict = check(literal, SQUARE, "nodes")
    assert verdict.status == "incorrect" and "missing_transpose" in verdict.diagnosis
    # with each faulty step mended, every claim of the document holds
    fixed = (SEED_002.replace(r")^2 - (y_{22}", r")^2 + (y_{22}")
             .replace(r"\left( W_{1} \times", r"\left( W_{1}^{T} \times")
             .replace(r"w_{35}} & \frac{\partial C}{\partial w_{36}} \\ \frac{\partial C}{\partial w_{45}}",
                      r"w_{35}} & \frac{\partial C}{\partial w_{45}} \\ \frac{\partial C}{\partial w_{36}}")
             .replace(r"w_{13}} & \frac{\partial C}{\partial w_{14}} \\ \frac{\partial C}{\partial w_{23}}",
                      r"w_{13}} & \frac{\partial C}{\partial w_{23}} \\ \frac{\partial C}{\partial w_{14}}"))
    assert [r.status for r in check_document(fixed, "md", SQUARE, "nodes", derivation=derivation(SQUARE))] \
        == ["correct", "skipped"] + ["correct"] * 11


def test_a_generic_output_under_a_cross_entropy_is_realised_consistently():
    # the point's a = σ(z) and a σ(z) written in the claim must use the same stand-in for σ
    network = sbp.Network([2, 2], activation="generic", cost="binary_cross_entropy")
    claim = (r"\delta^{2}_{1} = \left(\frac{1 - y_{1}}{1 - \sigma(z^{2}_{1})} - \frac{y_{1}}{\sigma(z^{2}_{1})}\right)"
             r" \sigma'(z^{2}_{1})")
    verdict = check_formula(claim, network)
    assert verdict.status == "correct", verdict
    wrong = check_formula(claim.replace("1 - y_{1}", "1 + y_{1}", 1), network)
    assert wrong.status == "incorrect"


def test_a_slope_wrong_on_one_side_of_the_kink_is_found():
    """The leaky ReLU's slope written 0.2 for z ≤ 0 (the network's is 1/10): the claim agrees wherever z > 0, so
    the sample must reach the other side of the kink. The points drawn cover both sides of every kinked
    weighted input; the counterexample lies where z ≤ 0, and no mutation that only fits z > 0 is named."""
    network = sbp.Network([2, 2, 2], activation="leaky_relu:1/10")
    derivation = sbp.derive(network)
    template = (r"\delta^{2}_{1} = (w^{3}_{11} \delta^{3}_{1} + w^{3}_{21} \delta^{3}_{2}) "
                r"\begin{cases} 1 & z^{2}_{1} > 0 \\ %s & z^{2}_{1} \le 0 \end{cases}")
    wrong = check_formula(template % "0.2", network, derivation=derivation)
    assert wrong.status == "incorrect" and wrong.method == "numeric", wrong
    x1, x2 = wrong.counterexample.x
    params = wrong.counterexample.params  # canonical keys count the first layer of neurons as 1
    assert params[("w", 1, 1, 1)] * x1 + params[("w", 1, 1, 2)] * x2 + params[("b", 1, 1)] <= 0  # z²₁ ≤ 0
    assert "missing_sigma_prime" not in wrong.diagnosis
    sample = C._points(derivation, C.POINTS, 0)
    assert C._branches(derivation) <= {side for _, known in sample for side in C._sides(derivation, known)}
    right = check_formula(template % "0.1", network, derivation=derivation)
    assert right.status == "correct" and right.method == "exact"


def test_a_claim_with_letters_on_a_wide_layer_is_read_not_skipped():
    """w^3_{jk} of a 60-45-1 network: its letters are tried only at the values where w^3 has an entry (j = 1,
    k = 1..45), not at every index of the network (60 × 60, past the bound on instances). Before, the claim was
    skipped as if it were a definition; a claim past the bound is reported unreadable, never skipped."""
    from symbackprop.claims import formula

    network = sbp.Network([60, 45, 1], activation="sigmoid")
    doc = "$$\n\\frac{\\partial C}{\\partial w^{3}_{jk}} = a^{2}_{k} \\delta^{3}_{j}\n$$\n"
    result, = check_document(doc, "md", network)
    assert result.status == "correct" and result.instances == 45
    wrong, = check_document(doc.replace("a^{2}_{k}", "a^{2}_{j}"), "md", network)
    assert wrong.status == "incorrect"
    bound = formula.MAX_INSTANCES
    try:
        formula.MAX_INSTANCES = 10
        past, = check_document(doc, "md", network)
    finally:
        formula.MAX_INSTANCES = bound
    assert past.status == "unreadable" and "instances" in past.message
