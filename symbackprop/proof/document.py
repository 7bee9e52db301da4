"""What a derivation document shows, as data: the expressions, never the words.

:func:`document_model` reads a :class:`~symbackprop.chain.Derivation` and its
check :class:`~symbackprop.equations.Report` and lays out every formula a
write-up needs: the notation table, the forward pass (in general and for each
layer), the cost, each parameter's chain-rule expansion for small networks and
the matrices they merge into, BP1–BP4 in index and matrix form with the
dimensions of every factor, and the special results that apply. Templates put
words around it; the printer writes every formula. Nothing here is computed
again from scratch: gradients, steps and verdicts come from the derivation and
its report.

General statements use symbolic indices (l, j, k, L) in the chosen notation's
own numbering: a layer written l in the notation is canonical layer
``l - layer_offset``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import sympy as sp

from ..model.activations import A, VectorActivation, opaque_functions
from ..model.costs import Y
from .equations import EQUATIONS, matrix_form
from ..documents.printing import notation as lookup_notation
from ..model.symbols import COST, LAMBDA, N_EXAMPLES, UNREGULARISED, Chain, GradientOf, LayerMatrix, Partial, Quantity, Shape, SumOver

#: networks with at most this many parameters get every parameter's chain rule written out
EXPANSION_LIMIT = 24
#: networks with layers of at most this many neurons get their matrices written element by element
EXPLICIT_LIMIT = 6
#: a cost of more terms than this is written as a sum over the output neurons (a line holds about six)
COST_TERMS_WRITTEN_OUT = 6

l_, j_, k_, i_, L_ = sp.symbols("l j k i L", integer=True, positive=True)


@dataclass(frozen=True)
class Equation:
    """A displayed formula: ``expr`` (an Eq, a Chain or an expression), a label for LaTeX."""

    expr: sp.Basic
    label: str | None = None
    shapes: bool = False


@dataclass(frozen=True)
class BPEquation:
    """One of BP1–BP4: index form, matrix form with shapes, its derivation, its verdicts."""

    name: str
    index_form: Equation
    matrix_form: Equation
    derivation: tuple[sp.Basic, ...]
    instances: tuple[Equation, ...]
    facts: tuple
    softmax: bool = False
    #: with a softmax output: the definition of the Jacobian of the softmax in the matrix form, ∂a_i/∂z_j
    jacobian: Equation | None = None
    #: why each line of the derivation after the first holds: (the template's key for the words, a formula or None)
    reasons: tuple = ()

    @property
    def rows(self) -> tuple["Row", ...]:
        """The derivation as lines with their justifications, for a document's align chain."""
        return tuple(Row(expr, key, math) for expr, (key, math) in zip(self.derivation[1:], self.reasons))


@dataclass(frozen=True)
class Row:
    """One line of a derivation: ``= expr``, justified by ``words`` (a key the template words) and ``math``."""

    expr: sp.Basic
    words: str
    math: sp.Basic | None = None


@dataclass(frozen=True)
class Expansion:
    """One parameter's chain rule: ∂C/∂θ = product of partials = their values = the result."""

    key: tuple
    chain: Chain

    #: a document displays it like any equation
    expr = property(lambda self: self.chain)
    shapes = False
    label = None


@dataclass(frozen=True)
class LayerBlock:
    """One layer's gradients merged into matrices, as seed-style write-ups group them."""

    layer: int
    size: int
    fan_in: int
    activation: str
    bias: bool
    rows: tuple[Equation, ...]      # one neuron's weights as a column, = δ_j (a^{l-1})
    merged: Equation | None         # ∂C/∂W^l written out = δ^l (a^{l-1})^T
    delta: Equation                 # δ^l_1 (or every δ^l_j for small layers)
    pattern: Equation               # ∂C/∂w^l_{1k} and its closed form
    #: a hidden layer written out: the weights that leave it, merged into the next weight matrix transposed
    transposed: Equation | None = None
    first_neuron: sp.Basic | None = None   # δ^l_1
    first_sum: sp.Basic | None = None      # Σ_k w^{l+1}_{k1} δ^{l+1}_k, what neuron 1 collects


@dataclass(frozen=True)
class Special:
    """A special result that applies to this network: ``kind`` picks the template's words."""

    kind: str
    equations: tuple[Equation, ...]
    context: dict = field(default_factory=dict)


@dataclass(frozen=True)
class DocumentModel:
    network: object
    derivation: object
    report: object
    notation: str
    sizes: tuple
    notation_rows: tuple
    forward_general: tuple[Equation, ...]
    forward_layers: tuple[Equation, ...]
    cost: tuple[Equation, ...]
    expansions: tuple[Expansion, ...]
    layers: tuple[LayerBlock, ...]
    bp: tuple[BPEquation, ...]
    specials: tuple[Special, ...]
    detailed: bool
    explicit: bool
    general_weight: Quantity
    general_bias: Quantity
    #: the layers without biases: all of them, some, or none
    unbiased_layers: tuple[int, ...] = ()
    #: the number of training examples (n; m in Ng's notation), for prose that names it
    examples: Quantity = N_EXAMPLES
    expansion_limit: int = EXPANSION_LIMIT
    #: the letters prose uses for a layer, the one before it, the output layer and two neurons, as formulas
    layer_l: sp.Basic = None
    layer_before: sp.Basic = None
    output_layer: sp.Basic = None
    index_j: sp.Basic = j_
    index_k: sp.Basic = k_
    #: Ng's bias unit of layer l, a^{(l)}_0 = 1 (None in other notations)
    bias_unit: sp.Basic | None = None


class _General:
    """Quantities with symbolic indices, written in a notation's own layer numbering."""

    def __init__(self, notation_name: str):
        self.offset = lookup_notation(notation_name).layer_offset
        #: Ng's notation: a bias is the weight Θ_{j0} from a bias unit a_0 = 1, never a vector of its own
        self.bias_units = lookup_notation(notation_name).bias_as_weight
        #: the letter of a weight, for a sum over every weight (Σ_w w², Σ_Θ Θ²)
        self.weight_letter = lookup_notation(notation_name).letters["w"][0].lstrip("\\")

    def layer(self, printed):
        return printed - self.offset

    def q(self, kind, printed_layer, *indices):
        return Quantity(kind, self.layer(printed_layer), *indices)

    def size(self, printed_layer):
        return Quantity("m", self.layer(printed_layer))

    def matrix(self, kind, printed_layer, cols_layer=None):
        rows = self.size(printed_layer if kind != "W" else printed_layer)
        if kind == "W":
            return LayerMatrix("W", self.layer(printed_layer), rows, self.size(printed_layer - 1))
        return LayerMatrix(kind, self.layer(printed_layer), rows, 1)


def _forward_general(g: _General, network) -> tuple[Equation, ...]:
    """z^l_j = Σ_k w^l_jk a^{l-1}_k (+ b^l_j), a^l_j = σ(z^l_j), z^l = W^l a^{l-1} (+ b^l).

    The bias appears when some layer has biases; a document names the layers without them.
    """
    sigma, _ = opaque_functions("sigma")
    z = g.q("z", l_, j_)
    weighted = sp.Sum(g.q("w", l_, j_, k_) * g.q("a", l_ - 1, k_), (k_, 1, g.size(l_ - 1)))
    W, a_prev, b = g.matrix("W", l_), g.matrix("a", l_ - 1), g.matrix("b", l_)
    product = sp.MatMul(W, a_prev)
    if _has_biases(network) and g.bias_units:
        # Ng: the bias weights are column 0 of the weights, and the bias unit a_0 = 1 sits on top of the activations
        weighted += g.q("b", l_, j_) * g.q("a", l_ - 1, 0)
        width = g.size(l_ - 1) + 1
        product = sp.MatMul(LayerMatrix("Wb", g.layer(l_), g.size(l_), width),
                            LayerMatrix("a1", g.layer(l_ - 1), width, 1))
    elif _has_biases(network):
        weighted, product = weighted + g.q("b", l_, j_), sp.MatAdd(product, b)
    return (
        Equation(sp.Eq(z, weighted, evaluate=False), "forward-z"),
        Equation(sp.Eq(g.q("a", l_, j_), sigma(z), evaluate=False), "forward-a"),
        Equation(sp.Eq(g.matrix("z", l_), product, evaluate=False), "forward-matrix", shapes=True),
    )


def _has_biases(network) -> bool:
    return any(layer.bias for layer in network.layers)


def _explicit(m: LayerMatrix) -> sp.ImmutableMatrix:
    return sp.ImmutableMatrix(m.as_explicit())


def _forward_layers(derivation, g: _General) -> tuple[Equation, ...]:
    """z^l = W^l a^{l-1} + b^l for each layer, element by element (in Ng's notation, the bias weights as column 0
    of the weights and the bias unit 1 on top of the activations)."""
    network = derivation.network
    out = []
    for layer in network.layers:
        l, m, m_prev = layer.index, layer.size, network.sizes[layer.index - 1]
        W = _explicit(LayerMatrix("W", l, m, m_prev))
        a_prev = _explicit(LayerMatrix("a", l - 1, m_prev))
        rhs = sp.MatMul(W, a_prev, evaluate=False)
        if layer.bias and g.bias_units:
            rhs = sp.MatMul(_explicit(LayerMatrix("Wb", l, m, m_prev + 1)),
                            _explicit(LayerMatrix("a1", l - 1, m_prev + 1)), evaluate=False)
        elif layer.bias:
            rhs = sp.MatAdd(rhs, _explicit(LayerMatrix("b", l, m)), evaluate=False)
        out.append(Equation(sp.Eq(_explicit(LayerMatrix("z", l, m)), rhs, evaluate=False)))
    return tuple(out)


def _notation_rows(g: _General, network) -> tuple:
    """(kind, symbol, rows, cols) for the notation table, in general form."""
    rows = [
        ("x", LayerMatrix("x", 0, g.size(g.offset), 1)),
        ("W_beside_bias" if g.bias_units and _has_biases(network) else "W", g.matrix("W", l_)),
        ("w", g.q("w", l_, j_, k_)),
        # in Ng's notation a bias is one weight, Θ_{j0}, not a vector
        *([("bias_weight" if g.bias_units else "b", g.q("b", l_, j_) if g.bias_units else g.matrix("b", l_))]
          if _has_biases(network) else []),
        ("z", g.matrix("z", l_)),
        ("a", g.matrix("a", l_)),
        ("delta", g.matrix("delta", l_)),
        ("y", LayerMatrix("y", 0, g.size(L_), 1)),
        ("m", g.size(l_)),
        ("C", COST),
    ]
    if network.l2 is not None:
        rows += [("lambda", LAMBDA), ("n", N_EXAMPLES)]
    elif network.mean:
        rows.append(("n", N_EXAMPLES))
    return tuple((kind, symbol, Shape(*symbol.shape) if hasattr(symbol, "shape") else None) for kind, symbol in rows)


def _cost(derivation, g: _General) -> tuple[Equation, ...]:
    """C for one example; an L2 term is written as a sum over the weights, not expanded.

    Written out term by term while that fits a line (at most :data:`COST_TERMS_WRITTEN_OUT`
    terms), else as the sum over the output neurons, Σ_j c(a^L_j, y_j).
    """
    fw, network = derivation.forward, derivation.network
    data = network.cost.total(fw.activations(network.depth), fw.targets)
    if len(sp.Add.make_args(data)) > COST_TERMS_WRITTEN_OUT:
        L = network.depth
        data = sp.Sum(network.cost.term.xreplace({A: Quantity("a", L, j_), Y: Quantity("y", j_)}),
                      (j_, 1, network.output.size))
    if network.l2 is not None:
        w = sp.Symbol(g.weight_letter, real=True)  # Σ_w w², Σ_Θ Θ² in Ng's notation
        data = data + network.l2 / (2 * N_EXAMPLES) * SumOver(w**2, w)
    return (Equation(sp.Eq(COST, data, evaluate=False), "cost"),)


def _expansion(derivation, key, partials: bool = True) -> Expansion:
    """∂C/∂θ = (chain of partials) = (their values) = closed form, from the derivation's steps.

    ``partials=False`` leaves out the chain of partials, for a parameter whose chain has the same
    shape as the one written before it (the same layer, the same kind of parameter).
    """
    steps = derivation.steps(key)
    by_rule = {}
    for step in steps:
        by_rule.setdefault(step.rule, []).append(step)
    theta = derivation.symbol(key)
    l, j = key[1], key[2]
    fw = derivation.forward
    z = fw.q("z", l, j)
    dz = by_rule["weighted_input_derivative"][0].after  # ∂z/∂θ
    delta_steps = derivation.deltas[(l, j)].steps
    # the chain of partials that makes up δ (output: ∂C/∂a ∂a/∂z; hidden: the sum over paths)
    chain_rule = delta_steps[0].after
    values = {s.before: s.after for s in delta_steps if isinstance(s.before, Partial)}
    values.pop(Partial(COST, z), None)
    symbolic = chain_rule * Partial(z, theta)
    substituted = chain_rule.xreplace(values) * dz
    if any(s.rule == "delta_definition" for s in delta_steps):
        # hidden: write the next layer's δ out, as a hand derivation does
        named = derivation.gradient(key, form="named")
    else:
        named = derivation.gradient(key)
    if derivation.network.l2 is not None and key[0] == "w":
        symbolic += fw.regulariser_gradient(theta)
        substituted += fw.regulariser_gradient(theta)
    links = [Partial(COST, theta), symbolic, substituted, named] if partials else \
        [Partial(COST, theta), substituted, named]
    unique = [links[0]]
    for link in links[1:]:
        if link != unique[-1]:
            unique.append(link)
    return Expansion(key, Chain(*unique))


def _layer_blocks(derivation, explicit: bool) -> tuple[LayerBlock, ...]:
    network, fw = derivation.network, derivation.forward
    blocks = []
    form = matrix_form(derivation) if explicit else None
    for layer in reversed(network.layers):
        l, m, m_prev = layer.index, layer.size, network.sizes[layer.index - 1]
        rows, merged = [], None
        if explicit:
            a_prev = _explicit(LayerMatrix("a", l - 1, m_prev))
            strength = _strength(network)
            for j in range(1, m + 1):
                column = sp.ImmutableMatrix([[Partial(COST, fw.q("w", l, j, k))] for k in range(1, m_prev + 1)])
                value = sp.MatMul(fw.q("delta", l, j), a_prev, evaluate=False)
                if strength is not None:  # the regulariser's derivative (λ/n) w for each weight into neuron j
                    weights = sp.ImmutableMatrix([[fw.q("w", l, j, k)] for k in range(1, m_prev + 1)])
                    value = sp.MatAdd(value, sp.MatMul(strength, weights, evaluate=False), evaluate=False)
                rows.append(Equation(sp.Eq(column, value, evaluate=False)))
            grads = sp.ImmutableMatrix(m, m_prev, lambda r, c: Partial(COST, fw.q("w", l, r + 1, c + 1)))
            delta = _explicit(LayerMatrix("delta", l, m))
            product = sp.MatMul(delta, a_prev.T, evaluate=False)
            if strength is not None:
                # the weight matrix by its name: written out, the line would run into the margin
                product = sp.MatAdd(product, sp.MatMul(strength, LayerMatrix("W", l, m, m_prev),
                                                       evaluate=False), evaluate=False)
            merged = Equation(sp.Eq(grads, product, evaluate=False), f"merged-{l}")
            assert form.weights[l].shape == grads.shape  # the merged matrix has the shape of W^l
        shown = range(1, m + 1) if explicit else (1,)
        deltas = [sp.Eq(fw.q("delta", l, j), derivation.delta(l, j), evaluate=False) for j in shown]
        delta = Equation(deltas[0] if len(deltas) == 1 else sp.ImmutableMatrix([[d.lhs] for d in deltas]))
        if len(deltas) > 1:
            delta = Equation(sp.Eq(sp.ImmutableMatrix([[d.lhs] for d in deltas]),
                                   sp.ImmutableMatrix([[d.rhs] for d in deltas]), evaluate=False))
        pattern = Equation(sp.Eq(Partial(COST, fw.q("w", l, 1, 1)), derivation.gradient(("w", l, 1, 1)),
                                 evaluate=False))
        transposed = first_neuron = first_sum = None
        if explicit and l < network.depth:
            # the weights leaving layer l: row j holds the weights from neuron j, a column of W^{l+1}
            m_next = network.sizes[l + 1]
            leaving = sp.ImmutableMatrix(m, m_next, lambda r, c: fw.q("w", l + 1, c + 1, r + 1))
            transposed = Equation(sp.Eq(leaving, sp.Transpose(LayerMatrix("W", l + 1, m_next, m)), evaluate=False))
            first_neuron = fw.q("delta", l, 1)
            first_sum = sp.Add(*[sp.Mul(fw.q("w", l + 1, k, 1), fw.q("delta", l + 1, k), evaluate=False)
                                 for k in range(1, m_next + 1)], evaluate=False)
        blocks.append(LayerBlock(l, m, m_prev, layer.activation.label, layer.bias, tuple(rows), merged, delta,
                                 pattern, transposed, first_neuron, first_sum))
    return tuple(blocks)


def _bp_equations(derivation, report, g: _General) -> tuple[BPEquation, ...]:
    network = derivation.network
    sigma, sigma_prime = opaque_functions("sigma")
    softmax = isinstance(network.output.activation, VectorActivation)
    facts = {name: tuple(f for f in (report.facts if report else ()) if f.equation == name) for name in EQUATIONS}
    # --- BP1
    zL, aL, yj = g.q("z", L_, j_), g.q("a", L_, j_), Quantity("y", j_)
    grad = network.cost.gradient(aL, yj)
    if softmax:
        ai = g.q("a", L_, i_)
        index_rhs = sp.Sum(Partial(COST, ai) * Partial(ai, zL), (i_, 1, g.size(L_)))
        jac = sp.MatrixSymbol("J", g.size(L_), g.size(L_))
        matrix_rhs = sp.MatMul(sp.Transpose(jac), g.matrix("grad_a", L_))
        derivation1 = (Partial(COST, zL), index_rhs)
        reasons1 = (("chain_all_outputs", None),)
    else:
        index_rhs = Partial(COST, aL) * sigma_prime(zL)
        matrix_rhs = sp.HadamardProduct(g.matrix("grad_a", L_), g.matrix("dsigma", L_))
        derivation1 = (Partial(COST, zL), Partial(COST, aL) * Partial(aL, zL), index_rhs, grad * sigma_prime(zL))
        reasons1 = (("chain_only", aL), ("activation_slope", sp.Eq(aL, sigma(zL), evaluate=False)),
                    ("cost_derivative", None))
    bp1 = BPEquation(
        "BP1",
        Equation(sp.Eq(g.q("delta", L_, j_), index_rhs, evaluate=False), "bp1"),
        Equation(sp.Eq(g.matrix("delta", L_), matrix_rhs, evaluate=False), "bp1-matrix", shapes=True),
        derivation1, _instances(derivation, "BP1"), facts["BP1"], softmax,
        _softmax_jacobian(g) if softmax else None, reasons1,
    )
    # --- BP2
    zl, al = g.q("z", l_, j_), g.q("a", l_, j_)
    zk = g.q("z", l_ + 1, k_)
    w_next = g.q("w", l_ + 1, k_, j_)
    delta_next = g.q("delta", l_ + 1, k_)
    bp2 = BPEquation(
        "BP2",
        Equation(sp.Eq(g.q("delta", l_, j_),
                       sp.Sum(w_next * delta_next, (k_, 1, g.size(l_ + 1))) * sigma_prime(zl), evaluate=False), "bp2"),
        Equation(sp.Eq(g.matrix("delta", l_),
                       sp.HadamardProduct(sp.MatMul(sp.Transpose(g.matrix("W", l_ + 1)), g.matrix("delta", l_ + 1)),
                                          g.matrix("dsigma", l_)), evaluate=False), "bp2-matrix", shapes=True),
        (
            Partial(COST, zl),
            sp.Sum(Partial(COST, zk) * Partial(zk, zl), (k_, 1, g.size(l_ + 1))),
            sp.Sum(delta_next * Partial(zk, al) * Partial(al, zl), (k_, 1, g.size(l_ + 1))),
            sp.Sum(delta_next * w_next * sigma_prime(zl), (k_, 1, g.size(l_ + 1))),
        ),
        _instances(derivation, "BP2"), facts["BP2"],
        reasons=(("chain_through", zk), ("delta_and_activation", sp.Eq(delta_next, Partial(COST, zk), evaluate=False)),
                 ("weighted_input_slope", sp.Eq(Partial(zk, al), w_next, evaluate=False))),
    )
    # --- BP3
    b = g.q("b", l_, j_)
    bp3 = BPEquation(
        "BP3",
        Equation(sp.Eq(Partial(COST, b), g.q("delta", l_, j_), evaluate=False), "bp3"),
        # Ng's notation has no bias vector: the bias weights are column 0 of the weights, and BP3 is their index form
        None if g.bias_units else
        Equation(sp.Eq(_grad_matrix("b", g), g.matrix("delta", l_), evaluate=False), "bp3-matrix", shapes=True),
        (Partial(COST, b), Partial(COST, zl) * Partial(zl, b), g.q("delta", l_, j_)),
        (), facts["BP3"], reasons=(("chain_only", zl), ("bias_slope", sp.Eq(Partial(zl, b), 1, evaluate=False))),
    )
    # --- BP4; with L2 regularisation the weight also enters the cost directly: + (λ/n) w^l_{jk}
    w = g.q("w", l_, j_, k_)
    a_prev = g.q("a", l_ - 1, k_)
    strength = _strength(network)
    direct = 0 if strength is None else strength * w
    matrix = sp.MatMul(g.matrix("delta", l_), sp.Transpose(g.matrix("a", l_ - 1)))
    if strength is not None:
        matrix = sp.MatAdd(matrix, sp.MatMul(strength, g.matrix("W", l_)))
    bp4 = BPEquation(
        "BP4",
        Equation(sp.Eq(Partial(COST, w), a_prev * g.q("delta", l_, j_) + direct, evaluate=False), "bp4"),
        Equation(sp.Eq(_grad_matrix("W", g), matrix, evaluate=False), "bp4-matrix", shapes=True),
        (Partial(COST, w), Partial(COST, zl) * Partial(zl, w) + direct, g.q("delta", l_, j_) * a_prev + direct),
        _instances(derivation, "BP4"), facts["BP4"],
        reasons=(("chain_only" if strength is None else "chain_and_penalty", zl),
                 ("weight_slope", sp.Eq(Partial(zl, w), a_prev, evaluate=False))),
    )
    return (bp1, bp2, bp3, bp4)


def _strength(network):
    """λ/n, the factor of a weight in its regulariser's derivative; None without L2 regularisation."""
    return None if network.l2 is None else network.l2 / N_EXAMPLES


def _grad_matrix(kind, g):
    """∂C/∂W^l and ∂C/∂b^l as symbols with the shapes of W^l and b^l."""
    m = g.matrix(kind, l_)
    return GradientOf(m)


def _instances(derivation, name) -> tuple[Equation, ...]:
    """The matrix form of an equation for each layer of this network, with numeric shapes."""
    network = derivation.network
    L = network.depth
    out = []
    for layer in network.layers:
        l, m, m_prev = layer.index, layer.size, network.sizes[layer.index - 1]
        delta = LayerMatrix("delta", l, m)
        if name == "BP1" and l == L:
            if isinstance(network.output.activation, VectorActivation):
                continue
            rhs = sp.HadamardProduct(LayerMatrix("grad_a", l, m), LayerMatrix("dsigma", l, m))
        elif name == "BP2" and l < L:
            W = LayerMatrix("W", l + 1, network.sizes[l + 1], m)
            rhs = sp.HadamardProduct(sp.MatMul(sp.Transpose(W), LayerMatrix("delta", l + 1, network.sizes[l + 1])),
                                     LayerMatrix("dsigma", l, m))
        elif name == "BP4":
            W = LayerMatrix("W", l, m, m_prev)
            rhs = sp.MatMul(delta, sp.Transpose(LayerMatrix("a", l - 1, m_prev)))
            if _strength(network) is not None:
                rhs = sp.MatAdd(rhs, sp.MatMul(_strength(network), W))
            out.append(Equation(sp.Eq(GradientOf(W), rhs, evaluate=False), shapes=True))
            continue
        else:
            continue
        out.append(Equation(sp.Eq(delta, rhs, evaluate=False), shapes=True))
    return tuple(out)


def _kronecker():
    """δ_ij, the Kronecker delta, as documents show it."""
    from .general import IndexDelta

    return IndexDelta(i_, j_)


def _softmax_jacobian(g: _General) -> Equation:
    """J_ij = ∂a^L_i/∂z^L_j = a^L_i (δ_ij − a^L_j): the Jacobian of a softmax output layer."""
    ai, aj = g.q("a", L_, i_), g.q("a", L_, j_)
    jac = sp.MatrixSymbol("J", g.size(L_), g.size(L_))
    return Equation(Chain(jac[i_, j_], Partial(ai, g.q("z", L_, j_)), ai * (_kronecker() - aj)))


def _softmax_cancellation(g: _General, network) -> tuple[Equation, ...]:
    """Why δ^L = a^L − y for a softmax output under a cost whose targets sum to one.

    δ^L_j = Σ_i ∂C/∂a_i J_ij = Σ_i (−y_i/a_i) a_i (δ_ij − a_j) = a_j Σ_i y_i − y_j = a_j − y_j,
    with ∂C/∂a_i from ``sympy.diff`` of the cost and Σ_i y_i = 1.
    """
    m = g.size(L_)
    ai, aj, yi, yj = g.q("a", L_, i_), g.q("a", L_, j_), Quantity("y", i_), Quantity("y", j_)
    jac = sp.MatrixSymbol("J", m, m)
    grad = network.cost.gradient(ai, yi)
    total = sp.Sum(yi, (i_, 1, m))
    chain = Chain(
        g.q("delta", L_, j_),
        sp.Sum(sp.Mul(Partial(COST, ai), jac[i_, j_], evaluate=False), (i_, 1, m)),
        sp.Sum(sp.Mul(grad, ai * (_kronecker() - aj), evaluate=False), (i_, 1, m)),
        sp.Add(sp.Mul(aj, total, evaluate=False), -yj, evaluate=False),
        aj - yj,
    )
    return (
        Equation(sp.Eq(Partial(COST, ai), grad, evaluate=False)),
        _softmax_jacobian(g),
        Equation(sp.Eq(total, 1, evaluate=False)),
        Equation(chain),
    )


def _specials(derivation, g: _General) -> tuple[Special, ...]:
    network, fw = derivation.network, derivation.forward
    out = []
    seen = set()
    for layer in network.layers:
        rule = layer.activation
        if isinstance(rule, VectorActivation) or rule.label in seen:
            continue
        seen.add(rule.label)
        z, a = fw.q("z", layer.index, 1), fw.q("a", layer.index, 1)
        prime = rule.prime_function(z)
        if rule.identity is not None and rule.name != "identity":
            out.append(Special("identity", (Equation(Chain(prime, rule.prime(z), rule.prime_named(z, a))),),
                               {"activation": rule.name, "layer": layer.index}))
        elif rule.convention:
            out.append(Special(rule.convention, (Equation(sp.Eq(prime, rule.prime(z), evaluate=False)),),
                               {"activation": rule.label, "layer": layer.index}))
    L = network.depth
    first = derivation.deltas[(L, 1)]
    simplified = [s for s in first.steps if s.rule in ("simplify", "targets_sum_to_one")]
    if simplified:
        chain = Chain(Partial(COST, fw.q("z", L, 1)), simplified[0].before, *[s.after for s in simplified])
        softmax = isinstance(network.output.activation, VectorActivation) and network.cost.targets_sum_to_one
        general = _softmax_cancellation(g, network) if softmax else ()
        out.append(Special("cancellation", (*general, Equation(chain)), {
            "softmax": softmax, "kronecker": _kronecker() if softmax else None,
            "i_equals_j": sp.Eq(i_, j_, evaluate=False),
            "activation": network.output.activation.name, "cost": network.cost.name,
            "targets_sum_to_one": any(s.rule == "targets_sum_to_one" for s in simplified),
        }))
    if network.l2 is not None:
        w_any = sp.Symbol(g.weight_letter, real=True)
        unregularised = UNREGULARISED
        regulariser = network.l2 / (2 * N_EXAMPLES) * SumOver(w_any**2, w_any)
        key = ("w", 1, 1, 1)
        w = fw.q(*key)
        out.append(Special("regularisation", (
            Equation(sp.Eq(COST, unregularised + regulariser, evaluate=False)),
            Equation(sp.Eq(Partial(COST, w), Partial(unregularised, w) + fw.regulariser_gradient(w), evaluate=False)),
            Equation(sp.Eq(Partial(COST, w), derivation.gradient(key), evaluate=False)),
        ), {"strength": network.l2}))
    out.append(Special("insights", (), _learning_speed(derivation)))
    return tuple(out)


#: activations whose slope goes to zero where they saturate (a generic σ may)
SATURATING = ("sigmoid", "tanh", "generic", "softplus")


def _learning_speed(derivation) -> dict:
    """Which remarks about slow learning apply: the equations that multiply by a slope that can vanish.

    BP1 does when the output activation saturates and its slope is not cancelled by the cost
    (δ^L = a − y has no slope); BP2 does when a hidden activation saturates. The bound ¼ on the
    slope is the sigmoid's, so it is named only for hidden sigmoid layers.
    """
    network = derivation.network
    L = network.depth
    first = derivation.deltas[(L, 1)]
    cancelled = any(s.rule in ("simplify", "targets_sum_to_one") for s in first.steps)
    output = network.output.activation
    hidden = [layer.activation for layer in network.layers[:-1]]
    equations = []
    if not cancelled and not isinstance(output, VectorActivation) and output.name in SATURATING:
        equations.append("BP1")
    if any(not isinstance(a, VectorActivation) and a.name in SATURATING for a in hidden):
        equations.append("BP2")
    return {"saturating": " and ".join(equations),
            "sigmoid_layers": sum(1 for a in hidden if a.name == "sigmoid")}


def document_model(derivation, report=None, notation: str = "nielsen") -> DocumentModel:
    """Lay out every formula of a derivation document."""
    lookup_notation(notation)
    network = derivation.network
    g = _General(notation)
    detailed = network.parameter_count <= EXPANSION_LIMIT
    explicit = max(network.sizes) <= EXPLICIT_LIMIT
    expansions = ()
    if detailed:
        order = sorted(derivation.params, key=lambda key: (-key[1], key[0] == "b", key[2:]))
        firsts = {}
        for key in order:
            firsts.setdefault((key[1], key[0]), key)
        expansions = tuple(_expansion(derivation, key, partials=firsts[(key[1], key[0])] == key) for key in order)
    return DocumentModel(
        network=network,
        derivation=derivation,
        report=report,
        notation=notation,
        sizes=network.sizes,
        notation_rows=_notation_rows(g, network),
        forward_general=_forward_general(g, network),
        forward_layers=_forward_layers(derivation, g) if explicit else (),
        cost=_cost(derivation, g) if explicit else (),
        expansions=expansions,
        layers=_layer_blocks(derivation, explicit),
        bp=_bp_equations(derivation, report, g),
        specials=_specials(derivation, g),
        detailed=detailed,
        explicit=explicit,
        general_weight=g.q("w", l_, j_, k_),
        general_bias=g.q("b", l_, j_),
        layer_l=l_, layer_before=l_ - 1, output_layer=L_,
        bias_unit=(sp.Eq(g.q("a", l_ - 1, 0), 1, evaluate=False)
                   if lookup_notation(notation).bias_as_weight else None),
        unbiased_layers=tuple(layer.index for layer in network.layers if not layer.bias),
    )


# -------------------------------------------------------------------- general proofs


@dataclass(frozen=True)
class ShownStep:
    """One step of a general proof as a document shows it: its rule, before ⟼ after, the fact it uses."""

    number: int
    rule: str
    rewrite: sp.Basic
    reason: sp.Basic | None


@dataclass(frozen=True)
class GeneralEquationView:
    """One of BP1–BP4 for every network: statement, proof chain and steps, matrix form, verdict."""

    name: str
    statement: Equation
    goal: sp.Basic
    chain: Equation
    steps: tuple[ShownStep, ...]
    layers: sp.Basic
    indices: tuple
    matrix: Equation
    dimensions: tuple
    matrix_steps: tuple[ShownStep, ...]
    fact: object
    #: the proof as a chain from the derivative to the right-hand side: (first, lines with the rule of each step)
    first: sp.Basic = None
    rows: tuple = ()
    #: the matrix form entry by entry: each side's chain from its entry to the index form
    matrix_chains: tuple = ()
    #: the proof as it is typeset: the chain (first, rows) above, or, where the derivative splits into two terms,
    #: one chain that splits it, one per term and one that adds their results (see _term_chains)
    chains: tuple = ()


@dataclass(frozen=True)
class GeneralModel:
    """What the general-proof section shows: the network in index form, BP1–BP4, the induction, the check."""

    derivation: object
    report: object
    notation: str
    forward: tuple[Equation, ...]
    equations: tuple[GeneralEquationView, ...]
    claim: sp.Basic
    base: sp.Basic
    hypothesis: sp.Basic
    step_layers: sp.Basic
    layers: sp.Basic
    induction_fact: object
    assumptions: tuple
    kronecker: bool
    kronecker_symbol: sp.Basic
    rules: tuple[str, ...]
    #: the letters prose uses: layer l, the layer after it, the output layer, a neuron k
    layer_l: sp.Basic = l_
    next_layer: sp.Basic = l_ + 1
    output_layer: sp.Basic = L_
    index_k: sp.Basic = k_


def _brief(reason):
    """The fact a step uses, when it is short enough to stand beside the line (no sums, a few operations)."""
    if reason is None or reason.has(sp.Sum) or sp.count_ops(reason) > 10:
        return None
    return reason


def _chain_rows(expressions, steps, shown) -> tuple[sp.Basic, tuple[Row, ...]]:
    """A chain of expressions, the one before each step and after it, as its first line and justified rows."""
    rows = tuple(Row(shown(after), s.rule, None if s.rule == "collapse" else _brief(shown(s.reason)))
                 for after, s in zip(expressions[1:], steps))
    return shown(expressions[0]), rows


def _term_chains(expressions, steps, shown) -> tuple:
    """The chains a derivation is written as: one, or, where its first step splits the derivative into two terms
    that the later steps rewrite one at a time (the cost and the L2 penalty), a chain that splits it, a chain for
    each term, and the sum of their results, so that a term no step touches is not written again line after line."""
    whole = (_chain_rows(expressions, steps, shown),)
    split = expressions[1] if len(expressions) > 2 else None
    if split is None or not split.is_Add or len(split.args) != 2:
        return whole
    terms = [[term] for term in split.args]
    term_steps = [[], []]
    for after, s in zip(expressions[2:], steps[1:]):
        current = [values[-1] for values in terms]
        if not after.is_Add or len(after.args) != 2 or not any(c in after.args for c in current):
            return whole
        kept = 0 if current[0] in after.args else 1
        changed = 1 - kept
        new = [a for a in after.args if a != current[kept]]
        if len(new) != 1:
            return whole
        terms[changed].append(new[0])
        term_steps[changed].append(s)
    if not all(term_steps):
        return whole
    order = sorted((0, 1), key=lambda i: steps.index(term_steps[i][0]))
    opening = (shown(expressions[0]), (_chain_rows(expressions[:2], steps[:1], shown)[1]))
    parts = tuple(_chain_rows(terms[i], term_steps[i], shown) for i in order)
    closing = (shown(expressions[0]), (Row(shown(expressions[-1]), "sum_of_terms"),))
    return (opening, *parts, closing)


def _matrix_chains(e, shown) -> tuple:
    """The entry of each side of the matrix form, rewritten step by step into the index form."""
    expressions = e.expressions(matrix=True)
    chains = []
    for side in (0, 1):
        values, steps = [expressions[0][side]], []
        for after, s in zip(expressions[1:], e.matrix_proof):
            if after[side] != values[-1]:
                values.append(after[side])
                steps.append(s)
        if len(values) > 1:
            chains.append(_chain_rows(values, steps, shown))
    return tuple(chains)


def _shown_steps(steps, shown, Rewrite) -> tuple[ShownStep, ...]:
    return tuple(ShownStep(n, s.rule, Rewrite(shown(s.before), shown(s.after)), shown(s.reason))
                 for n, s in enumerate(steps, start=1))


def general_model(general, notation: str = "nielsen", report=None) -> GeneralModel:
    """Lay out every formula of a general proof (a :class:`~symbackprop.general.GeneralDerivation`).

    The derivation is renumbered for ``notation`` (which must be one of
    :data:`~symbackprop.general.GENERAL_NOTATIONS`); ``report`` is its check,
    computed here when not given.
    """
    from .general import IndexDelta, LayerRange, Rewrite, general_notation, shown

    general_notation(notation)
    report = report if report is not None else general.check()
    d = general.in_notation(notation)
    facts = {f.equation: f for f in report.facts}
    bias_units = lookup_notation(notation).bias_as_weight
    views = []
    for e in d.equations:
        label = "general-" + e.name.lower()
        chain = Chain(*[shown(x) for x in e.expressions()])
        first, rows = _chain_rows(e.expressions(), e.proof, shown)
        views.append(GeneralEquationView(
            name=e.name,
            statement=Equation(shown(e.statement), label),
            goal=shown(e.goal),
            chain=Equation(chain),
            steps=_shown_steps(e.proof, shown, Rewrite),
            layers=LayerRange(*e.domain),
            indices=tuple(LayerRange(index, low, high) for index, low, high in e.indices),
            # Ng's notation has no bias vector (its bias weights are column 0 of the weights): BP3 in index form only
            matrix=None if bias_units and e.name == "BP3" else Equation(e.matrix, label + "-matrix", shapes=True),
            dimensions=tuple((m, dims) for m, dims in e.dimensions),
            matrix_steps=_shown_steps(e.matrix_proof, shown, Rewrite),
            fact=facts.get(e.name),
            first=first, rows=rows, chains=_term_chains(e.expressions(), e.proof, shown),
            matrix_chains=() if bias_units and e.name == "BP3" else _matrix_chains(e, shown),
        ))
    ind = d.induction
    rules = []
    for e in d.equations:
        for s in e.proof + e.matrix_proof:
            if s.rule not in rules:
                rules.append(s.rule)
    return GeneralModel(
        derivation=d, report=report, notation=notation,
        forward=tuple(Equation(shown(eq)) for eq in d.forward),
        equations=tuple(views),
        claim=ind.claim, base=ind.base, hypothesis=ind.hypothesis,
        step_layers=LayerRange(*ind.step_domain), layers=LayerRange(*ind.domain),
        induction_fact=facts.get("induction"),
        assumptions=tuple(shown(a) for a in d.assumptions),
        kronecker=any(s.after.has(sp.KroneckerDelta) for e in d.equations for s in e.proof),
        kronecker_symbol=IndexDelta(i_, j_),
        rules=tuple(rules),
    )
