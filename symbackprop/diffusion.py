"""Why gradients vanish through sigmoid layers: the bound, derived, and the effect, measured.

Three parts, each usable alone:

* :func:`bounds` derives, with SymPy, the largest slope of each activation from
  its rule in :data:`symbackprop.activations.ACTIVATIONS`: for a smooth
  activation by solving σ''(z) = 0 and testing the sign of σ''' at the
  critical point (confirmed by ``sympy.calculus.util.maximum``), for a
  piecewise-constant derivative (ReLU) by taking the largest of its values.
  Every step is kept as data (:class:`BoundStep`) so that a document can show it.
* :func:`measure` runs a plain NumPy forward and backward pass (BP1–BP4, the
  quadratic cost) through a deep network at random initialisation and records
  the Frobenius norm of ∂C/∂W^l for every layer, averaged over several seeded
  draws (:class:`Measurement`, immutable).
* :func:`plot_svg` draws the measurement with matplotlib (an optional
  dependency) as a byte-for-byte reproducible SVG, and
  :func:`render_diffusion` writes the whole argument as a Markdown or LaTeX
  document through the templates ``templates/<lang>/diffusion.<fmt>.j2``.

The general statements (BP2 in matrix form, the norm inequality from one
layer to the one before, its product over d layers) are SymPy expressions
built by :func:`statements` from :class:`~symbackprop.symbols.LayerMatrix`
and printed by :mod:`symbackprop.printing` like every other formula.

No function here reads or writes files.

>>> [(b.activation, b.maximum) for b in bounds(("relu",))]
[('relu', 1)]
"""

from __future__ import annotations

import functools
import io
import math
from dataclasses import dataclass
from typing import Sequence

import sympy as sp

from .choices import DIFFUSION_ACTIVATIONS
from .documents import printing
from .model.activations import ACTIVATIONS, Z, opaque_functions
from .model.activations import activation as lookup_activation
from .proof.document import Equation as Statement  # a displayed formula, as documents show one
from .errors import SpecError, unknown_name
from .model.symbols import COST, Chain, LayerMatrix, Partial, Quantity

#: the activations whose bound this module derives and whose gradients it measures
ACTIVATION_NAMES = ("sigmoid", "tanh", "relu", "leaky_relu")
DEFAULT_ACTIVATIONS = DIFFUSION_ACTIVATIONS
#: limits of a measurement: it stays quick, and sigmoid gradients stay far above double precision's underflow
MAX_DEPTH = 100
MAX_WIDTH = 2000
MAX_DRAWS = 1000
#: what to install for the measurement and for the plot
NUMPY_HINT = "pip install numpy"
PLOT_HINT = "pip install 'symbackprop[plot]'"
#: the salt of the ids matplotlib writes into an SVG: fixed, so the same plot gives the same bytes
SVG_HASHSALT = "symbackprop"

# Symbols of the general statements: a printed layer l, a layer k of a product, the output layer L,
# the number of layers d between two errors.
l_, k_, L_, d_ = sp.symbols("l k L d", integer=True, positive=True)


class MissingDependency(ImportError):
    """An optional package that a function needs is not installed; ``hint`` says how to get it."""

    def __init__(self, package: str, hint: str, purpose: str):
        self.package, self.hint = package, hint
        super().__init__(f"{purpose} needs {package}, which is not installed: {hint}")


# ====================================================================== expressions for display
# Plain data: the printers in printing.py write them (``_print_Norm`` and so on).


class Norm(sp.Expr):
    """‖X‖ of a layer's vector or matrix: Euclidean for a vector, ``"2"`` spectral, ``"F"`` Frobenius.

    Non-commutative, so that a product of norms keeps the order of the argument
    it states (max σ' · ‖W^{l+1}‖ · ‖δ^{l+1}‖) instead of SymPy's sorting.
    """

    is_commutative = False

    def __new__(cls, arg, kind: str = ""):
        if kind not in ("", "2", "F"):
            raise ValueError(f"unknown norm {kind!r}; expected '', '2' or 'F'")
        return sp.Expr.__new__(cls, arg, sp.Symbol(kind or "euclid"))

    @property
    def kind(self) -> str:
        name = self.args[1].name
        return "" if name == "euclid" else name


class MaxOver(sp.Expr):
    """max over ``variable`` of ``expr`` (max_z σ'(z)), for display."""

    is_commutative = False

    def __new__(cls, expr, variable):
        return sp.Expr.__new__(cls, expr, variable)


class ProductOver(sp.Expr):
    """∏ of ``term`` for ``index`` from ``lower`` to ``upper``; the limits read as layer numbers (l + 1)."""

    is_commutative = False

    def __new__(cls, term, index, lower, upper):
        return sp.Expr.__new__(cls, term, index, sp.sympify(lower), sp.sympify(upper))


class Ratio(sp.Expr):
    """``numerator / denominator`` as a fraction, for display; the factors keep their order."""

    is_commutative = False

    def __new__(cls, numerator, denominator):
        return sp.Expr.__new__(cls, numerator, denominator)


def _le(lhs, rhs) -> sp.Le:
    return sp.Le(lhs, rhs, evaluate=False)


def _eq(lhs, rhs) -> sp.Eq:
    return sp.Eq(lhs, rhs, evaluate=False)


def _sigma(rule=None):
    """σ and σ' as the printer writes them: the activation in general (σ), or one rule by its own name where it
    has one (tanh', ReLU'; the sigmoid stays σ)."""
    return opaque_functions("sigma" if rule is None else rule.label)


# ====================================================================== the bounds


@dataclass(frozen=True)
class BoundStep:
    """One step of a bound's derivation: ``kind`` picks the template's words, ``expr`` is shown.

    Kinds: ``definition`` (σ(z)), ``derivative`` (σ'(z), checked against ``sympy.diff``),
    ``second_derivative``, ``critical_points`` (σ''(z) = 0, its solutions in ``values``,
    z = point as ``result``), ``second_derivative_test`` (σ''' at the critical point:
    ``values`` holds the point and the value, ``result`` says it is negative), ``pieces``
    (the values a piecewise-constant σ' takes, in ``values``), ``maximum`` (the result),
    ``confirmed`` (``sympy.calculus.util.maximum`` over the reals gives the same).
    """

    kind: str
    expr: sp.Basic | None = None
    values: tuple = ()
    #: what the step concludes, for display (z = 0 for the critical points, σ'''(0) < 0 for the test)
    result: sp.Basic | None = None


@dataclass(frozen=True)
class Bound:
    """The largest slope of one activation: max_z σ'(z) = ``maximum``, attained on ``maximiser``.

    ``maximiser`` is the set of z where the maximum is attained (``{0}`` for
    sigmoid and tanh, the interval z > 0 for ReLU); ``attained`` states it as
    a relation in z for display. ``method`` is ``critical_point`` or ``pieces``.
    """

    activation: str
    maximiser: sp.Set
    maximum: sp.Number
    method: str
    steps: tuple[BoundStep, ...]
    attained: sp.Basic
    #: σ'(z) ≤ maximum, for display
    statement: sp.Basic
    #: whether sympy.calculus.util.maximum confirmed the maximum independently
    confirmed: bool

    @property
    def point(self):
        """The single maximiser when there is one (z = 0), else None."""
        if isinstance(self.maximiser, sp.FiniteSet) and len(self.maximiser) == 1:
            return next(iter(self.maximiser))
        return None


def _check_activations(activations, problems: list[str]) -> tuple[str, ...]:
    if isinstance(activations, str):
        activations = [name.strip() for name in activations.split(",")]
    if isinstance(activations, (bytes, bytearray)) or not hasattr(activations, "__iter__"):
        problems.append(f"activations {activations!r} are not a list of names; expected names among: "
                        f"{', '.join(ACTIVATION_NAMES)}")
        return ()
    names = list(activations)
    if not names:
        problems.append(f"activations {names!r} is empty; expected one or more of: {', '.join(ACTIVATION_NAMES)}")
    good = []
    for name in names:
        spelling = _spelling(name, problems)
        if spelling is None:
            continue
        if spelling in good:
            problems.append(f"activation {name!r} is listed twice; expected each activation once")
        else:
            good.append(spelling)
    return tuple(good)


def _spelling(name, problems: list[str]) -> str | None:
    """The canonical spelling of one activation, as ``derive --activation`` reads it (``leaky_relu:0.2``).

    The name is looked up in the activation registry (a parameter after a colon,
    as :func:`symbackprop.activations.activation` reads it); a parameter equal to
    the registered default is dropped (``leaky_relu:0.01`` is ``leaky_relu``),
    another one is written exactly (``leaky_relu:1/5``). None after a problem.
    """
    family = name.partition(":")[0].strip() if isinstance(name, str) else None
    if family not in ACTIVATION_NAMES:
        problems.append(unknown_name("activation", name, ACTIVATION_NAMES))
        return None
    try:
        rule = lookup_activation(name.strip())
    except SpecError as error:
        problems.extend(error.problems if ":" in name and family == "leaky_relu"
                        else (unknown_name("activation", name, ACTIVATION_NAMES),))
        return None
    if rule == ACTIVATIONS[family]:
        return family
    return f"{family}:" + ",".join(str(value) for _, value in rule.parameters)


def family(name: str) -> str:
    """The registered name of an activation spelling (``leaky_relu:1/5`` → ``leaky_relu``)."""
    return name.partition(":")[0]


def bounds(activations: Sequence[str] = DEFAULT_ACTIVATIONS) -> tuple[Bound, ...]:
    """The largest slope of each activation, derived with SymPy from its rule."""
    problems: list[str] = []
    names = _check_activations(activations, problems)
    if problems:
        raise SpecError(problems)
    return tuple(_bound(name) for name in names)


@functools.cache
def _bound(name: str) -> Bound:
    rule = lookup_activation(name)
    sigma, sigma_prime = _sigma(rule)
    derivative = rule.derivative
    if sp.simplify(sp.diff(rule.forward, Z) - derivative) != 0:
        raise AssertionError(f"the rule table's derivative of {name} differs from sympy.diff of its definition")
    # tanh(z) = tanh(z) says nothing: a function named by itself is defined through exponentials
    definition = rule.forward.rewrite(sp.exp) if isinstance(rule.forward, sp.tanh) else rule.forward
    steps = [
        BoundStep("definition", _eq(sigma(Z), definition)),
        BoundStep("derivative", _eq(sigma_prime(Z), derivative)),
    ]
    if isinstance(derivative, sp.Piecewise) and all(piece.expr.is_Number for piece in derivative.args):
        maximum, maximiser, more = _piecewise_maximum(derivative)
        method = "pieces"
    else:
        maximum, maximiser, more = _smooth_maximum(derivative, sigma)
        method = "critical_point"
    steps += more
    confirmed = _confirm(derivative, maximum)
    steps.append(BoundStep("maximum", _maximum_chain(maximum, maximiser, method, derivative, sigma_prime)))
    if confirmed:
        steps.append(BoundStep("confirmed", _eq(MaxOver(sigma_prime(Z), Z), maximum)))
    attained = maximiser.as_relational(Z) if not isinstance(maximiser, sp.Interval) else _interval_relation(maximiser)
    return Bound(name, maximiser, maximum, method, tuple(steps), attained,
                 _le(sigma_prime(Z), maximum), confirmed)


def _interval_relation(interval: sp.Interval):
    """z > a for the interval (a, ∞), the only unbounded kind a step derivative gives here."""
    if interval.end == sp.oo and interval.left_open:
        return sp.StrictGreaterThan(Z, interval.start)
    if interval.end == sp.oo:
        return sp.GreaterThan(Z, interval.start)
    return interval.as_relational(Z)


def _smooth_maximum(derivative: sp.Expr, sigma):
    """max of a smooth σ' on the reals: its only critical point, a strict local maximum.

    A differentiable function on the real line with a single critical point
    that is a strict local maximum has its global maximum there (a higher
    value elsewhere would need a local minimum in between, a second critical
    point). ``sigma`` is the function the steps name.
    """
    second = sp.simplify(sp.diff(derivative, Z))
    critical = sp.solveset(second, Z, sp.S.Reals)
    if not isinstance(critical, sp.FiniteSet) or len(critical) != 1:
        raise ValueError(f"σ'' = {second} has critical points {critical}; expected exactly one")
    (point,) = critical
    third = sp.simplify(sp.diff(derivative, Z, 2).subs(Z, point))
    if not (third.is_number and third < 0):
        raise ValueError(f"σ''' at {point} is {third}; the critical point is not a strict maximum")
    maximum = sp.simplify(derivative.subs(Z, point))
    steps = [
        BoundStep("second_derivative", _eq(sp.Derivative(sigma(Z), (Z, 2)), second)),
        BoundStep("critical_points", _eq(sp.Derivative(sigma(Z), (Z, 2)), 0), (point,), _eq(Z, point)),
        BoundStep("second_derivative_test", _eq(sp.Subs(sp.Derivative(sigma(Z), (Z, 3)), Z, point), third),
                  (point, third), sp.StrictLessThan(third, 0, evaluate=False)),
    ]
    return maximum, sp.FiniteSet(point), steps


def _piecewise_maximum(derivative: sp.Piecewise):
    """max of a piecewise-constant σ': the largest of its values, on the region of that piece."""
    regions, seen = [], sp.S.EmptySet
    for piece in derivative.args:
        region = piece.cond.as_set().intersect(sp.S.Reals) - seen
        seen = seen | region
        regions.append((piece.expr, region))
    values = tuple(sorted({value for value, region in regions if region != sp.S.EmptySet}))
    maximum = max(values)
    maximiser = sp.Union(*[region for value, region in regions if value == maximum])
    steps = [BoundStep("pieces", sp.FiniteSet(*values), values)]
    return maximum, maximiser, steps


def _maximum_chain(maximum, maximiser, method, derivative, sigma_prime):
    """max_z σ'(z) = σ'(z*) = value, or = max(values) = value for a step."""
    top = MaxOver(sigma_prime(Z), Z)
    if method == "pieces":
        values = sorted({piece.expr for piece in derivative.args})
        return Chain(top, sp.Max(*values, evaluate=False), maximum)
    (point,) = maximiser
    return Chain(top, sigma_prime(point), maximum)


def _confirm(derivative: sp.Expr, maximum) -> bool:
    """``sympy.calculus.util.maximum`` over the reals, where it applies; it must agree."""
    from sympy.calculus.util import maximum as sympy_maximum

    if isinstance(derivative, sp.Piecewise):
        return False  # SymPy cannot find the domain of a Piecewise
    try:
        found = sympy_maximum(derivative, Z, sp.S.Reals)
    except (NotImplementedError, ValueError):
        return False
    if sp.simplify(found - maximum) != 0:
        raise AssertionError(f"sympy.calculus.util.maximum gives {found}; the critical point gives {maximum}")
    return True


# ====================================================================== the general statements


@dataclass(frozen=True)
class Statements:
    """The argument from BP2 to vanishing gradients, as expressions in a notation's layer numbering."""

    bp2: Statement              # δ^l = ((W^{l+1})^T δ^{l+1}) ⊙ σ'(z^l)
    hadamard: Statement         # ‖u ⊙ σ'(z^l)‖ ≤ max σ' ‖u‖
    operator: Statement         # ‖(W^{l+1})^T δ^{l+1}‖ ≤ ‖W^{l+1}‖₂ ‖δ^{l+1}‖
    step: Statement             # ‖δ^l‖ ≤ max σ' ‖W^{l+1}‖₂ ‖δ^{l+1}‖
    product: Statement          # ‖δ^l‖ ≤ ∏_{k=l+1}^{L} (max σ' ‖W^k‖₂) ‖δ^L‖
    depth: sp.Basic             # d = L − l
    unit_weights: sp.Basic      # ‖W^k‖₂ ≤ 1
    gradient: Statement         # ∂C/∂W^l = δ^l (a^{l−1})^T
    gradient_norm: Statement    # ‖∂C/∂W^l‖_F = ‖δ^l‖ ‖a^{l−1}‖
    #: per activation name: ‖δ^l‖ ≤ (max σ')^{L−l} ‖δ^L‖ when every ‖W^k‖₂ ≤ 1
    shrink: tuple[tuple[str, Statement], ...]
    #: per activation name: (max σ')^d, the factor over d layers
    factor: tuple[tuple[str, sp.Basic], ...]
    #: the measured ratio ‖δ^l‖ / (‖W^{l+1}‖₂ ‖δ^{l+1}‖), at most max σ' by ``step``
    ratio: sp.Basic
    #: the plotted quantity ‖∂C/∂W^l‖_F, the layer index l and a spectral norm ‖W^l‖₂
    plotted: sp.Basic
    layer: sp.Basic
    spectral: sp.Basic
    #: the largest slope max_z σ'(z), and the activation σ(z) it belongs to
    slope: sp.Basic
    function: sp.Basic


def statements(bound_list: Sequence[Bound], notation: str = "nielsen") -> Statements:
    """The general statements, with layers written in ``notation``'s numbering (layer l is printed l)."""
    offset = printing.notation(notation).layer_offset

    def size(printed):
        return Quantity("m", printed - offset)

    def vector(kind, printed):
        return LayerMatrix(kind, printed - offset, size(printed), 1)

    def weights(printed):
        return LayerMatrix("W", printed - offset, size(printed), size(printed - 1))

    _, sigma_prime = _sigma()
    top = MaxOver(sigma_prime(Z), Z)
    back = sp.MatMul(sp.Transpose(weights(l_ + 1)), vector("delta", l_ + 1))
    slope = vector("dsigma", l_)
    delta, delta_next, delta_out = vector("delta", l_), vector("delta", l_ + 1), vector("delta", L_)
    gradient = Partial(COST, weights(l_))
    shrink, factor = [], []
    for bound in bound_list:
        power = sp.Pow(bound.maximum, L_ - l_, evaluate=False)
        shrink.append((bound.activation, Statement(
            _le(Norm(delta), sp.Mul(power, Norm(delta_out), evaluate=False)), f"shrink-{bound.activation}")))
        factor.append((bound.activation, sp.Pow(bound.maximum, d_, evaluate=False)))
    return Statements(
        bp2=Statement(_eq(delta, sp.HadamardProduct(back, slope)), "diffusion-bp2"),
        hadamard=Statement(_le(Norm(sp.HadamardProduct(back, slope)), sp.Mul(top, Norm(back))), "diffusion-hadamard"),
        operator=Statement(_le(Norm(back), sp.Mul(Norm(weights(l_ + 1), "2"), Norm(delta_next))),
                           "diffusion-operator"),
        step=Statement(_le(Norm(delta), sp.Mul(top, Norm(weights(l_ + 1), "2"), Norm(delta_next))), "diffusion-step"),
        product=Statement(_le(Norm(delta), sp.Mul(ProductOver(sp.Mul(top, Norm(weights(k_), "2")), k_, l_ + 1, L_),
                                                  Norm(delta_out))), "diffusion-product"),
        depth=_eq(d_, L_ - l_),
        unit_weights=_le(Norm(weights(k_), "2"), 1),
        gradient=Statement(_eq(gradient, sp.MatMul(delta, sp.Transpose(vector("a", l_ - 1)))), "diffusion-gradient"),
        gradient_norm=Statement(_eq(Norm(gradient, "F"), sp.Mul(Norm(delta), Norm(vector("a", l_ - 1)))),
                                "diffusion-gradient-norm"),
        shrink=tuple(shrink),
        factor=tuple(factor),
        ratio=Ratio(Norm(delta), sp.Mul(Norm(weights(l_ + 1), "2"), Norm(delta_next))),
        plotted=Norm(gradient, "F"),
        layer=l_,
        spectral=Norm(weights(l_), "2"),
        slope=top,
        function=_sigma()[0](Z),
    )


# ====================================================================== the measurement


def _numpy():
    try:
        import numpy
    except ImportError:
        raise MissingDependency("NumPy", NUMPY_HINT, "measuring gradients") from None
    return numpy


@functools.cache
def _numeric_rule(name: str):
    """(σ, σ') as NumPy functions from the rule table; σ' from σ's output when an identity gives it."""
    from .model.activations import A

    np = _numpy()
    rule = lookup_activation(name)
    forward = sp.lambdify(Z, rule.forward, modules="numpy")
    if rule.identity is not None:
        slope = sp.lambdify(A, rule.identity, modules="numpy")

        def prime(z, a):
            return np.broadcast_to(np.asarray(slope(a), dtype=float), np.shape(z))
    else:
        slope = sp.lambdify(Z, rule.derivative, modules="numpy")

        def prime(z, a):
            return np.broadcast_to(np.asarray(slope(z), dtype=float), np.shape(z))

    def apply(z):
        with np.errstate(over="ignore"):  # exp(-z) overflows to inf for very negative z: σ is then 0
            return np.asarray(forward(z), dtype=float)

    return apply, prime


@dataclass(frozen=True)
class Pass:
    """One forward and backward pass in NumPy; lists are indexed by canonical layer (0 = input).

    ``z[l]``, ``a[l]``, ``delta[l]`` (``z[0]`` and ``delta[0]`` are None),
    ``weight_gradients[l]`` = ∂C/∂W^l and ``bias_gradients[l]`` = ∂C/∂b^l
    (index 0 is None), and the quadratic cost.
    """

    z: tuple
    a: tuple
    delta: tuple
    weight_gradients: tuple
    bias_gradients: tuple
    cost: float


def backprop(weights, biases, x, y, activation: str) -> Pass:
    """BP1–BP4 for the quadratic cost ½‖a^L − y‖², every layer with ``activation``, in NumPy.

    ``weights[i]`` is W^{i+1} (rows: neurons of layer i+1), ``biases[i]`` is b^{i+1}.
    """
    np = _numpy()
    forward, prime = _numeric_rule(activation)
    a = [np.asarray(x, dtype=float)]
    z = [None]
    for W, b in zip(weights, biases):
        z.append(np.asarray(W, dtype=float) @ a[-1] + np.asarray(b, dtype=float))
        a.append(forward(z[-1]))
    L = len(weights)
    delta = [None] * (L + 1)
    target = np.asarray(y, dtype=float)
    delta[L] = (a[L] - target) * prime(z[L], a[L])                                     # BP1
    for l in range(L - 1, 0, -1):
        delta[l] = (np.asarray(weights[l], dtype=float).T @ delta[l + 1]) * prime(z[l], a[l])  # BP2
    weight_gradients = [None] + [np.outer(delta[l], a[l - 1]) for l in range(1, L + 1)]  # BP4
    bias_gradients = [None] + [delta[l] for l in range(1, L + 1)]                       # BP3
    cost = float(0.5 * np.sum((a[L] - target) ** 2))
    return Pass(tuple(z), tuple(a), tuple(delta), tuple(weight_gradients), tuple(bias_gradients), cost)


@dataclass(frozen=True)
class Measurement:
    """‖∂C/∂W^l‖_F per layer and activation at random initialisation, averaged over ``draws``.

    The network has ``depth`` hidden layers of ``width`` neurons, an input of
    ``width`` values and an output layer of ``width`` neurons, every layer with
    the same activation; weights are N(0, 1/fan_in), biases 0, the input
    N(0, 1) and the target uniform on [0, 1), the cost quadratic. Every
    activation sees the same draws. ``layers`` are canonical (1 … depth + 1, the
    last one the output layer); ``norms[i][j]`` belongs to ``activations[i]``
    and ``layers[j]``. ``worst_ratios[i]`` is the largest
    ‖δ^l‖ / (‖W^{l+1}‖₂ ‖δ^{l+1}‖) seen over all draws and layers, which the
    bound keeps at or below max σ'; ``spectral_norm`` is the mean ‖W^l‖₂.
    """

    depth: int
    width: int
    draws: int
    seed: int
    activations: tuple[str, ...]
    layers: tuple[int, ...]
    norms: tuple[tuple[float, ...], ...]
    worst_ratios: tuple[float, ...]
    spectral_norm: float

    def series(self, activation: str) -> tuple[float, ...]:
        """The norms of one activation, first layer first."""
        return self.norms[self.activations.index(activation)]

    def attenuation(self, activation: str) -> float:
        """‖∂C/∂W^1‖_F / ‖∂C/∂W^L‖_F: the first layer's gradient relative to the output layer's."""
        norms = self.series(activation)
        return norms[0] / norms[-1] if norms[-1] else math.nan

    def spread(self, activation: str) -> float:
        """The largest norm over the smallest, across the layers."""
        norms = self.series(activation)
        return max(norms) / min(norms) if min(norms) else math.inf

    def worst_ratio(self, activation: str) -> float:
        return self.worst_ratios[self.activations.index(activation)]


def _positive_int(what: str, value, upper: int, problems: list[str], lower: int = 1) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        problems.append(f"{what} {value!r} is not an integer; expected an integer from {lower} to {upper}")
    elif not lower <= value <= upper:
        problems.append(f"{what} {value!r} is out of range; expected an integer from {lower} to {upper}")


def check_measurement(depth, width, activations, draws, seed) -> list[str]:
    """The activation names of a measurement, or a SpecError listing every out-of-range argument."""
    problems: list[str] = []
    _positive_int("depth", depth, MAX_DEPTH, problems)
    _positive_int("width", width, MAX_WIDTH, problems)
    _positive_int("draws", draws, MAX_DRAWS, problems)
    names = _check_activations(activations, problems)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        problems.append(f"seed {seed!r} is not a non-negative integer")
    if problems:
        raise SpecError(problems)
    return names


def measure(depth: int = 10, width: int = 30, activations: Sequence[str] = DEFAULT_ACTIVATIONS,
            draws: int = 5, seed: int = 0) -> Measurement:
    """The gradient norm per layer of a deep network at initialisation (see :class:`Measurement`)."""
    names = check_measurement(depth, width, activations, draws, seed)
    np = _numpy()
    rng = np.random.default_rng(seed)
    layers = depth + 1
    sums = {name: np.zeros(layers) for name in names}
    worst = {name: 0.0 for name in names}
    spectral = []
    for _ in range(draws):
        weights = [rng.normal(0.0, 1.0 / math.sqrt(width), size=(width, width)) for _ in range(layers)]
        biases = [np.zeros(width) for _ in range(layers)]
        x = rng.normal(0.0, 1.0, size=width)
        y = rng.uniform(0.0, 1.0, size=width)
        operator_norms = [float(np.linalg.norm(W, 2)) for W in weights]
        spectral.extend(operator_norms)
        for name in names:
            result = backprop(weights, biases, x, y, name)
            sums[name] += [np.linalg.norm(result.weight_gradients[l]) for l in range(1, layers + 1)]
            for l in range(1, layers):
                following = np.linalg.norm(result.delta[l + 1])
                if following > 0:
                    ratio = np.linalg.norm(result.delta[l]) / (operator_norms[l] * following)
                    worst[name] = max(worst[name], float(ratio))
    return Measurement(
        depth=depth, width=width, draws=draws, seed=seed, activations=names,
        layers=tuple(range(1, layers + 1)),
        norms=tuple(tuple(float(v) / draws for v in sums[name]) for name in names),
        worst_ratios=tuple(worst[name] for name in names),
        spectral_norm=float(sum(spectral) / len(spectral)),
    )


# ====================================================================== the figures


def plot_svg(measurement: Measurement, notation: str = "nielsen") -> str | None:
    """The norms against the layer on a log scale, one line per activation, as SVG text.

    None when matplotlib is not installed. The SVG is the same bytes for the
    same measurement: glyphs are drawn as paths (``svg.fonttype``, so the plot
    needs no font where it is viewed), ids are salted with a fixed string and
    the metadata carry no date.
    """
    try:
        import matplotlib
        from matplotlib.figure import Figure
    except ImportError:
        return None
    _check_notation(notation)
    statement = statements((), notation)
    offset = printing.notation(notation).layer_offset
    settings = {
        "svg.hashsalt": SVG_HASHSALT,
        "svg.fonttype": "path",
        "font.family": "DejaVu Sans",
        "mathtext.fontset": "dejavusans",
        "path.simplify": False,
    }
    with matplotlib.rc_context(settings):
        figure = Figure(figsize=(6.4, 4.0))
        axes = figure.add_subplot()
        xs = [layer + offset for layer in measurement.layers]
        for name in measurement.activations:
            ys = [value if value > 0 else float("nan") for value in measurement.series(name)]
            axes.plot(xs, ys, marker="o", label=name)
        axes.set_yscale("log")
        if len(xs) <= 15:
            axes.set_xticks(xs)
        else:
            from matplotlib.ticker import MaxNLocator

            axes.xaxis.set_major_locator(MaxNLocator(integer=True))
        axes.set_xlabel("$%s$" % printing.latex(statement.layer, notation=notation))
        # matplotlib's mathtext knows the norm's bars as \| only
        label = printing.latex(statement.plotted, notation=notation).replace("\\lVert", "\\|").replace("\\rVert", "\\|")
        axes.set_ylabel("$%s$" % label, fontsize=13)
        axes.grid(True, which="major", alpha=0.3)
        axes.legend()
        figure.subplots_adjust(left=0.14, right=0.97, bottom=0.13, top=0.96)
        buffer = io.StringIO()
        figure.savefig(buffer, format="svg", metadata={"Date": None, "Creator": "symbackprop"})
    return buffer.getvalue()


@dataclass(frozen=True)
class Chart:
    """The plot laid out for the TikZ template, in centimetres (y grows upwards).

    ``series`` holds (activation, points) with points (x, y) for the layers whose
    norm is positive; ``x_ticks`` are (x, printed layer) and ``y_ticks`` (y, 10^k).
    """

    width: float
    height: float
    series: tuple[tuple[str, tuple[tuple[float, float], ...]], ...]
    x_ticks: tuple[tuple[float, int], ...]
    y_ticks: tuple[tuple[float, sp.Basic], ...]


def chart(measurement: Measurement, notation: str = "nielsen", width: float = 10.0, height: float = 6.0) -> Chart:
    """Where the TikZ drawing of a measurement puts its lines and ticks."""
    offset = printing.notation(notation).layer_offset
    logs = [math.log10(v) for norms in measurement.norms for v in norms if v > 0]
    low = math.floor(min(logs)) if logs else -1
    high = math.ceil(max(logs)) if logs else 0
    if high == low:
        high = low + 1
    span = high - low
    count = len(measurement.layers)

    def x_of(index):
        return round(width * index / (count - 1), 3) if count > 1 else round(width / 2, 3)

    def y_of(value):
        return round(height * (math.log10(value) - low) / span, 3)

    series = tuple(
        (name, tuple((x_of(i), y_of(v)) for i, v in enumerate(measurement.series(name)) if v > 0))
        for name in measurement.activations
    )
    step = max(1, math.ceil(count / 12))
    x_ticks = tuple((x_of(i), layer + offset) for i, layer in enumerate(measurement.layers) if i % step == 0)
    decade = max(1, math.ceil(span / 8))
    y_ticks = tuple((round(height * (k - low) / span, 3), sp.Pow(sp.UnevaluatedExpr(10), k))
                    for k in range(low, high + 1, decade))
    return Chart(width, height, series, x_ticks, y_ticks)


# ====================================================================== the document


@dataclass(frozen=True)
class Row:
    """One row of the table of norms: the printed layer and one number per activation."""

    layer: int
    canonical: int
    values: tuple[sp.Float, ...]


def _number(value: float, digits: int = 3) -> sp.Float | None:
    """A measured number rounded to ``digits`` significant digits, for the printer (None if not finite)."""
    if not math.isfinite(value):
        return None
    return sp.Float(f"{value:.{digits - 1}e}", digits)


def _check_notation(notation: str) -> None:
    if notation not in printing.NOTATIONS:
        raise SpecError(unknown_name("notation", notation, printing.NOTATIONS))


def render_diffusion(measurement: Measurement, bounds: Sequence[Bound], fmt: str = "md", lang: str = "en",
                     figure: str | None = None, *, notation: str = "nielsen", flavor: str = "github",
                     standalone: bool = True, templates=None, heading_level: str = "section",
                     front_matter: dict | None = None, plot: str | None = None):
    """The document on vanishing gradients, as a :class:`symbackprop.render.Document`.

    ``figure`` names the SVG plot next to a Markdown document; it becomes the
    document's attachment of that name (when matplotlib is missing, the
    document says how to install it instead). LaTeX draws the plot with TikZ
    from the numbers and needs no attachment. ``standalone=False`` gives a
    LaTeX fragment to ``\\input``. ``heading_level`` and ``front_matter`` mean what they
    mean for a derivation (:func:`symbackprop.proof.report.render`). ``plot`` is the SVG that
    :func:`plot_svg` drew for this measurement and notation, when the caller has it already (the
    documents of several languages share one plot); without it the plot is drawn here.
    """
    from .documents.render import FLAVORS, HEADING_LEVELS, LANGUAGES, Document, environment, get_template

    problems = []
    try:
        bound_list = tuple(bounds) if not isinstance(bounds, Bound) else (bounds,)
    except TypeError:
        bound_list = (bounds,)
    if fmt not in ("md", "tex"):
        problems.append(unknown_name("format", fmt, ("md", "tex")))
    if lang not in LANGUAGES:
        problems.append(unknown_name("language", lang, LANGUAGES))
    if flavor not in FLAVORS:
        problems.append(unknown_name("flavor", flavor, FLAVORS))
    if heading_level not in HEADING_LEVELS:
        problems.append(unknown_name("heading level", heading_level, HEADING_LEVELS))
    if notation not in printing.NOTATIONS:
        problems.append(unknown_name("notation", notation, printing.NOTATIONS))
    if not isinstance(measurement, Measurement):
        problems.append(f"measurement {measurement!r} is not a Measurement; expected the result of measure()")
    if not all(isinstance(b, Bound) for b in bound_list):
        problems.append(f"bounds {bounds!r} are not Bound objects; expected the result of bounds()")
    elif isinstance(measurement, Measurement):
        have = {b.activation for b in bound_list}
        lacking = [name for name in measurement.activations if name not in have]
        if lacking:
            problems.append(f"bounds lack the measured activation(s) {', '.join(lacking)}; "
                            f"expected bounds({', '.join(measurement.activations)!s})")
    if problems:
        raise SpecError(problems)
    svg = (plot if plot is not None else plot_svg(measurement, notation)) if fmt == "md" and figure else None
    by_name = {b.activation: b for b in bound_list}
    offset = printing.notation(notation).layer_offset
    rows = tuple(
        Row(layer + offset, layer, tuple(_number(norms[j]) for norms in measurement.norms))
        for j, layer in enumerate(measurement.layers)
    )
    summary = tuple(
        {
            "activation": name,
            "bound": by_name[name],
            "attenuation": _number(measurement.attenuation(name)),
            "gain": _number(1 / measurement.attenuation(name)) if measurement.attenuation(name) > 0 else None,
            "spread": _number(measurement.spread(name)),
            "worst_ratio": _number(measurement.worst_ratio(name)),
            "per_layer_bound": _number(float(by_name[name].maximum) * measurement.spectral_norm),
            "holds": bool(measurement.worst_ratio(name) <= float(by_name[name].maximum) * (1 + 1e-9)),
            "zero": min(measurement.series(name)) == 0,
            "vanishes": bool(measurement.attenuation(name) < 1e-2),
            "steady": bool(measurement.spread(name) < 10),
            "over_depth": _eq(sp.Pow(by_name[name].maximum, measurement.depth, evaluate=False),
                              by_name[name].maximum ** measurement.depth),
        }
        for name in measurement.activations
    )
    env = environment(notation, None, templates, fmt, flavor)
    context = {
        "measurement": measurement,
        "bounds": bound_list,
        "statements": statements(bound_list, notation),
        "norm_rows": rows,
        "summary": summary,
        "chart": chart(measurement, notation, width=9.0, height=5.5),
        "spectral_norm": _number(measurement.spectral_norm),
        "first_layer": measurement.layers[0] + offset,
        "output_layer": measurement.layers[-1] + offset,
        "figure": figure if svg is not None else None,
        "wanted_figure": figure,
        "plot_missing": fmt == "md" and bool(figure) and svg is None,
        "plot_hint": PLOT_HINT,
        "standalone": standalone,
        "lang": lang,
        "heading_level": heading_level,
        "front_matter": front_matter if fmt == "md" else None,
        # the registered name of each activation spelling, for the names and line styles of the templates
        "family": {name: family(name) for name in measurement.activations},
    }
    text = get_template(env, f"{lang}/diffusion.{fmt}.j2").render(**context)
    attachments = {figure: svg} if svg is not None else {}
    return Document(text, attachments)
