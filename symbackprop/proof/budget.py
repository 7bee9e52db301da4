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
* ``numeric`` takes 40-digit central differences of the cost: at every point,
  along each weighted input z (which reruns only the layers after it) and along
  a few random directions per layer and through all parameters (each a whole
  forward pass), and once along each neuron's weights; see :func:`numeric_work`.
"""

from __future__ import annotations

from ..errors import SpecError

#: the most parameters a derivation takes on: each is a SymPy symbol with a closed form and its
#: steps, about 30 µs and a few kB each (784-300-100-10, 266,610 parameters, derives and is checked
#: by the default method in about 30 s on 2 cores)
MAX_PARAMETERS = 300_000

#: the most neurons in one layer: a layer's neurons all enter the cost or the next layer's weighted
#: inputs, and the expressions built per neuron grow with the layer's width (a 1-100000 network
#: filled 17 GB of memory before this limit)
MAX_WIDTH = 10_000

#: the most work units (Σ over parameters of (neurons + paths to the outputs) × depth) of the
#: ``exact`` method; measured on a busy 2-core machine: 20-20-20 (84,840 units) in 25 s, a 12-layer
#: network of width 2 (151,074 units) in 9 s, 30-30-30 (280,860 units) in 53 s and 16 layers of width
#: 2 (2,989,530 units) in 11 minutes
EXACT_WORK = 160_000

#: the most work units (multiply-adds of 40-digit numbers, :func:`numeric_work`) of the numeric
#: cross-check; 784-30-10 counts about 3.6 million and 784-300-100-10 about 100 million (checked
#: in about 20 s on 2 cores), while 2,000 layers of width 2 count over 300 million
NUMERIC_WORK = 250_000_000


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


def _parameters(network, layer) -> int:
    return layer.size * (network.sizes[layer.index - 1] + (1 if layer.bias else 0))


def numeric_work(network, points: int, directions: int) -> int:
    """Work units (multiply-adds) of the numeric cross-check of :func:`symbackprop.proof.equations.numeric_facts`.

    At each of ``points`` points: two runs of the layers after z for every weighted input z,
    and two whole forward passes for each of ``directions`` random directions through every
    layer's weights, every layer's biases and all parameters at once; at the first point,
    two runs of the layer and the layers after it for every neuron's weights.
    """
    total = network.parameter_count + neurons(network)
    after = [0] * (network.depth + 1)  # parameters of the layers after layer l
    for l in range(network.depth - 1, 0, -1):
        after[l] = after[l + 1] + _parameters(network, network.layers[l])
    per_point = sum(2 * layer.size * (after[layer.index] + layer.size) for layer in network.layers)
    per_point += 2 * directions * (2 * network.depth + 1) * total
    per_neuron = sum(2 * layer.size * (network.sizes[layer.index - 1] + after[layer.index])
                     for layer in network.layers)
    return points * per_point + per_neuron


def require_derivable(network) -> None:
    """Refuse a network with more than :data:`MAX_PARAMETERS` parameters or a layer wider than
    :data:`MAX_WIDTH` neurons, before any symbol is made."""
    count = network.parameter_count
    if count > MAX_PARAMETERS:
        raise SpecError(f"the network {_shape(network)} has {count:,} parameters; a derivation takes at most "
                        f"{MAX_PARAMETERS:,}: every parameter becomes a symbol with its own closed form, so "
                        f"memory and time grow with the count; expected a smaller network")
    widest = max(network.sizes)
    if widest > MAX_WIDTH:
        raise SpecError(f"the network {_shape(network)} has a layer of {widest:,} neurons; a derivation takes at "
                        f"most {MAX_WIDTH:,} in one layer: each neuron's expressions enter every neuron of the "
                        f"next layer and the cost; expected narrower layers")


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


def require_checkable(network, method: str, points: int, directions: int) -> None:
    """Refuse a check whose counted work exceeds its limit, naming the methods that fit.

    ``method`` is the method that would run (``auto`` already resolved to ``exact`` or
    ``inductive``, with ``"+numeric"`` appended when the cross-check follows); ``points`` and
    ``directions`` are the numeric cross-check's. A network too large to derive is refused for
    that first: no method of checking fits it.
    """
    require_derivable(network)
    problems = []
    if "exact" in method and exact_work(network) > EXACT_WORK:
        problems.append(f"--method exact on {_shape(network)} counts {exact_work(network):,} work units "
                        f"(parameters × (neurons + paths to the outputs) × depth); its limit is "
                        f"{EXACT_WORK:,}, because the paths through the composed cost multiply with every layer")
    if "numeric" in method and numeric_work(network, points, directions) > NUMERIC_WORK:
        problems.append(f"the numeric check of {_shape(network)} counts {numeric_work(network, points, directions):,} "
                        f"work units (40-digit multiply-adds at {points} points); its limit is {NUMERIC_WORK:,}, "
                        f"because every weighted input and every direction reruns part of the network in "
                        f"40-digit arithmetic")
    if problems:
        raise SpecError([*problems, "--method inductive proves BP1-BP4 layer by layer in work linear in the "
                                    "parameters and fits this network; --method none derives without checking"])


__all__ = ["DOCUMENT_WORK", "EXACT_WORK", "MAX_WIDTH", "document_work", "require_documentable", "MAX_PARAMETERS", "NUMERIC_WORK", "exact_work", "neurons",
           "numeric_work", "require_checkable", "require_derivable"]
