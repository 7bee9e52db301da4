"""The notation-aware printers: small exact strings, the contract of the printed form."""

import pytest

from symbackprop import Network, SpecError, derive
from symbackprop.documents.printing import latex, layer_number, notation, text
from symbackprop.model.symbols import COST, Partial, Quantity


def test_nielsen_numbers_the_input_layer_1():
    assert latex(Quantity("w", 2, 1, 3)) == "w^{3}_{13}"
    assert latex(Quantity("a", 0 + 1, 2)) == "a^{2}_{2}"
    assert layer_number(0) == 1


def test_ng_writes_theta_and_bias_units():
    assert latex(Quantity("w", 1, 2, 3), notation="ng") == r"\Theta^{(1)}_{23}"
    assert latex(Quantity("b", 1, 2), notation="ng") == r"\Theta^{(1)}_{20}"
    assert latex(Quantity("a", 1, 2), notation="ng") == "a^{(2)}_{2}"


def test_qiu_keeps_the_input_as_layer_0():
    assert latex(Quantity("w", 1, 2, 3), notation="qiu") == "W^{(1)}_{23}"
    assert latex(Quantity("delta", 2, 1), notation="qiu") == r"\delta^{(2)}_{1}"


def test_qiu_sets_vectors_bold_in_their_space():
    from symbackprop.model.symbols import LayerMatrix, Shape

    m1, m0 = Quantity("m", 1), Quantity("m", 0)
    assert latex(LayerMatrix("delta", 1, m1, 1), notation="qiu") == r"\boldsymbol{\delta}^{(1)}"
    assert latex(LayerMatrix("W", 1, m1, m0), notation="qiu") == r"\boldsymbol{W}^{(1)}"
    assert latex(Shape(m1, 1), notation="qiu") == r"\mathbb{R}^{M_{1}}"
    assert latex(Shape(m1, m0), notation="qiu") == r"\mathbb{R}^{M_{1} \times M_{0}}"
    assert latex(Shape(m1, 1)) == r"m^{2} \times 1"


def test_nodes_number_neurons_across_the_network():
    sizes = (2, 2, 2)
    assert latex(Quantity("w", 2, 1, 1), notation="nodes", sizes=sizes) == "w_{35}"
    assert latex(Quantity("w", 1, 2, 1), notation="nodes", sizes=sizes) == "w_{14}"
    assert latex(Quantity("a", 2, 1), notation="nodes", sizes=sizes) == "y_{21}"
    assert latex(Quantity("x", 1), notation="nodes", sizes=sizes) == r"\hat{x}_{1}"


def test_multi_digit_indices_are_separated():
    assert latex(Quantity("w", 1, 12, 3)) == "w^{2}_{12,3}"
    assert text(Quantity("w", 1, 12, 3)) == "w²_(12,3)"


def test_partials_and_activation_functions():
    d = derive(Network([1, 1], activation="generic"))
    a, z = Quantity("a", 1, 1), Quantity("z", 1, 1)
    assert latex(Partial(COST, a)) == r"\frac{\partial C}{\partial a^{2}_{1}}"
    assert text(Partial(a, z)) == "∂a²₁/∂z²₁"
    assert text(d.delta(1, 1)) == "(a²₁ - y₁)·σ'(z²₁)"
    assert latex(d.delta(1, 1), notation="ng") == r"\left(a^{(2)}_{1} - y_{1}\right) g'\left(z^{(2)}_{1}\right)"


def test_sums_read_in_index_order():
    d = derive(Network([2, 1, 11], activation="sigmoid"))
    printed = text(d.delta(1, 1))
    assert printed.index("δ³₂·") < printed.index("δ³_(10)")


def test_relu_derivative_prints_as_an_indicator():
    d = derive(Network([1, 1], activation="relu"))
    assert "[z²₁ > 0]" in text(d.delta(1, 1))
    assert r"\mathbb{1}\left[z^{2}_{1} > 0\right]" in latex(d.delta(1, 1))


def test_unknown_notation_lists_the_valid_ones():
    with pytest.raises(SpecError, match="expected one of: ng, nielsen, nodes, qiu"):
        notation("bishop")


# ---------------------------------------------------------------------- display forms


def test_written_products_and_sums_keep_their_order_and_signs():
    import sympy as sp

    from symbackprop.model.symbols import WrittenProduct, WrittenSum, written_difference, written_sum

    a, b, c = sp.Float("0.74", 6), sp.Float("-0.18", 6), sp.Float("0.59", 6)
    dotted = WrittenProduct(a, b, c, dotted=True)
    assert text(dotted) == "0.74·(-0.18)·0.59"
    assert latex(dotted) == r"0.74 \cdot \left(-0.18\right) \cdot 0.59"
    total = written_sum([WrittenProduct(c, a, dotted=True), WrittenProduct(b, a, dotted=True), sp.Float("-0.35", 6)])
    assert text(total) == "0.59·0.74 + (-0.18)·0.74 - 0.35"
    assert latex(total) == r"0.59 \cdot 0.74 + \left(-0.18\right) \cdot 0.74 - 0.35"
    assert text(written_difference(a, WrittenProduct(sp.Rational(1, 2), c))) == "0.74 - (1/2)·0.59"
    # a graph's products: a dot only beside a number; a fraction bracketed once in text
    x, y = sp.symbols("x y")
    assert latex(WrittenProduct(x, y)) == "x y"
    assert latex(WrittenProduct(x, y, dotted=True)) == r"x \cdot y"
    assert latex(WrittenProduct(sp.Integer(2), x)) == r"2 \cdot x"
    assert text(WrittenProduct(sp.Integer(1), sp.Rational(-1, 2), sp.Integer(1))) == "1·(-1/2)·1"
    assert text(WrittenProduct(sp.Rational(1, 2), sp.Rational(1, 4))) == "(1/2)·(1/4)"
    assert text(WrittenSum((1, -1, -1), x, y, -2 * x)) == "x - y + 2·x"
    # rebuilt from its arguments (as SymPy's traversals do), a product keeps its style
    assert dotted.func(*dotted.args) == dotted
    assert latex(dotted.xreplace({a: sp.Float("0.5", 6)})) == r"0.5 \cdot \left(-0.18\right) \cdot 0.59"


def test_display_classes_of_every_module_are_printed_here():
    import sympy as sp

    from symbackprop import diffusion, numbers
    from symbackprop.graph import analysis as graph
    from symbackprop.model import symbols
    from symbackprop.proof import document, general
    from symbackprop.documents.printing import LatexPrinter, TextPrinter

    classes = {cls for module in (symbols, graph, numbers, general, diffusion, document)
               for cls in vars(module).values()
               if isinstance(cls, type) and issubclass(cls, sp.Basic) and (cls.__module__ or "").startswith("symbackprop")}
    names = {cls.__name__ for cls in classes}
    assert {"WrittenSum", "WrittenProduct", "GradientOf", "Sigmoid", "NodePath", "Entry", "Jacobian", "IndexDelta",
            "LayerRange", "Rewrite", "Norm", "MaxOver", "ProductOver", "Ratio"} <= names
    for cls in classes:
        own = [m for m in vars(cls) if m.startswith(("_latex", "_sympystr", "_pretty", "_symbackprop_"))]
        assert not own, f"{cls.__name__} prints itself with {own}: give printing.py a _print_{cls.__name__}"
        if cls.__name__.startswith("_"):
            continue  # a computational twin, never shown
        for printer in (LatexPrinter, TextPrinter):
            assert hasattr(printer, f"_print_{cls.__name__}"), (printer.__name__, cls.__name__)
    assert not hasattr(numbers, "Product") and not hasattr(graph.WrittenProduct, "_shown")
    assert graph.WrittenSum is symbols.WrittenSum and graph.WrittenProduct is symbols.WrittenProduct


def test_display_classes_print_in_both_printers():
    import sympy as sp

    from symbackprop.diffusion import MaxOver, Norm, ProductOver, Ratio
    from symbackprop.proof.general import Entry, IndexDelta, Jacobian, LayerRange, Rewrite
    from symbackprop.graph.analysis import NodePath, Sigmoid
    from symbackprop.model.symbols import GradientOf, LayerMatrix

    l, m, j, k, u = sp.symbols("l m j k u")
    delta = LayerMatrix("delta", l, m)
    W = LayerMatrix("W", l, m, m)
    assert latex(Norm(delta)) == r"\left\lVert \delta^{l + 1} \right\rVert" and text(Norm(W, "2")) == "‖wˡ⁺¹‖_2"
    assert latex(Norm(W, "F")) == r"\left\lVert w^{l + 1} \right\rVert_{F}"
    assert latex(MaxOver(u, u)) == r"\max_{u} u" and text(MaxOver(u, u)) == "max_u u"
    assert latex(ProductOver(u, k, l + 1, 4)) == r"\prod_{k=l + 1}^{4} \left(u\right)"
    assert text(ProductOver(u, k, l + 1, 4)) == "∏_(k=l + 1..4) (u)"
    assert latex(Ratio(u, k)) == r"\frac{u}{k}" and text(Ratio(u, k)) == "u / (k)"
    assert latex(IndexDelta(j, k)) == r"\delta_{jk}" and text(IndexDelta(j, l + 1)) == "δ_(j,l+1)"
    assert latex(LayerRange(l, 2, 4)) == r"2 \le l \le 4" and text(LayerRange(l, 2, 2)) == "l = 2"
    assert text(LayerRange(l, 2, 4)) == "2 ≤ l ≤ 4"
    assert latex(Rewrite(u, k)) == r"u \;\longmapsto\; k" and text(Rewrite(u, k)) == "u ⟼ k"
    assert latex(Entry(delta, j)) == r"\left(\delta^{l + 1}\right)_{j}" and text(Entry(W, j, k)) == "(wˡ⁺¹)_j,k"
    assert latex(Jacobian(l, m), shapes=True) == r"\underbrace{J^{l + 1}}_{m \times m}"
    assert text(Jacobian(l, m), shapes=True) == "Jˡ⁺¹[m×m]"
    assert latex(GradientOf(W), shapes=True) == r"\underbrace{\frac{\partial C}{\partial w^{l + 1}}}_{m \times m}"
    assert text(GradientOf(W), shapes=True) == "∂C/∂wˡ⁺¹[m×m]"
    assert latex(NodePath(u, k)) == r"u \to k" and text(NodePath(u, k)) == "u → k"
    assert latex(Sigmoid(u)) == r"\sigma\left(u\right)" and text(Sigmoid(u)) == "σ(u)"
    assert latex(Sigmoid(u) ** 2) == r"\sigma\left(u\right)^{2}"


def test_text_writes_relations_and_greek_names():
    import sympy as sp

    j, m = sp.symbols("j m")
    assert text(sp.Le(j, m)) == "j ≤ m" and text(sp.Ge(j, m)) == "j ≥ m"
    assert text(sp.Lt(j, m)) == "j < m" and text(sp.Gt(j, m)) == "j > m" and text(sp.Ne(j, m)) == "j ≠ m"
    assert text(sp.Le(2 * j, m)) == "2·j ≤ m"
    assert text(sp.Symbol("eta") * j) == "η·j" and latex(sp.Symbol("eta")) == r"\eta"


def test_a_compound_expression_is_bracketed_after_the_partial_sign():
    import sympy as sp

    from symbackprop.model.symbols import LAMBDA, N_EXAMPLES

    w, a = Quantity("w", 1, 1, 1), Quantity("a", 1, 1)
    penalty = LAMBDA * w**2 / (2 * N_EXAMPLES)
    assert text(Partial(penalty, w)) == "∂(λ·w²₁₁²/(2·n))/∂w²₁₁"
    assert latex(Partial(penalty, w)) == (
        r"\frac{\partial \left(\frac{\lambda \left(w^{2}_{11}\right)^{2}}{2 n}\right)}{\partial w^{2}_{11}}")
    assert text(Partial(a + w, w)) == "∂(a²₁ + w²₁₁)/∂w²₁₁"
    assert text(Partial(1 / a, w)) == "∂(1/a²₁)/∂w²₁₁"
    # a quantity, a power and a function need none
    assert text(Partial(a, w)) == "∂a²₁/∂w²₁₁" and text(Partial(w**2, w)) == "∂w²₁₁²/∂w²₁₁"
    sigma = sp.Function("sigma")
    assert text(Partial(sigma(a), a)) == "∂σ(a²₁)/∂a²₁"


# ---------------------------------------------------------------------- every activation


def _registry():
    from symbackprop.model.activations import ACTIVATIONS, leaky_relu

    return {**ACTIVATIONS, "leaky_relu:0.2": leaky_relu("0.2")}


def test_every_activation_prints_in_text_and_latex():
    import sympy as sp

    from symbackprop.model.activations import Z

    for name, rule in _registry().items():
        if rule.elementwise:
            shown = [rule.forward, rule.derivative]
        else:
            zs = list(sp.symbols("z1:4", real=True))
            shown = [rule.forward(0, zs), rule.jacobian(0, 1, zs)]
        for expr in shown:
            printed, tex = text(expr), latex(expr)
            assert printed and tex and (expr.is_number or ("z" in printed and "z" in tex)), (name, printed, tex)
            assert "Piecewise" not in printed and "<=" not in printed and "True" not in printed, (name, printed)
    relu, leaky = _registry()["relu"], _registry()["leaky_relu:0.2"]
    assert text(relu.forward) == "{z, z > 0; 0, z ≤ 0}" and text(relu.derivative) == "[z > 0]"
    assert text(leaky.derivative) == "{1, z > 0; 1/5, z ≤ 0}"
    three = sp.Piecewise((Z, Z > 1), (2 * Z, Z > 0), (0, True))
    assert text(three) == "{z, z > 1; 2·z, z > 0; 0, z ≤ 0}"


@pytest.mark.parametrize("name", [n for n, rule in _registry().items() if rule.elementwise])
def test_general_derivation_runs_in_text_for_every_elementwise_activation(name, capsys):
    from symbackprop.cli import main

    assert main(["derive", "--general", "--activation", name]) == 0
    out = capsys.readouterr().out
    assert "BP1" in out and "Traceback" not in out
    assert "<=" not in out and ">=" not in out


@pytest.mark.parametrize("name, shown", [("relu", r"\operatorname{ReLU}'"), ("softplus", r"\operatorname{softplus}'"),
                                         ("leaky_relu:0.2", r"\operatorname{LeakyReLU}'"), ("tanh", r"\tanh'"),
                                         ("sigmoid", r"\sigma'"), ("generic", r"\sigma'")])
def test_a_shared_activation_names_the_derivative_of_general_statements(name, shown):
    """BP1 of a ReLU network reads ReLU'(z), not σ'(z); check-doc reads it back as that rule's derivative."""
    from symbackprop.claims.formula import parse_claim
    from symbackprop.claims.verdicts import check_claim
    from symbackprop.model.activations import opaque_functions

    _, sigma_prime = opaque_functions("sigma")
    bp1 = Partial(COST, Quantity("a", 1, 1)) * sigma_prime(Quantity("z", 1, 1))
    printed = latex(bp1, activation=Network([1, 1], activation=name).layers[0].activation.label)
    assert shown + r"\left(z^{2}_{1}\right)" in printed
    claim = r"\delta^{2}_{1} = " + printed
    assert check_claim(parse_claim(claim, Network([1, 1], activation=name)), derive(Network([1, 1], activation=name))).ok
    if name in ("relu", "softplus"):  # the name of another activation is the wrong derivative
        other = Network([1, 1], activation="softplus" if name == "relu" else "relu")
        assert not check_claim(parse_claim(claim, other), derive(other)).ok
