"""The activation registry: one frozen rule per activation.

Each rule states, with ``Z`` for the weighted input and ``A`` for the activation
``a = σ(z)``:

* ``forward``    σ(z), the definition;
* ``derivative`` σ'(z), as the rule table gives it (checked against ``sympy.diff``
  of ``forward`` by the engine's checks, never trusted);
* ``identity``   σ'(z) written in terms of ``a`` alone, when such an identity
  exists (σ' = σ(1 − σ)); derivations use it to keep gradients in named
  intermediates;
* ``exponential`` exp(c·z) written in terms of ``a`` alone, as ``(c, expression)``,
  when σ is built from the exponential (e^z = a/(1 − a) for the sigmoid); the exact
  comparison of claims uses it to bring a formula written with exp back to a.

``softmax`` is not element-wise: its rule gives the Jacobian ∂a_i/∂z_j in terms
of the activations instead.

>>> activation("sigmoid").identity
a*(1 - a)
>>> activation("swish")
Traceback (most recent call last):
...
symbackprop.errors.SpecError: unknown activation 'swish'; expected one of: generic, identity, leaky_relu, relu, sigmoid, softmax, softplus, tanh
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from fractions import Fraction

import sympy as sp

from ..errors import SpecError, unknown_name

Z = sp.Symbol("z", real=True)
A = sp.Symbol("a", real=True)
#: the Heaviside step θ(z), 1 for z > 0 and 0 for z ≤ 0 (the value at 0 follows the ReLU's convention)
STEP = sp.Heaviside(Z, 0)


@dataclass(frozen=True)
class Activation:
    """An element-wise activation rule."""

    name: str
    forward: sp.Expr
    derivative: sp.Expr
    identity: sp.Expr | None = None
    parameters: tuple[tuple[str, sp.Expr], ...] = ()
    elementwise: bool = True
    #: a fact about the rule that a reader must be told (e.g. the value chosen at a kink)
    convention: str | None = None
    #: given by the user as a formula, not taken from the table (its range cannot be judged)
    custom: bool = False
    #: (c, e): exp(c·z) = e, an expression in ``A`` (checked against the definition, never trusted)
    exponential: tuple[int, sp.Expr] | None = None
    #: (σ, σ') written with the Heaviside step θ (θ(0) = 0) instead of Piecewise, for composed forms:
    #: SymPy folds a Piecewise nested in another one's condition into every combination of cases,
    #: which grows exponentially with depth, while the step keeps the composed form's size linear
    step: tuple[sp.Expr, sp.Expr] | None = None

    @property
    def label(self) -> str:
        """The name with its parameters, e.g. ``leaky_relu(slope=1/100)``."""
        if not self.parameters:
            return self.name
        return f"{self.name}({', '.join(f'{k}={v}' for k, v in self.parameters)})"

    def apply(self, z: sp.Expr) -> sp.Expr:
        """σ(z) at ``z``."""
        return self.forward.xreplace({Z: z})

    def prime(self, z: sp.Expr) -> sp.Expr:
        """σ'(z) at ``z``, from the rule table."""
        return self.derivative.xreplace({Z: z})

    def prime_named(self, z: sp.Expr, a: sp.Expr) -> sp.Expr:
        """σ'(z) in named intermediates: through the identity in ``a`` when there is one."""
        if self.identity is not None:
            return self.identity.xreplace({A: a})
        return self.prime(z)

    @property
    def function(self) -> sp.FunctionClass:
        """An opaque SymPy function standing for σ, whose derivative is :attr:`prime_function`."""
        return opaque_functions(self.label)[0]

    @property
    def prime_function(self) -> sp.FunctionClass:
        """An opaque SymPy function standing for σ'."""
        return opaque_functions(self.label)[1]


@dataclass(frozen=True)
class VectorActivation:
    """An activation that mixes a layer's neurons: a_i = f_i(z_1, ..., z_m)."""

    name: str
    #: a_i in terms of the layer's weighted inputs ``zs``
    forward: object
    #: ∂a_i/∂z_j in terms of the layer's activations ``as_``
    jacobian: object
    parameters: tuple = ()
    elementwise: bool = False
    convention: str | None = None

    @property
    def label(self) -> str:
        return self.name

    def apply_vector(self, zs: list[sp.Expr]) -> list[sp.Expr]:
        return [self.forward(i, zs) for i in range(len(zs))]

    def jacobian_named(self, i: int, j: int, as_: list[sp.Expr]) -> sp.Expr:
        return self.jacobian(i, j, as_)


@functools.cache
def opaque_functions(label: str) -> tuple[sp.FunctionClass, sp.FunctionClass]:
    """The pair (σ, σ') of undefined SymPy functions for a rule, with d σ(u)/du = σ'(u).

    They let a derivation keep an activation whole (``sigmoid(z)``) where its
    definition would make the expression larger, and they are the generic
    activation when no definition is given at all.
    """
    prime = sp.Function(f"{label}'", real=True)

    def fdiff(self, argindex=1):
        return prime(self.args[0])

    return sp.Function(label, real=True, fdiff=fdiff), prime


def _softmax_forward(i: int, zs: list[sp.Expr]) -> sp.Expr:
    return sp.exp(zs[i]) / sp.Add(*[sp.exp(z) for z in zs])


def _softmax_jacobian(i: int, j: int, as_: list[sp.Expr]) -> sp.Expr:
    # ∂a_i/∂z_j = a_i (δ_ij − a_j)
    return as_[i] * (sp.KroneckerDelta(i, j) - as_[j])


def _generic() -> Activation:
    sigma, sigma_prime = opaque_functions("sigma")
    return Activation("generic", sigma(Z), sigma_prime(Z))


def exact_number(value, what: str) -> sp.Rational:
    """A number given as int, float, Fraction, SymPy number or decimal text, as an exact Rational.

    Text is read by ``fractions.Fraction``, never evaluated.
    """
    if isinstance(value, bool):
        raise SpecError(f"{what} {value!r} is not a number")
    if isinstance(value, sp.Rational):
        return value
    if isinstance(value, (sp.Float, float)):
        value = repr(float(value))
    if isinstance(value, str):
        _check_length(value, what)
    try:
        fraction = Fraction(value)
    except (TypeError, ValueError):
        raise SpecError(f"{what} {value!r} is not a number; expected e.g. 0.01 or 1/100") from None
    except ZeroDivisionError:
        raise SpecError(f"{what} {value!r} divides by zero; expected a finite number such as 0.01 or 1/100") from None
    return sp.Rational(fraction.numerator, fraction.denominator)


#: the most significant digits, and the largest power of ten, of a number given as text
MAX_NUMBER_DIGITS = 300

#: the slopes a leaky ReLU may have for z ≤ 0: from 0 (the ReLU) to 1 (the identity)
SLOPE_RANGE = (0, 1)


def _check_length(text: str, what: str) -> None:
    """Refuse number text whose exact value would be enormous (``1e999999999`` is a billion digits)
    before ``Fraction`` builds it; the syntax itself is left to ``Fraction`` to judge."""
    for part in text.split("/"):
        try:
            number = Decimal(part.strip())
        except InvalidOperation:
            return
        if number.is_finite() and number and (len(number.as_tuple().digits) > MAX_NUMBER_DIGITS
                                              or abs(number.adjusted()) > MAX_NUMBER_DIGITS):
            raise SpecError(f"{what} {text!r} is too long or too large to read exactly; expected at most "
                            f"{MAX_NUMBER_DIGITS} digits and a power of ten within ±{MAX_NUMBER_DIGITS}")


def leaky_relu(slope=sp.Rational(1, 100)) -> Activation:
    """The leaky ReLU with the given slope for z ≤ 0 (its derivative there is the slope).

    The slope lies in :data:`SLOPE_RANGE`, 0 to 1: beyond it the function is no longer a
    leaky ReLU, and a slope such as 1e20 makes every numeric comparison meaningless.
    """
    slope = exact_number(slope, "leaky_relu slope")
    low, high = SLOPE_RANGE
    if not low <= slope <= high:
        raise SpecError(f"leaky_relu slope {slope} is out of range; expected a number from {low} to {high}, "
                        f"the slope for z ≤ 0 (such as 0.01)")
    return Activation(
        "leaky_relu",
        sp.Piecewise((Z, Z > 0), (slope * Z, True)),
        sp.Piecewise((1, Z > 0), (slope, True)),
        parameters=(("slope", slope),),
        convention="derivative_at_zero_is_slope",
        step=(slope * Z + (1 - slope) * Z * STEP, slope + (1 - slope) * STEP),
    )


def custom(definition: sp.Lambda, name: str = "custom") -> Activation:
    """An activation given as a SymPy ``Lambda`` of one variable; σ' is its derivative."""
    if not isinstance(definition, sp.Lambda) or len(definition.variables) != 1:
        raise SpecError(f"a custom activation must be a SymPy Lambda of one variable, got {definition!r}")
    forward = definition(Z)
    return Activation(name, forward, sp.diff(forward, Z), custom=True)


# ---------------------------------------------------------------- the rule table
#            name          σ(z)                          σ'(z)                           σ'(z) in a
ACTIVATIONS: dict[str, Activation | VectorActivation] = {
    "sigmoid":  Activation("sigmoid", 1 / (1 + sp.exp(-Z)), sp.exp(-Z) / (1 + sp.exp(-Z)) ** 2, A * (1 - A),
                           exponential=(1, A / (1 - A))),
    "tanh":     Activation("tanh", sp.tanh(Z), 1 - sp.tanh(Z) ** 2, 1 - A**2, exponential=(2, (1 + A) / (1 - A))),
    "relu":     Activation("relu", sp.Piecewise((Z, Z > 0), (0, True)), sp.Piecewise((1, Z > 0), (0, True)),
                           convention="derivative_at_zero_is_zero", step=(Z * STEP, STEP)),
    "leaky_relu": leaky_relu(),
    "softplus": Activation("softplus", sp.log(1 + sp.exp(Z)), 1 / (1 + sp.exp(-Z)), 1 - sp.exp(-A),
                           exponential=(1, sp.exp(A) - 1)),
    "identity": Activation("identity", Z, sp.Integer(1), sp.Integer(1)),
    "generic":  _generic(),
    "softmax":  VectorActivation("softmax", _softmax_forward, _softmax_jacobian),
}


def activation(spec) -> Activation | VectorActivation:
    """Look up an activation: a registered name, ``"leaky_relu:0.2"``, a ``Lambda`` or a rule."""
    if isinstance(spec, (Activation, VectorActivation)):
        return spec
    if isinstance(spec, sp.Lambda):
        return custom(spec)
    if isinstance(spec, str):
        name, _, argument = spec.partition(":")
        if name == "leaky_relu" and argument:
            return leaky_relu(exact_number(argument.strip(), "leaky_relu slope"))
        if name in ACTIVATIONS and not argument:
            return ACTIVATIONS[name]
    raise SpecError(unknown_name("activation", spec, ACTIVATIONS))
