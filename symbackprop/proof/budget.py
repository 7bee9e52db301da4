"""How much work a derivation or a check of BP1–BP4 takes, counted before it starts.

A request whose work exceeds its limit is refused at once with a message that
says the limit, why it exists and which ``--method`` does fit, instead of
running for minutes or exhausting memory. Work is counted from the network's
sizes alone, never measured in seconds, so the same request is refused or
accepted on every machine.

The counts follow the algorithms:

* deriving (the chain rule for every parameter, in named intermediates) is
  linear in the parameters: one symbol and one closed form each;
* ``inductive`` proves each layer from the next one: linear too, so the
  derivation's limit covers it;
* ``exact`` differentiates the composed cost through its graph of function
  nodes: for every parameter, every node and every path from its neuron to
  the outputs (their number is the product of the later layers' sizes, which
  grows exponentially with depth), at a cost that grows with depth, hence
  Σ over parameters of (neurons + paths) × depth;
* ``numeric`` runs the network forward in 40-digit arithmetic for every sampled
  parameter at every point (central differences): points × sampled parameters
  × (parameters + neurons).
"""

from __future__ import annotations

from ..errors import SpecError

#: the most parameters a derivation takes on: each is a SymPy symbol with a closed form and its
#: steps, about 30 µs and a few kB each (a 300-300 network, 90,300 parameters, derives in about 3 s)
MAX_PARAMETERS = 100_000

#: the most work units (Σ over parameters of (neurons + paths to the outputs) × depth) of the
#: ``exact`` method; measured on a busy 2-core machine: 20-20-20 (84,840 units) in 25 s, a 12-layer
#: network of width 2 (151,074 units) in 9 s, 30-30-30 (280,860 units) in 53 s and 16 layers of width
#: 2 (2,989,530 units) in 11 minutes
EXACT_WORK = 160_000

#: the most work units (points × sampled parameters × (parameters + neurons)) of the numeric
#: cross-check; a 784-30-10 network (1.7 million units) is checked in about half a minute
NUMERIC_WORK = 2_000_000


#: the most work units (parameters + 500 × layers) of a derivation document: every layer gets its
#: equations printed as matrices (a few tenths of a second each in Markdown), every parameter a line
#: or an entry; a 784-30-10 network (25,360 units) is written in seconds
DOCUMENT_WORK = 50_000

#: what one layer of a document counts, in parameters
LAYER_WEIGHT = 500


def _shape(network) -> str:
    """The layer sizes joined by hyphens, shortened in the middle for a deep network."""
    sizes = [str(size) for size in network.sizes]
    if len(sizes) <= 8:
        return "-".join(sizes)
    return f"{'-'.join(sizes[:3])}-…-{'-'.join(sizes[-2:])} ({len(sizes):,} layers)"


def neurons(network) -> int:
    """The neurons after the input layer."""
    return sum(network.sizes[1:])


def exact_work(network) -> int:
    """Work units of the ``exact`` method: Σ over parameters of (neurons + paths to the outputs) × depth."""
    sizes, total = network.sizes, 0
    for layer in network.layers:
        paths = 1
        for size in sizes[layer.index + 1:]:
            paths *= size
        total += layer.size * (sizes[layer.index - 1] + (1 if layer.bias else 0)) * (neurons(network) + paths)
    return total * max(network.depth, 1)


def numeric_sample(network, sample: int | None, exact_limit: int, default_sample: int) -> int:
    """How many parameters the numeric cross-check compares: all of a small network (at most
    ``exact_limit`` parameters), else at most ``sample`` (``default_sample`` when None) in each layer."""
    limit = sample if sample is not None else (None if network.parameter_count <= exact_limit else default_sample)
    counts = [layer.size * (network.sizes[layer.index - 1] + (1 if layer.bias else 0)) for layer in network.layers]
    return sum(count if limit is None else min(count, limit) for count in counts)


def numeric_work(network, points: int, sampled: int) -> int:
    """Work units of the numeric cross-check: points × sampled parameters × (parameters + neurons)."""
    return points * sampled * (network.parameter_count + neurons(network))


def require_derivable(network) -> None:
    """Refuse a network with more than :data:`MAX_PARAMETERS` parameters, before any symbol is made."""
    count = network.parameter_count
    if count > MAX_PARAMETERS:
        raise SpecError(f"the network {_shape(network)} has {count:,} parameters; a derivation takes at most "
                        f"{MAX_PARAMETERS:,}: every parameter becomes a symbol with its own closed form, so "
                        f"memory and time grow with the count; expected a smaller network")


def document_work(network) -> int:
    """Work units of writing a derivation document: parameters + 500 × layers."""
    return network.parameter_count + LAYER_WEIGHT * network.depth


def require_documentable(network) -> None:
    """Refuse a derivation document larger than :data:`DOCUMENT_WORK`, before any work."""
    work = document_work(network)
    if work > DOCUMENT_WORK:
        raise SpecError(f"a document for the network {_shape(network)} counts {work:,} work units "
                        f"({network.parameter_count:,} parameters + {LAYER_WEIGHT} × {network.depth:,} layers); "
                        f"its limit is {DOCUMENT_WORK:,}, because every layer's equations and every parameter's "
                        f"gradient are written out; expected a smaller network, or derive --general for the "
                        f"equations of every network at once")


def require_checkable(network, method: str, points: int, sampled: int) -> None:
    """Refuse a check whose counted work exceeds its limit, naming the methods that fit.

    ``method`` is the method that would run (``auto`` already resolved to ``exact`` or
    ``inductive``, with ``"+numeric"`` appended when the cross-check follows); ``sampled`` is
    the number of parameters the numeric cross-check would compare.
    """
    problems = []
    if "exact" in method and exact_work(network) > EXACT_WORK:
        problems.append(f"--method exact on {_shape(network)} counts {exact_work(network):,} work units "
                        f"(parameters × (neurons + paths to the outputs) × depth); its limit is "
                        f"{EXACT_WORK:,}, because the paths through the composed cost multiply with every layer")
    if "numeric" in method and numeric_work(network, points, sampled) > NUMERIC_WORK:
        problems.append(f"the numeric check of {_shape(network)} counts {numeric_work(network, points, sampled):,} "
                        f"work units ({points} points × {sampled:,} parameters × (parameters + neurons)); its "
                        f"limit is {NUMERIC_WORK:,}, because every compared parameter reruns the whole network "
                        f"in 40-digit arithmetic")
    if problems:
        raise SpecError([*problems, "--method inductive proves BP1-BP4 layer by layer in work linear in the "
                                    "parameters and fits this network; --method none derives without checking"])


__all__ = ["DOCUMENT_WORK", "EXACT_WORK", "document_work", "require_documentable", "MAX_PARAMETERS", "NUMERIC_WORK", "exact_work", "neurons", "numeric_sample",
           "numeric_work", "require_checkable", "require_derivable"]
