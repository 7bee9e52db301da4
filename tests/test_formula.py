"""Reading hand-written formulas: the grammar, the symbol tables built from the printer, errors, limits."""

from pathlib import Path

import pytest
import sympy as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import symbackprop as sbp
from symbackprop.claims import formula as F
from symbackprop.claims import lexing, symbol_table, transform
from symbackprop.errors import SpecError
from symbackprop.model.forward import forward
from symbackprop.claims.formula import (
    Claim, FormulaError, Target, extract_equations, parse_claim, parse_formula, split_chain,
)
from symbackprop.documents.printing import NOTATIONS, latex
from symbackprop.model.symbols import COST, LayerMatrix, Partial, Quantity

from conftest import same

NOTATION_NAMES = tuple(NOTATIONS)
NETWORKS = {
    "2-2-2 no bias": sbp.Network([2, 2, 2], bias=False),
    "2-3-2": sbp.Network([2, 3, 2]),
    "3-4-4-2": sbp.Network([3, 4, 4, 2]),
}
NET = NETWORKS["2-3-2"]
SIGMA, SIGMA_PRIME = transform.SIGMA, transform.SIGMA_PRIME
GALLERY = Path(__file__).resolve().parent.parent / "output"


def q(kind, *indices):
    return Quantity(kind, *indices)


def w(l, j, k):
    return Quantity("w", l, j, k)


def a(l, j):
    return Quantity("a", l, j)


def z(l, j):
    return Quantity("z", l, j)


def delta(l, j):
    return Quantity("delta", l, j)


def y(j):
    return Quantity("y", j)


def x(k):
    return Quantity("x", k)


def column(*entries):
    return sp.ImmutableMatrix([[e] for e in entries])


def error_of(function, *args, **kwargs) -> FormulaError:
    with pytest.raises(FormulaError) as caught:
        function(*args, **kwargs)
    return caught.value


# ------------------------------------------------------------------ round trip through the printer


def _matrices(network):
    sizes, depth = network.sizes, network.depth
    found = [LayerMatrix("x", 0, sizes[0], 1), LayerMatrix("y", depth, sizes[-1], 1)]
    for l in range(1, depth + 1):
        found.append(LayerMatrix("W", l, sizes[l], sizes[l - 1]))
        if network.layer(l).bias:
            found.append(LayerMatrix("b", l, sizes[l], 1))
        found += [LayerMatrix(kind, l, sizes[l], 1) for kind in ("z", "a", "delta", "dsigma", "grad_a")]
    return found


def _explicit(m: LayerMatrix):
    if m.kind == "dsigma":
        return column(*(SIGMA_PRIME(z(int(m.layer), j)) for j in range(1, m.shape[0] + 1)))
    return sp.ImmutableMatrix(m.as_explicit())


@pytest.mark.parametrize("notation", NOTATION_NAMES)
@pytest.mark.parametrize("name", list(NETWORKS))
def test_every_printed_quantity_reads_back_as_itself(name, notation):
    network = NETWORKS[name]
    quantities = list(forward(network).symbols.values()) + [COST, q("lambda"), q("n")]
    for quantity in quantities:
        shown = latex(quantity, notation=notation, sizes=network.sizes)
        assert parse_formula(shown, network, notation) == quantity, shown


@pytest.mark.parametrize("notation", NOTATION_NAMES)
@pytest.mark.parametrize("name", list(NETWORKS))
def test_every_printed_matrix_reads_back_as_its_elements(name, notation):
    network = NETWORKS[name]
    for m in _matrices(network):
        shown = latex(m, notation=notation, sizes=network.sizes)
        value = parse_formula(shown, network, notation)
        assert isinstance(value, sp.ImmutableMatrix)
        assert value.shape == tuple(m.shape)
        assert value == _explicit(m), shown
        if m.kind not in ("dsigma", "grad_a"):
            transposed = latex(m.T, notation=notation, sizes=network.sizes)
            assert parse_formula(transposed, network, notation) == _explicit(m).T, transposed


@pytest.mark.parametrize("notation", NOTATION_NAMES)
def test_multi_digit_indices_read_back(notation):
    network = sbp.Network([12, 3, 11])
    for quantity in list(forward(network).symbols.values()):
        shown = latex(quantity, notation=notation, sizes=network.sizes)
        assert parse_formula(shown, network, notation) == quantity, shown


def test_the_table_is_built_once_per_network_and_notation():
    first = symbol_table._symbol_table(NET, "qiu")
    assert symbol_table._symbol_table(sbp.Network([2, 3, 2], activation="tanh"), "qiu") is first
    assert symbol_table._symbol_table(NET, "ng") is not first


# ------------------------------------------------------------------ lenient spellings of one symbol


@pytest.mark.parametrize("written", [
    "w^{3}_{12}", "w^3_{12}", "w^{3}_{1,2}", "w^{(3)}_{12}", "w_{12}^{3}", "W^{3}_{12}", "w^3_12", "w^3_{1,2}",
    "w^{3}_{1 2}",
])
def test_spellings_of_a_weight_in_nielsen(written):
    assert parse_formula(written, NET) == w(2, 1, 2)


@pytest.mark.parametrize("notation, written, expected", [
    ("ng", r"\Theta^{(2)}_{12}", w(2, 1, 2)),
    ("ng", r"\Theta^{(1)}_{20}", q("b", 1, 2)),
    ("ng", r"\theta^{(2)}_{12}", w(2, 1, 2)),
    ("ng", r"a^{(1)}_{2}", x(2)),
    ("ng", "J", COST),
    ("qiu", r"W^{(1)}_{21}", w(1, 2, 1)),
    ("qiu", r"w^{(1)}_{21}", w(1, 2, 1)),
    ("qiu", r"a^{(0)}_{1}", x(1)),
    ("qiu", r"\mathcal{L}", COST),
    ("qiu", "N", q("n")),
    ("nielsen", r"a^{1}_{2}", x(2)),
    ("nielsen", r"\lambda", q("lambda")),
    ("nodes", r"y_{21}", a(2, 1)),
    ("nodes", r"\hat y_1", y(1)),
    ("nodes", r"\hat{y}_{1}", y(1)),
    ("nodes", r"\hat{\mathbf{y}}_{1}", y(1)),
    ("nodes", r"\hat{\boldsymbol{y}}_1", y(1)),
    ("nodes", r"\hat{x}_{2}", x(2)),
    ("nodes", r"w_{36}", w(2, 1, 1)),
    ("nodes", r"w_{3,6}", w(2, 1, 1)),
    ("nodes", r"w_{14}", w(1, 2, 1)),
    ("nodes", r"y_{01}", x(1)),
    ("nodes", "yhat_1", y(1)),
])
def test_spellings_in_each_notation(notation, written, expected):
    assert parse_formula(written, NET, notation) == expected


def test_whole_vectors_and_matrices():
    W3 = sp.ImmutableMatrix(2, 3, lambda i, j: w(2, i + 1, j + 1))
    assert parse_formula("W^{3}", NET) == W3
    assert parse_formula("w^3", NET) == W3
    assert parse_formula(r"\Theta^{(2)}", NET, "ng") == W3
    assert parse_formula(r"W^{(2)}", NET, "qiu") == W3
    assert parse_formula("W_1", NET, "nodes") == W3
    assert parse_formula(r"\delta^{3}", NET) == column(delta(2, 1), delta(2, 2))
    assert parse_formula("x", NET) == column(x(1), x(2))
    assert parse_formula(r"\hat{x}", NET, "nodes") == column(x(1), x(2))
    assert parse_formula(r"\hat{y}", NET, "nodes") == column(y(1), y(2))
    assert parse_formula("a^{1}", NET) == column(x(1), x(2))
    assert parse_formula(r"\sigma'(z^{3})", NET) == column(SIGMA_PRIME(z(2, 1)), SIGMA_PRIME(z(2, 2)))
    gradient = column(Partial(COST, a(2, 1)), Partial(COST, a(2, 2)))
    assert parse_formula(r"\nabla_a C", NET) == gradient
    assert parse_formula(r"\nabla_{a^{3}} C", NET) == gradient
    assert parse_formula(r"\nabla_{a^{(2)}} \mathcal{L}", NET, "qiu") == gradient


def test_multi_digit_index_with_one_reading_is_taken():
    network = sbp.Network([12, 13, 14])
    assert parse_formula("w^{2}_{123}", network) == w(1, 12, 3)  # 1,23 does not exist
    assert parse_formula("w^{2}_{12,3}", network) == w(1, 12, 3)
    assert parse_formula("x_{12}", network) == x(12)


# ------------------------------------------------------------------ typical claims


def test_nielsen_bp1_to_bp4_for_concrete_neurons():
    bp1 = parse_claim(r"\delta^{3}_{1} = (a^{3}_{1} - y_{1}) \sigma'(z^{3}_{1})", NET)
    assert bp1.target == Target("delta", ("delta", 2, 1))
    assert bp1.rhs == (a(2, 1) - y(1)) * SIGMA_PRIME(z(2, 1))
    bp2 = parse_claim(r"\delta^{2}_{1} = \sum_k w^{3}_{k1} \delta^{3}_{k} \sigma'(z^{2}_{1})", NET)
    assert bp2.target == Target("delta", ("delta", 1, 1))
    assert same(bp2.rhs, (w(2, 1, 1) * delta(2, 1) + w(2, 2, 1) * delta(2, 2)) * SIGMA_PRIME(z(1, 1)))
    bp3 = parse_claim(r"\frac{\partial C}{\partial b^{3}_{2}} = \delta^{3}_{2}", NET)
    assert bp3.target == Target("gradient", ("b", 2, 2)) and bp3.rhs == delta(2, 2)
    bp4 = parse_claim(r"\frac{\partial C}{\partial w^{3}_{12}} = (a^{3}_{1} - y_{1}) \sigma'(z^{3}_{1}) a^{2}_{2}", NET)
    assert bp4.target == Target("gradient", ("w", 2, 1, 2))
    assert bp4.rhs == a(1, 2) * (a(2, 1) - y(1)) * SIGMA_PRIME(z(2, 1))
    assert bp4.rhs_text == r"(a^{3}_{1} - y_{1}) \sigma'(z^{3}_{1}) a^{2}_{2}"
    assert isinstance(bp4, Claim) and bp4.text.startswith(r"\frac")


def test_a_correct_claim_equals_the_engine_gradient():
    network = sbp.Network([2, 3, 2], activation="generic")
    derivation = sbp.derive(network)
    claim = parse_claim(r"\frac{\partial C}{\partial w^{3}_{12}} = (a^{3}_{1} - y_{1}) \sigma'(z^{3}_{1}) a^{2}_{2}",
                        network)
    assert same(claim.rhs, derivation.gradient(("w", 2, 1, 2)))
    bp2 = parse_formula(r"\sigma'(z^{2}_{1}) \sum_{k=1}^{2} w^{3}_{k1} \delta^{3}_{k}", network)
    assert same(bp2, derivation.delta(1, 1))


def test_a_matrix_of_blocks_is_assembled_and_an_entry_by_entry_matrix_is_marked():
    network = NETWORKS["2-2-2 no bias"]
    rows = parse_claim(r"\frac{\partial C}{\partial W_{1}} = \begin{bmatrix} \delta_{21} y_{1}^{T} \\ "
                       r"\delta_{22} y_{1}^{T} \end{bmatrix}", network, "nodes")
    fw = forward(network)
    y1 = fw.activations(1)
    deltas = fw.deltas(2)
    assert rows.rhs == sp.ImmutableMatrix(2, 2, lambda r, c: deltas[r] * y1[c]) and rows.entrywise
    side = parse_formula(r"\begin{bmatrix} y_{1} & y_{1} \end{bmatrix}", network, "nodes")
    assert side.shape == (2, 2) and side[:, 1] == sp.ImmutableMatrix(y1)
    assert not parse_claim(r"\frac{\partial C}{\partial W_{1}} = \delta_{2} y_{1}^{T}", network, "nodes").entrywise
    with pytest.raises(FormulaError, match="have 1, 2 rows; expected entries of one height"):
        parse_formula(r"\begin{bmatrix} y_{1} & y_{11} \end{bmatrix}", network, "nodes")


def test_the_cost_is_a_target():
    claim = parse_claim(r"C = \frac{1}{2}((a^{3}_{1} - y_{1})^2 + (a^{3}_{2} - y_{2})^2)", NET)
    assert claim.target == Target("cost", ("C",))
    assert parse_claim(r"J = 0", NET, "ng").target == Target("cost", ("C",))


def test_nielsen_matrix_forms():
    bp2 = parse_claim(r"\delta^{2} = ((w^{3})^T \delta^{3}) \odot \sigma'(z^{2})", NET)
    assert bp2.target == Target("delta_vector", ("delta", 1))
    expected = column(*((w(2, 1, k) * delta(2, 1) + w(2, 2, k) * delta(2, 2)) * SIGMA_PRIME(z(1, k))
                        for k in (1, 2, 3)))
    assert bp2.rhs == expected
    # \odot binds more loosely than the matrix product, so the brackets may go
    assert parse_formula(r"(w^{3})^\top \delta^{3} \odot \sigma'(z^{2})", NET) == expected
    bp4 = parse_claim(r"\frac{\partial C}{\partial W^{3}} = \delta^{3} (a^{2})^{T}", NET)
    assert bp4.target == Target("gradient_matrix", ("W", 2))
    assert bp4.rhs == sp.ImmutableMatrix(2, 3, lambda i, j: delta(2, i + 1) * a(1, j + 1))
    bp3 = parse_claim(r"\frac{\partial C}{\partial b^{3}} = \delta^{3}", NET)
    assert bp3.target == Target("gradient_matrix", ("b", 2))
    bp1 = parse_claim(r"\delta^{3} = \nabla_a C \odot \sigma'(z^{3})", NET)
    assert bp1.rhs == column(*(Partial(COST, a(2, j)) * SIGMA_PRIME(z(2, j)) for j in (1, 2)))


def test_ng_claims():
    bp1 = parse_claim(r"\delta^{(3)}_1 = a^{(3)}_1 - y_1", NET, "ng")
    assert bp1.target == Target("delta", ("delta", 2, 1)) and bp1.rhs == a(2, 1) - y(1)
    weight = parse_claim(r"\frac{\partial J}{\partial \Theta^{(2)}_{12}} = a^{(2)}_2 \delta^{(3)}_1", NET, "ng")
    assert weight.target == Target("gradient", ("w", 2, 1, 2))
    bias = parse_claim(r"\frac{\partial J}{\partial \Theta^{(1)}_{20}} = \delta^{(2)}_2", NET, "ng")
    assert bias.target == Target("gradient", ("b", 1, 2))
    bp2 = parse_claim(r"\delta^{(2)} = (\Theta^{(2)})^T \delta^{(3)} \odot g'(z^{(2)})", NET, "ng")
    assert bp2.target == Target("delta_vector", ("delta", 1))
    assert bp2.rhs[0, 0] == (w(2, 1, 1) * delta(2, 1) + w(2, 2, 1) * delta(2, 2)) * SIGMA_PRIME(z(1, 1))


def test_qiu_claims():
    bp4 = parse_claim(r"\frac{\partial \mathcal{L}}{\partial W^{(2)}} = \delta^{(2)} (a^{(1)})^T", NET, "qiu")
    assert bp4.target == Target("gradient_matrix", ("W", 2))
    assert bp4.rhs == sp.ImmutableMatrix(2, 3, lambda i, j: delta(2, i + 1) * a(1, j + 1))
    bp2 = parse_claim(r"\delta^{(1)} = f_1'(z^{(1)}) \odot \left( (W^{(2)})^{\top} \delta^{(2)} \right)", NET, "qiu")
    assert bp2.rhs[2, 0] == SIGMA_PRIME(z(1, 3)) * (w(2, 1, 3) * delta(2, 1) + w(2, 2, 3) * delta(2, 2))
    bp1 = parse_claim(r"\delta^{(2)} = \nabla_{a^{(2)}} \mathcal{L} \odot f'(z^{(2)})", NET, "qiu")
    assert bp1.target == Target("delta_vector", ("delta", 2))


def test_nodes_claims():
    network = sbp.Network([2, 2, 2], bias=False)
    claim = parse_claim(r"\frac{\partial C}{\partial w_{35}} = (y_{21}-\hat y_{1}) f'(z_{21}) y_{11}", network, "nodes")
    assert claim.target == Target("gradient", ("w", 2, 1, 1))
    assert claim.rhs == (a(2, 1) - y(1)) * SIGMA_PRIME(z(2, 1)) * a(1, 1)
    hidden = parse_claim(r"\delta_{11} = f'(z_{11}) (w_{35} \delta_{21} + w_{36} \delta_{22})", network, "nodes")
    assert hidden.target == Target("delta", ("delta", 1, 1))
    summed = parse_formula(r"\sum_{k} w_{3k} y_{1,1}", network, "nodes")  # k runs over the nodes 5 and 6
    assert same(summed, (w(2, 1, 1) + w(2, 2, 1)) * a(1, 1))
    matrix = parse_claim(r"\frac{\partial C}{\partial W_{1}} = \delta_{2} y_{1}^{T}", network, "nodes")
    assert matrix.target == Target("gradient_matrix", ("W", 2))


def test_plain_text_claims():
    claim = parse_claim("dC/dw^3_12 = (a^3_1 - y_1)*sigma(z^3_1)*(1-sigma(z^3_1))*a^2_2", NET)
    assert claim.target == Target("gradient", ("w", 2, 1, 2))
    assert claim.rhs == (a(2, 1) - y(1)) * SIGMA(z(2, 1)) * (1 - SIGMA(z(2, 1))) * a(1, 2)
    bp2 = parse_claim("delta^2_1 = sum_k(w^3_k1*delta^3_k)*dsigma(z^2_1)", NET, syntax="text")
    assert same(bp2.rhs, (w(2, 1, 1) * delta(2, 1) + w(2, 2, 1) * delta(2, 2)) * SIGMA_PRIME(z(1, 1)))
    assert parse_formula("sigma'(z^3_1) + w^3_{1,2}", NET) == SIGMA_PRIME(z(2, 1)) + w(2, 1, 2)
    vector = parse_formula("(w^3)' @ delta^3 .* dsigma(z^2)", NET)
    assert vector == parse_formula(r"(w^{3})^T \delta^{3} \odot \sigma'(z^{2})", NET)
    assert parse_formula("w^3^T * delta^3", NET).shape == (3, 1)
    assert parse_formula("(a^3_1 - y_1)**2 + exp(z^2_1) + log(a^2_1) + tanh(z^2_2) + ln(a^2_3)", NET) == (
        (a(2, 1) - y(1)) ** 2 + sp.exp(z(1, 1)) + sp.log(a(1, 1)) + sp.tanh(z(1, 2)) + sp.log(a(1, 3)))


@pytest.mark.parametrize("written", [
    r"a^{2}_{1} \cdot w^{3}_{11}", r"a^{2}_{1} \times w^{3}_{11}", "a^2_1 * w^3_11", "a^2_1 .* w^3_11",
    r"a^{2}_{1} \odot w^{3}_{11}", r"a^{2}_{1} \circ w^{3}_{11}", r"a^{2}_{1}w^{3}_{11}", r"a^{2}_{1} \, w^{3}_{11}",
    "a^2_1 @ w^3_11", r"\left( a^{2}_{1} \right) \bigl[ w^{3}_{11} \bigr]", r"{a^{2}_{1}} w^{3}_{11}",
    "δ^2_1 · w^3_11 / δ^2_1 * a^2_1",
])
def test_products_are_written_in_many_ways(written):
    assert parse_formula(written, NET) == a(1, 1) * w(2, 1, 1)


def test_numbers_powers_and_functions():
    value = parse_formula(r"\frac{1}{2} (a^{3}_{1} - y_{1})^2 + \frac12 \frac{\lambda}{n} + 0.25 + e^{z^{2}_{1}}", NET)
    assert value == (a(2, 1) - y(1)) ** 2 / 2 + q("lambda") / (2 * q("n")) + sp.Rational(1, 4) + sp.exp(z(1, 1))
    assert parse_formula(r"\exp(-z^{2}_{1}) + \log a^{2}_{1} + \ln(a^{2}_{2})", NET) == (
        sp.exp(-z(1, 1)) + sp.log(a(1, 1)) + sp.log(a(1, 2)))
    assert parse_formula(r"\eta \, \sigma^{\prime}(z^{3}_{1})", NET) == transform.ETA * SIGMA_PRIME(z(2, 1))
    assert parse_formula(r"\tanh(z^{2}_{1})^{2} - 2^{10}", NET) == sp.tanh(z(1, 1)) ** 2 - 1024
    assert parse_formula("2^3^2", NET, syntax="text") == 2 ** 9  # powers are right-associative


@pytest.mark.parametrize("written, value", [
    (r"\tanh^2(z^{2}_{4})", sp.tanh(z(1, 4)) ** 2),
    (r"(1-\tanh^2(z^{2}_{4}))", 1 - sp.tanh(z(1, 4)) ** 2),
    (r"\sigma^2(z^{3}_{1})", SIGMA(z(2, 1)) ** 2),
    (r"\sigma^{3}(z^{3}_{1})", SIGMA(z(2, 1)) ** 3),
    (r"f'(z^{3}_{1})^2", SIGMA_PRIME(z(2, 1)) ** 2),
    (r"\sigma'^{2}(z^{3}_{1})", SIGMA_PRIME(z(2, 1)) ** 2),
    (r"\log^2 a^{2}_{1}", sp.log(a(1, 1)) ** 2),
])
def test_powers_of_named_functions_read_as_notes_write_them(written, value):
    network = sbp.Network([2, 4, 2])
    assert parse_formula(written, network) == value


def test_sums_take_their_range_from_the_indices_or_the_limits():
    inferred = parse_formula(r"\sum_k w^{3}_{1k} a^{2}_{k}", NET)
    explicit = parse_formula(r"\sum_{k=1}^{3} w^{3}_{1k} a^{2}_{k}", NET)
    by_size = parse_formula(r"\sum_{k=1}^{m^{2}} w^{3}_{1k} a^{2}_{k}", NET)
    assert inferred == explicit == by_size == sum(w(2, 1, k) * a(1, k) for k in (1, 2, 3))
    assert parse_formula(r"\sum_{j,k} w^{3}_{jk}", NET) == sum(w(2, j, k) for j in (1, 2) for k in (1, 2, 3))
    assert parse_formula(r"\sum_{j} \sum_{k} w^{3}_{jk}", NET) == parse_formula(r"\sum_{j,k} w^{3}_{jk}", NET)
    assert parse_formula(r"\sum_{k=1}^{3} 1", NET) == 3
    assert parse_formula(r"\delta^{L}_{1} + a^{L-1}_{2}", NET) == delta(2, 1) + a(1, 2)


def test_explicit_matrices_and_underbraces_as_documents_write_them():
    written = r"\left[\begin{matrix}z^{3}_{1}\\z^{3}_{2}\end{matrix}\right] = \left[\begin{matrix}w^{3}_{11} & w^{3}_{12} & w^{3}_{13}\\w^{3}_{21} & w^{3}_{22} & w^{3}_{23}\end{matrix}\right] \left[\begin{matrix}a^{2}_{1}\\a^{2}_{2}\\a^{2}_{3}\end{matrix}\right]"  # noqa: E501
    left, right = split_chain(written)
    assert parse_formula(left, NET) == column(z(2, 1), z(2, 2))
    assert parse_formula(right, NET) == parse_formula("w^3 a^2", NET)
    assert parse_formula(r"\underbrace{\delta^{3}}_{m^{3} \times 1}", NET) == column(delta(2, 1), delta(2, 2))


def test_derivatives_on_the_right_stay_partials():
    value = parse_formula(r"\frac{\partial C}{\partial a^{3}_{1}} \frac{\partial a^{3}_{1}}{\partial z^{3}_{1}}", NET)
    assert value == Partial(COST, a(2, 1)) * Partial(a(2, 1), z(2, 1))


@pytest.mark.parametrize("lhs", [
    r"\frac{\partial C}{\partial w^{3}_{12}}", r"\partial C / \partial w^{3}_{12}", r"\frac{dC}{dw^{3}_{12}}",
    r"\frac{\mathrm{d}C}{\mathrm{d}w^{3}_{12}}", "dC/dw^3_12", "∂C/∂w^3_12",
    r"\dfrac{\partial C}{\partial w^{3}_{1,2}}",
])
def test_left_hand_sides_name_the_target(lhs):
    assert parse_claim(f"{lhs} = 0", NET).target == Target("gradient", ("w", 2, 1, 2))


def test_other_targets():
    assert parse_claim(r"\frac{\partial C}{\partial z^{3}_{1}} = 0", NET).target == Target("delta", ("delta", 2, 1))
    assert parse_claim(r"\frac{\partial C}{\partial z^{3}} = \delta^{3}", NET).target == \
        Target("delta_vector", ("delta", 2))
    assert parse_claim(r"\nabla_{W^{3}} C = \delta^{3} (a^{2})^T", NET).target == Target("gradient_matrix", ("W", 2))
    assert parse_claim(r"\delta^{(2)} = 0", NET, "qiu").target == Target("delta_vector", ("delta", 2))


@pytest.mark.parametrize("lhs, notation", [
    (r"\frac{\partial \mathcal{L}(\mathbf{y}, \hat{\mathbf{y}})}{\partial W^{(2)}_{12}}", "qiu"),
    (r"\frac{\partial L(y, \hat y)}{\partial W^{(2)}_{12}}", "qiu"),
    (r"\frac{\partial J(\Theta)}{\partial \Theta^{(2)}_{12}}", "ng"),
    (r"\frac{\partial}{\partial \Theta_{12}^{(2)}} J(\Theta)", "ng"),
    (r"\frac{\partial}{\partial \Theta_{12}^{(2)}} J", "ng"),
    (r"\frac{\partial}{\partial w^{3}_{12}} C", "nielsen"),
    (r"\frac{\partial C_x}{\partial w^{3}_{12}}", "nielsen"),
    (r"\frac{\partial C_{x}}{\partial w^{3}_{12}}", "nielsen"),
])
def test_the_cost_written_by_name_or_under_an_operator_names_the_gradient(lhs, notation):
    claim = parse_claim(f"{lhs} = 0", NET, notation)
    assert claim.target == Target("gradient", ("w", 2, 1, 2))
    assert F.lhs_target(lhs, NET, notation) == Target("gradient", ("w", 2, 1, 2))


def test_the_cost_with_its_arguments_and_the_operator_form_on_the_right_are_partials_of_the_cost():
    assert parse_formula(r"\frac{\partial}{\partial z_{1}^{(3)}} J(\Theta) a^{(2)}_{2}", NET, "ng") \
        == Partial(COST, z(2, 1)) * a(1, 2)
    assert parse_formula(r"\frac{\partial J(\Theta)}{\partial a_{1}^{(3)}}", NET, "ng") == Partial(COST, a(2, 1))
    assert parse_claim(r"\mathcal{L}(\mathbf{y}, \hat{\mathbf{y}}) = 0", NET, "qiu").target == Target("cost", ("C",))
    assert parse_claim(r"C_x = 0", NET).target == Target("cost", ("C",))
    matrix = parse_formula(r"\frac{\partial}{\partial b^{3}} C", NET)
    assert matrix == column(Partial(COST, Quantity("b", 2, 1)), Partial(COST, Quantity("b", 2, 2)))


@pytest.mark.parametrize("written", [
    r"\|a^{3} - y\|^2", r"\left\| a^{3} - y \right\|^{2}", r"\lVert a^{3} - y \rVert^2", r"\Vert a^{3} - y \Vert^2",
    r"‖a^{3} - y‖^2", r"\|a^{3} - y\|_2^2", r"\|{a^{3} - y}\|^2",
])
def test_a_squared_norm_is_the_sum_of_squares(written):
    assert parse_formula(written, NET) == (a(2, 1) - y(1)) ** 2 + (a(2, 2) - y(2)) ** 2


def test_a_norm_of_a_norm_and_of_a_matrix():
    assert parse_formula(r"\|x\|", NET) == sp.sqrt(x(1) ** 2 + x(2) ** 2)
    assert same(parse_formula(r"\| \left( \|x\| \right) y\|^2", NET), (x(1) ** 2 + x(2) ** 2) * (y(1) ** 2 + y(2) ** 2))
    assert parse_formula(r"\|W^{3}\|_F^2", NET) == sum(w(2, j, k) ** 2 for j in (1, 2) for k in (1, 2, 3))


def test_alignment_marks_labels_and_trailing_punctuation_are_ignored():
    claim = parse_claim(r"\delta^{3}_{1} &= a^{3}_{1} - y_{1} \label{eq:bp1} \nonumber.", NET)
    assert claim.target == Target("delta", ("delta", 2, 1)) and claim.rhs == a(2, 1) - y(1)


def test_syntax_is_chosen_from_the_text():
    assert lexing._choose_syntax(r"\delta", "auto") == "latex"
    assert lexing._choose_syntax("w^{3}_{1}", "auto") == "latex"
    assert lexing._choose_syntax("w^3_12", "auto") == "text"
    with pytest.raises(SpecError, match="unknown syntax 'python'"):
        parse_formula("x_1", NET, syntax="python")
    with pytest.raises(SpecError, match="unknown notation"):
        parse_formula("x_1", NET, notation="einstein")


# ------------------------------------------------------------------ errors like a compiler


def test_a_parse_error_gives_the_position_what_was_expected_and_a_caret():
    text = r"(a^{3}_{1} - y_{1} \sigma'(z)"
    error = error_of(parse_formula, text, NET)
    assert error.position == len(text)
    assert error.text == text
    assert "')'" in error.expected and "'+'" in error.expected and "'-'" in error.expected
    message = str(error)
    assert message.startswith(f"cannot read the formula at column {len(text) + 1}: expected one of ')', '+', '-'")
    assert message.endswith(f"  {text}\n  {' ' * len(text)}^")


def test_a_parse_error_in_the_middle_points_at_the_token():
    error = error_of(parse_formula, r"a^{3}_{1} + ) + 1", NET)
    assert error.position == 12
    assert "found ')'" in str(error)
    assert str(error).splitlines()[-1] == "  " + " " * 12 + "^"


def test_an_unknown_character_is_named():
    error = error_of(parse_formula, "a^3_1 # 2", NET)
    assert error.position == 6 and "'#'" in str(error)


def test_an_unknown_symbol_lists_the_symbols_of_the_network():
    error = error_of(parse_formula, r"q^{3}_{1} + 1", NET)
    message = str(error)
    assert message.startswith("unknown symbol q^{3}_{1} at column 1")
    assert "w^{l}_{jk} for l = 2, j in 1..3, k in 1..2; l = 3, j in 1..2, k in 1..3" in message
    assert r"\delta^{l}_{j} for l = 2, j in 1..3; l = 3, j in 1..2" in message
    assert error.position == 0
    ng = str(error_of(parse_formula, "w^{(2)}_{11} + v", NET, "ng"))
    assert r"\Theta^{(l)}_{jk} for l = 1, j in 1..3, k in 1..2" in ng
    assert r"\Theta^{(l)}_{j0} for l = 1, j in 1..3; l = 2, j in 1..2" in ng
    nodes = str(error_of(parse_formula, "v", NET, "nodes"))
    assert "w_{kj} for k in 1..2, j in 3..5; k in 3..5, j in 6..7" in nodes


def test_an_index_out_of_range_gives_the_valid_range():
    message = str(error_of(parse_formula, "w^{3}_{41}", NET))
    assert message.startswith("w^{3}_{41} is out of range: j = 4, but layer 3 has neurons 1..2")
    assert "w^{3}_{jk} has j in 1..2, k in 1..3" in message
    message = str(error_of(parse_formula, "w^{3}_{14}", NET))
    assert "k = 4, but layer 2 has neurons 1..3" in message
    message = str(error_of(parse_formula, "w^{5}_{11}", NET))
    assert "there is no layer 5 for w; expected a layer in 2..3" in message
    message = str(error_of(parse_formula, r"\sum_{k=1}^{4} w^{3}_{1k}", NET))
    assert "k = 4, but layer 2 has neurons 1..3" in message
    assert "needs a layer" in str(error_of(parse_formula, r"\delta_{1}", NET))


def test_an_ambiguous_multi_digit_index_asks_for_commas():
    network = sbp.Network([12, 12, 12])
    error = error_of(parse_formula, "w^{2}_{111}", network)
    assert "ambiguous" in str(error) and "commas" in str(error)
    assert "w^{2}_{1,11}" in str(error) and "w^{2}_{11,1}" in str(error)
    assert parse_formula("w^{2}_{1,11}", network) == w(1, 1, 11)


def test_a_free_index_must_be_summed():
    error = error_of(parse_formula, r"w^{3}_{1j}", NET)
    assert "the index j is free" in str(error) and r"\sum_{j}" in str(error)
    error = error_of(parse_formula, r"\sum_{k} 1", NET)
    assert "the range of k is unknown" in str(error)
    error = error_of(parse_formula, r"\sum_k w^{3}_{1k} a^{3}_{k}", NET)
    assert "no single range" in str(error) and "k in 1..3" in str(error) and "k in 1..2" in str(error)


def test_shape_mismatches_name_both_shapes():
    message = str(error_of(parse_formula, r"w^{3} \delta^{3}", NET))
    assert message.startswith(r"cannot multiply 2×3 by 2×1 (w^{3} times \delta^{3}): did you mean the transpose")
    assert "cannot add 2×1 and 3×1" in str(error_of(parse_formula, r"\delta^{3} + \delta^{2}", NET))
    assert "element-wise product of 2×1 and 3×1" in str(error_of(parse_formula, r"\delta^{3} \odot \delta^{2}", NET))
    assert "2×3 matrix to a power" in str(error_of(parse_formula, r"(w^{3})^2", NET))
    assert "1×2 matrix to a power" in str(error_of(parse_formula, r"((\delta^{3})^T)^2", NET))
    assert "divide by the 2×1 matrix" in str(error_of(parse_formula, r"1 / \delta^{3}", NET))
    assert "divide by the 3×1 matrix" in str(error_of(parse_formula, r"\delta^{3} / \delta^{2}", NET))
    assert "divide by the 2×3 matrix" in str(error_of(parse_formula, r"w^{3} / w^{3}", NET))


def test_a_column_vectors_power_and_a_quotient_of_two_vectors_of_one_shape_are_element_wise():
    a, y = (parse_formula(name, NET) for name in (r"a^{3}", "y"))
    assert parse_formula(r"(a^{3})^2", NET) == a.applyfunc(lambda e: e ** 2)
    assert parse_formula(r"\frac{a^{3} - y}{(a^{3})^{2}}", NET) == \
        sp.ImmutableMatrix([(a[i] - y[i]) / a[i] ** 2 for i in range(2)])
    assert parse_formula(r"(a^{3})^T / (y)^T", NET) == sp.ImmutableMatrix([[a[0] / y[0], a[1] / y[1]]])
    assert "divides by zero" in str(error_of(parse_formula, r"a^{3} / \begin{bmatrix} 1 \\ 0 \end{bmatrix}", NET))


@pytest.mark.parametrize("text, expected", [
    (r"\frac{\partial C}{\partial w^{3}_{12}} = 1 = 2", "the claim has 3 sides"),
    (r"a^{3}_{1} + 1", "the claim has no '='"),
    (r"a^{3}_{1} = 1", "names no gradient, error or cost"),
    (r"\frac{\partial a^{3}_{1}}{\partial w^{3}_{12}} = 1", "expected the cost"),
    (r"\frac{\partial C}{\partial a^{3}_{1}} = 1", "expected a weight, a bias"),
    (r"\frac{\partial}{\partial w^{3}_{12}} a^{3}_{1} = 1", "names no gradient, error or cost"),
    (r"\frac{\partial J(\Theta)}{\partial w^{3}_{12}} (1) = 1", "names no gradient"),
])
def test_claim_errors(text, expected):
    assert expected in str(error_of(parse_claim, text, NET))


@pytest.mark.parametrize("text, expected", [
    (r"\foo", r"unknown command \foo at column 1; expected one of"),
    (r"\text{foo} + 1", r"\text{foo} at column 1 names nothing known"),
    (r"x_1 \\ x_2", "outside a matrix"),
    (r"\begin{aligned} x \end{aligned}", "extract_equations"),
    ("", "the formula is empty"),
    (r"\partial C", "a differential alone"),
    (r"\sigma''(z^{3}_{1})", "second derivative"),
    (r"\exp'(z^{3}_{1})", "only the activation"),
    (r"\sigma^{-1}(z^{3}_{1})", "a power of a function is a whole number from 2 up"),
    (r"\tanh^{1}(z^{3}_{1})", "a power of a function is a whole number from 2 up"),
    (r"a^{3}_{1}'", "expected ^T for a transpose"),
    (r"w^{3}_{1.5}", "not a whole number"),
    (r"\frac123", r"\frac123 is unclear"),
    ("1/0", "divides by zero"),
    (r"\frac{1}{a^{3}_{1} - a^{3}_{1}}", "divides by zero"),
    (r"x^{1/2}", "not a whole number"),
    (r"\sum_{k=1}^{100000000} 1", "has 100000000 terms"),
    (r"\begin{matrix} 1 & 2 \\ 3 \end{matrix}", "the same number in every row"),
    (r"\frac{\partial}{\partial w^{3}_{12}}", "applies to nothing"),
    (r"\frac{\partial}{\partial w^{3}_{12}} a^{3}_{1}", "applies to nothing it can differentiate"),
    (r"\|x\|_1", r"the norm 1 is not read; expected the Euclidean norm"),
    (r"\|x", r"expected one of"),
    (r"\partial a^{3}_{1}(x)", "a differential alone"),
])
def test_formula_errors(text, expected):
    assert expected in str(error_of(parse_formula, text, NET))


def test_errors_are_spec_errors_with_one_problem():
    error = error_of(parse_formula, "w^{3}_{41}", NET)
    assert isinstance(error, SpecError) and len(error.problems) == 1


# ------------------------------------------------------------------ hostile input


def _outcome(function, *args):
    """``function(*args)``'s FormulaError, or None when it reads the text.

    Nothing here is timed: the bounds of the reader count characters, nesting, digits and terms, and how
    fast hostile input is refused is measured by the benchmark (README, "Benchmark"), not asserted.
    """
    try:
        function(*args)
    except FormulaError as error:
        return error
    return None


@pytest.mark.parametrize("template", [
    "__import__('os').system('touch {path}')",
    "__import__(\"os\").system(\"touch {path}\")",
    r"\frac{{\partial C}}{{\partial w^{{3}}_{{12}}}} = __import__('os').system('touch {path}')",
    "a^3_1 + eval(\"__import__('os').system('touch {path}')\")",
    "dC/dw^3_12 = exec('import os; os.system(\"touch {path}\")')",
    "`touch {path}`",
    "$(touch {path})",
])
def test_planted_commands_are_never_run(template, tmp_path):
    planted = tmp_path / "pwned"
    text = template.format(path=planted)
    for function in (parse_formula, parse_claim):
        for syntax in ("auto", "latex", "text"):
            outcome = _outcome(lambda t: function(t, NET, "nielsen", syntax), text)
            assert isinstance(outcome, FormulaError)
    assert not planted.exists()


@pytest.mark.parametrize("text, expected", [
    ("().__class__.__bases__[0].__subclasses__()", "is not part of the formula language"),
    ("x.__class__", "is not part of the formula language"),
    ("9**9**9", "the exponent 387420489"),
    (r"9^{9^{9}}", "the exponent 387420489"),
    ("2**100", "too large"),
    (r"(10^{20})^{20}", "digits"),
    (r"((((99999999999999999999^{15})^{15})^{15})^{15})", "digits"),
    ("(" * 10_000, "characters"),
    ("(" * 2_400 + "x" + ")" * 2_400, "nested more than"),
    ("{" * 100 + "x" + "}" * 100, "nested more than"),
    (r"\left(" * 60 + "x" + r"\right)" * 60, "nested more than"),
    ("a" * 100_000, "100000 characters"),
    ("-" * 4_900 + "x_1", None),
    ("x_1+" * 1_200 + "x_1", None),
    (r"\sum_j " * 7 + "x_1", "too many sums"),
    (r"\sum_{i=1}^{30}\sum_{j=1}^{30}\sum_{k=1}^{30} 1", "more than 20000 terms"),
    ("w^{3}_{" + "1" * 3000 + "}", "digits"),
    ("\x00\x01", "not part of the formula language"),
    ("1" * 4_400, "4400 digits"),
    ("w^{" + "1" * 4_400 + "}_{1}", "4400 digits"),
    (" ".join(["999999999"] * 450), "more than 300 digits"),
], ids=lambda value: value[:24] if isinstance(value, str) else str(value))
def test_hostile_input_is_refused_or_bounded(text, expected):
    outcome = _outcome(parse_formula, text, NET)
    if expected is None:
        assert outcome is None or isinstance(outcome, FormulaError)
    else:
        assert isinstance(outcome, FormulaError) and expected in str(outcome)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(list("w^_{}()[]123 +-*/'.=xyzabdCLT&\\") + [
    r"\sigma", r"\frac", r"\sum", r"\delta", r"\odot", "^T", r"\partial", r"\begin{matrix}", r"\end{matrix}", "sum_k",
    r"\nabla_", r"\hat y", "sigma", "**", ".*"]), max_size=30).map("".join))
def test_any_text_gives_a_value_or_a_formula_error(text):
    for function in (parse_formula, parse_claim):
        try:
            function(text, NET)
        except FormulaError:
            pass


def test_the_reader_never_evaluates_text():
    readers = ("reading", "lexing", "symbol_table", "transform", "extraction", "formula")
    for module in (Path(F.__file__).with_name(f"{name}.py") for name in readers):
        source = module.read_text(encoding="utf-8")
        for forbidden in ("eval(", "exec(", "sympify(", "parse_expr", "parse_latex", "__import__", "getattr(sp"):
            assert forbidden not in source, f"{module.name} calls {forbidden}"


def test_the_symbol_table_is_built_once_per_network_and_notation():
    network = NETWORKS["3-4-4-2"]
    table = symbol_table._symbol_table(network, "nielsen")
    assert symbol_table._symbol_table(sbp.Network([3, 4, 4, 2]), "nielsen") is table
    assert symbol_table._symbol_table(network, "ng") is not table


# ------------------------------------------------------------------ chains and documents


def test_split_chain_splits_only_at_top_level():
    assert split_chain(r"\delta^{3}_{1} &= \sum_{k=1}^{2} x_{k} = 0") == [
        r"\delta^{3}_{1}", r"\sum_{k=1}^{2} x_{k}", "0"]
    assert split_chain("a = b") == ["a", "b"]
    assert split_chain("a") == ["a"]
    assert split_chain(r"\begin{matrix} a & b \end{matrix} = c") == [r"\begin{matrix} a & b \end{matrix}", "c"]


MARKDOWN = r"""# Notes

Inline $x = 1$ is not a display.

$$
\delta^{3}_{1} = (a^{3}_{1} - y_{1}) \sigma'(z^{3}_{1})
$$

A blog writes `$$ \frac{\partial C}{\partial b^{3}_{1}} = \delta^{3}_{1} $$` in backticks.

```
$$ code = not an equation $$
```

$$
\begin{aligned}
\frac{\partial C}{\partial w^{3}_{12}} &= \delta^{3}_{1} a^{2}_{2} \\
&= (a^{3}_{1} - y_{1}) \sigma'(z^{3}_{1}) a^{2}_{2} \\
\delta^{2} &= \left[\begin{matrix} 1 \\ 2 \\ 3 \end{matrix}\right]
\end{aligned}
$$

\[ x_{1} = x_{1} \]
"""

LATEX = r"""\section{Notes}
\begin{equation}\label{eq:bp1}
\delta^{3}_{1} = (a^{3}_{1} - y_{1}) \sigma'(z^{3}_{1}) \tag{BP1}
\end{equation}
% \[ a commented display \]
\begin{align*}
\frac{\partial C}{\partial b^{3}_{1}} &= \delta^{3}_{1} \nonumber \\
\frac{\partial C}{\partial b^{3}_{2}} &= \delta^{3}_{2}
\end{align*}
\begin{equation*}
\begin{split}
\delta^{3} &= a^{3} - y
\end{split}
\end{equation*}
\begin{gather}
a = b \\
c = d
\end{gather}
\begin{multline}
x_{1} + x_{2} \\
+ x_{1} = 0
\end{multline}
$$ y_{1} = y_{1} $$
"""


def test_extract_equations_from_markdown():
    found = extract_equations(MARKDOWN, "md")
    assert found == [
        (6, r"\delta^{3}_{1} = (a^{3}_{1} - y_{1}) \sigma'(z^{3}_{1})"),
        (9, r"\frac{\partial C}{\partial b^{3}_{1}} = \delta^{3}_{1}"),
        (17, r"\frac{\partial C}{\partial w^{3}_{12}} = \delta^{3}_{1} a^{2}_{2} = (a^{3}_{1} - y_{1}) "
             r"\sigma'(z^{3}_{1}) a^{2}_{2}"),
        (19, r"\delta^{2} = \left[\begin{matrix} 1 \\ 2 \\ 3 \end{matrix}\right]"),
        (23, "x_{1} = x_{1}"),
    ]
    sides = split_chain(found[2][1])
    assert len(sides) == 3
    assert same(parse_claim(f"{sides[0]} = {sides[2]}", NET).rhs, parse_formula(sides[1], NET).subs(
        delta(2, 1), (a(2, 1) - y(1)) * SIGMA_PRIME(z(2, 1))))


def test_extract_equations_from_latex():
    found = extract_equations(LATEX, "tex")
    assert found == [
        (3, r"\delta^{3}_{1} = (a^{3}_{1} - y_{1}) \sigma'(z^{3}_{1})"),
        (7, r"\frac{\partial C}{\partial b^{3}_{1}} = \delta^{3}_{1}"),
        (8, r"\frac{\partial C}{\partial b^{3}_{2}} = \delta^{3}_{2}"),
        (12, r"\delta^{3} = a^{3} - y"),
        (16, "a = b"),
        (17, "c = d"),
        (20, "x_{1} + x_{2} + x_{1} = 0"),
        (23, "y_{1} = y_{1}"),
    ]
    assert parse_claim(found[0][1], NET).target == Target("delta", ("delta", 2, 1))


def test_extract_equations_checks_the_format():
    with pytest.raises(SpecError, match="unknown document format 'html'"):
        extract_equations("", "html")


@pytest.mark.parametrize("example", ["nielsen", "seed002", "seed003", "seed004"])
def test_every_equation_of_the_gallery_reads_or_fails_cleanly(example):
    from symbackprop.examples import EXAMPLES

    entry = next(e for e in EXAMPLES if e.key == example)
    path = GALLERY / f"{example}.en.md"
    if not path.is_file():
        pytest.skip(f"{path} is not in the gallery")
    read = 0
    for _, equation in extract_equations(path.read_text(encoding="utf-8"), "md"):
        for side in split_chain(equation):
            try:
                parse_formula(side, entry.network, entry.notation)
                read += 1
            except FormulaError:
                pass  # statements about any layer l have free indices
    assert read >= 25  # each equation is stated once: fewer displays than when it was repeated


def test_the_grammar_ships_beside_the_module():
    assert (Path(F.__file__).parent / "formula.lark").is_file()


# ------------------------------------------------------------------ what the documents write


def test_a_claim_with_index_letters_is_read_at_every_concrete_layer_and_index():
    from symbackprop.claims.formula import claim_instances

    net = sbp.Network([2, 3, 2])
    found = claim_instances(r"\delta^{l}_{j} = \sigma'(z^{l}_{j}) \sum_{k} w^{l+1}_{kj} \delta^{l+1}_{k}", net)
    # δ^{l+1} exists below the output layer only: l = 2, with j over its three neurons
    assert found.letters == (("l", (2,)), ("j", (1, 2, 3)))
    assert [claim.target.key for _, claim in found.claims] == [("delta", 1, j) for j in (1, 2, 3)]


def test_sums_over_the_weights_and_substacks_read_the_regulariser():
    from symbackprop.claims.formula import parse_formula

    net = sbp.Network([2, 3, 2], l2=True)
    weights = sp.Add(*[q**2 for q in {s for s in parse_formula(r"\sum_{w} w^{2}", net).free_symbols}])
    assert parse_formula(r"\sum_{w} w^{2}", net) == weights and len(weights.args) == 2 * 3 + 3 * 2
    stacked = parse_formula(r"\sum_{\substack{1 \leq r \leq m^{p - 1}\\ 1 \leq q \leq m^{p}\\ 2 \leq p \leq L}}"
                            r" \left(w^{p}_{qr}\right)^{2}", net)
    assert stacked == weights


def test_the_unregularised_cost_and_a_dimension_annotation_are_read():
    from symbackprop.claims.formula import FormulaShapeError, parse_claim

    net = sbp.Network([2, 3, 2], l2=True)
    claim = parse_claim(r"\frac{\partial C}{\partial w^{2}_{11}} = \frac{\partial C_{0}}{\partial w^{2}_{11}}"
                        r" + \frac{\lambda}{n} w^{2}_{11}", net)
    assert claim.target.key == ("w", 1, 1, 1)
    with pytest.raises(FormulaShapeError, match="says 2×1"):
        parse_formula(r"\underbrace{\delta^{2}}_{2 \times 1}", net)


def test_kronecker_deltas_and_the_jacobian_of_the_output():
    net = sbp.Network([2, 3, 2], activation=["sigmoid", "softmax"], cost="cross_entropy")
    assert parse_formula(r"\sum_{i=1}^{2} \delta_{i2} a^{3}_{i}", net) == Quantity("a", 2, 2)
    assert parse_formula(r"\delta_{12} + \delta_{22}", net) == 1
    jacobian = parse_formula(r"J^{T}", net)
    assert jacobian.shape == (2, 2)


def test_a_long_sum_broken_over_lines_inside_a_row_is_one_expression():
    document = ("$$\n\\begin{aligned}\nz &= \\begin{aligned}\n&a + b \\\\\n&+ c\n\\end{aligned} \\\\\n"
                "&= d\n\\end{aligned}\n$$\n")
    assert extract_equations(document, "md") == [(3, "z = a + b + c = d")]
