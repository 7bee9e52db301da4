"""The example gallery: each derivation the reference articles make, as a network and a notation.

``symbackprop examples`` renders every entry in every language and format into
``output/`` (see :func:`gallery`); ``--check`` reports the files that would
change. The entries are data; their titles and words live in the templates.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from .collector import without_cycle_collection
from .proof.chain import derive
from .proof.general import derive_general, general_options
from .documents.render import LANGUAGES, front_matter, render_gallery_readme, template_dirs
from .proof.report import render
from .model.spec import Network


@dataclass(frozen=True)
class Example:
    """One gallery entry: ``key`` names it in file names and templates."""

    key: str
    network: Network
    notation: str
    #: extra Markdown flavours rendered in English besides ``github``
    flavors: tuple[str, ...] = ()
    #: also render a LaTeX fragment (no preamble) in English, to \\input into lecture notes
    fragment: bool = False
    #: add the section that proves BP1–BP4 for every network with this cost and activation
    general: bool = False


EXAMPLES = (
    # Nielsen's four equations on a network with a generic activation (seeds 001 and 000)
    Example("nielsen", Network([2, 3, 2], activation="generic", cost="quadratic", mean=True), "nielsen",
            fragment=True, general=True),
    # the 2-2-2 sigmoid network without bias, worked weight by weight (seed 002)
    Example("seed002", Network([2, 2, 2], activation="sigmoid", cost="quadratic", bias=False), "nodes",
            flavors=("katex", "mathjax", "hexo", "kramdown")),
    # cross-entropy with sigmoid outputs, bias units and L2 regularisation, four layers (seed 003)
    Example("seed003", Network([3, 5, 5, 4], activation="sigmoid", cost="binary_cross_entropy", l2=True, mean=True),
            "ng", general=True),
    # the matrix form with dimensions, softmax output and categorical cross-entropy (seed 004)
    Example("seed004", Network([4, 5, 3], activation=["generic", "softmax"], cost="cross_entropy"), "qiu",
            general=True),
)


def _languages() -> tuple[str, ...]:
    """The languages whose document templates are installed."""
    shipped = template_dirs()[-1]
    return tuple(lang for lang in LANGUAGES if (shipped / lang / "document.md.j2").is_file())


def _network_documents(files: dict[str, str], manifest: list[dict]) -> None:
    """The derivation documents of :data:`EXAMPLES`, every language, flavour and LaTeX layout."""
    for example in EXAMPLES:
        derivation = derive(example.network)
        report = derivation.check()
        # the general section: BP1–BP4 for every network with this cost and activation
        general = derive_general(**general_options(example.network)) if example.general else None
        proof = {"general": general, "general_report": general.check() if general else None}
        for lang in _languages():
            flavors = ("github", *example.flavors) if lang == "en" else ("github",)
            for flavor in flavors:
                stem = f"{example.key}.{lang}" + ("" if flavor == "github" else f".{flavor}")
                figure = f"{example.key}.svg"
                # a Hexo post starts with its front matter (undated, so that the gallery is reproducible)
                doc = render(derivation, "md", lang, example.notation, flavor, report=report, figure=figure,
                             example=example.key, front_matter=front_matter() if flavor == "hexo" else None,
                             **proof)
                files[f"{stem}.md"] = doc.text
                files.update(doc.attachments)
                manifest.append({"path": f"{stem}.md", "format": "md", "lang": lang, "flavor": flavor,
                                 "example": example.key})
            doc = render(derivation, "tex", lang, example.notation, report=report, example=example.key, **proof)
            files[f"{example.key}.{lang}.tex"] = doc.text
            manifest.append({"path": f"{example.key}.{lang}.tex", "format": "tex", "lang": lang,
                             "standalone": True, "example": example.key})
            if example.fragment and lang == "en":
                doc = render(derivation, "tex", lang, example.notation, standalone=False, report=report,
                             example=example.key, **proof)
                files[f"{example.key}.{lang}.fragment.tex"] = doc.text
                manifest.append({"path": f"{example.key}.{lang}.fragment.tex", "format": "tex", "lang": lang,
                                 "standalone": False, "example": example.key})


# A worked numeric example: a 2-2-2 sigmoid network with the quadratic cost, one example, η = 1/2.
WORKED_NETWORK = Network([2, 2, 2], activation="sigmoid", cost="quadratic")
WORKED_VALUES = {
    "w,1,1,1": 0.3, "w,1,1,2": -0.1, "b,1,1": 0.1,
    "w,1,2,1": 0.2, "w,1,2,2": 0.4, "b,1,2": -0.1,
    "w,2,1,1": 0.5, "w,2,1,2": -0.3, "b,2,1": 0.2,
    "w,2,2,1": 0.1, "w,2,2,2": 0.6, "b,2,2": 0,
    "x": [1, 0.5], "y": [1, 0],
}
WORKED_LR = 0.5

# Gradient diffusion, kept small so that the gallery regenerates in seconds.
DIFFUSION = {"depth": 6, "width": 10, "draws": 3, "seed": 0}


def _worked_documents(files: dict[str, str], manifest: list[dict]) -> None:
    """The worked numeric example of :data:`WORKED_VALUES`, in Markdown and LaTeX, every language."""
    from .numbers import parse_values, worked_example
    from .numbers import render_worked

    derivation = derive(WORKED_NETWORK)
    params, x, y, l2 = parse_values(WORKED_VALUES, derivation)
    example = worked_example(derivation, {**params, **l2}, x, y, lr=WORKED_LR)
    for lang in _languages():
        for fmt in ("md", "tex"):
            path = f"worked.{lang}.{fmt}"
            files[path] = render_worked(example, fmt, lang).text
            entry = {"flavor": "github"} if fmt == "md" else {"standalone": True}
            manifest.append({"path": path, "format": fmt, "lang": lang, **entry, "example": "worked"})


def _diffusion_documents(files: dict[str, str], manifest: list[dict]) -> None:
    """Gradient diffusion through sigmoid, tanh and ReLU layers: the bound and the measurement, with its plot."""
    from .diffusion import bounds, measure, plot_svg, render_diffusion

    measurement = measure(**DIFFUSION)
    derived = bounds(measurement.activations)
    plot = plot_svg(measurement)  # one drawing for every language
    for lang in _languages():
        doc = render_diffusion(measurement, derived, "md", lang, "diffusion.svg", plot=plot)
        files[f"diffusion.{lang}.md"] = doc.text
        files.update(doc.attachments)
        manifest.append({"path": f"diffusion.{lang}.md", "format": "md", "lang": lang, "flavor": "github",
                         "example": "diffusion"})
        doc = render_diffusion(measurement, derived, "tex", lang)
        files[f"diffusion.{lang}.tex"] = doc.text
        manifest.append({"path": f"diffusion.{lang}.tex", "format": "tex", "lang": lang, "standalone": True,
                         "example": "diffusion"})


# A small convolutional network: 1×6×6 input, a 3×3 convolution with 2 channels and ReLU, max pooling
# over 2×2 windows, and a dense softmax output with the categorical cross-entropy.
CONVOLUTIONAL = {
    "input": [1, 6, 6],
    "cost": "cross_entropy",
    "layer": [
        {"type": "conv2d", "channels": 2, "kernel": 3, "activation": "relu"},
        {"type": "maxpool", "size": 2},
        {"type": "dense", "size": 3, "activation": "softmax"},
    ],
}


# A residual block with batch normalisation, over a batch of 3 examples: a dense tanh layer, batch
# normalisation of its output, a skip that adds the dense layer's output back with a ReLU after the
# addition (as in a block of a residual network), and a dense identity output.
RESIDUAL_BATCHNORM = {
    "input": 2,
    "batch": 3,
    "cost": "quadratic",
    "layer": [
        {"type": "dense", "size": 2, "activation": "tanh"},
        {"type": "batchnorm"},
        {"type": "residual", "from": 1, "activation": "relu"},
        {"type": "dense", "size": 1, "activation": "identity"},
    ],
}

# A recurrent layer over 3 steps: 2 inputs and 2 tanh units at each step, the state of every step
# compared with its target by the quadratic cost, summed over the steps.
RECURRENT = {
    "input": [2],
    "steps": 3,
    "cost": "quadratic",
    "layer": [
        {"type": "rnn", "size": 2, "activation": "tanh", "output": "every"},
    ],
}

#: the gallery's layered networks: example key → (description, where it is named in messages)
LAYERED_EXAMPLES = {
    "conv": (CONVOLUTIONAL, "the convolutional example"),
    "resbn": (RESIDUAL_BATCHNORM, "the residual example"),
    "rnn": (RECURRENT, "the recurrent example"),
}


def _layered_documents(files: dict[str, str], manifest: list[dict]) -> None:
    """The layered networks of :data:`LAYERED_EXAMPLES`: each layer's backward rule derived and proven."""
    from .model.layers import layered_from_mapping
    from .proof.layered import derive_layered
    from .proof.layered_report import render_layered

    for key, (description, name) in LAYERED_EXAMPLES.items():
        derivation = derive_layered(layered_from_mapping(description, name))
        report = derivation.check()
        for lang in _languages():
            doc = render_layered(derivation, "md", lang, report=report, figure=f"{key}.svg")
            files[f"{key}.{lang}.md"] = doc.text
            files.update(doc.attachments)
            manifest.append({"path": f"{key}.{lang}.md", "format": "md", "lang": lang, "flavor": "github",
                             "example": key})
            files[f"{key}.{lang}.tex"] = render_layered(derivation, "tex", lang, report=report, label_prefix=key).text
            manifest.append({"path": f"{key}.{lang}.tex", "format": "tex", "lang": lang, "standalone": True,
                             "example": key})


# The computational graph of seed 003: e = (a + b)(b + 1) at a = 2, b = 1, in both modes.
GRAPH_EXPRESSION = "(a+b)*(b+1)"
GRAPH_POINT = {"a": 2, "b": 1}


def _graph_documents(files: dict[str, str], manifest: list[dict]) -> None:
    """The computational graph of :data:`GRAPH_EXPRESSION`: forward and reverse mode, Markdown (+ SVG) and LaTeX."""
    from .graph.analysis import analyse
    from .graph.document import render_graph

    analysis = analyse(GRAPH_EXPRESSION, GRAPH_POINT, "both")
    for lang in _languages():
        doc = render_graph(analysis, "md", lang, figure="graph.svg")
        files[f"graph.{lang}.md"] = doc.text
        files.update(doc.attachments)
        manifest.append({"path": f"graph.{lang}.md", "format": "md", "lang": lang, "flavor": "github",
                         "example": "graph"})
        files[f"graph.{lang}.tex"] = render_graph(analysis, "tex", lang).text
        manifest.append({"path": f"graph.{lang}.tex", "format": "tex", "lang": lang, "standalone": True,
                         "example": "graph"})


#: gallery documents that ``check-doc`` does not read, by example key, with the reason
NOT_SELF_CHECKED: dict[str, str] = {}


def layered_network(example: str):
    """The network of a gallery document of a layered example (``check-doc`` reads it with the description of
    [[layer]] entries), or None for the other examples and those of :data:`NOT_SELF_CHECKED`."""
    from .model.layers import layered_from_mapping

    if example in NOT_SELF_CHECKED or example not in LAYERED_EXAMPLES:
        return None
    description, name = LAYERED_EXAMPLES[example]
    return layered_from_mapping(description, name)


def document_options(example: str) -> tuple | None:
    """(network, notation, meaning of *) with which ``check-doc`` reads a gallery document of ``example``
    (the manifest's ``example`` key): the derivations' own networks, the worked example's network, and for
    the graph and diffusion documents, which state nothing about one network, the default 2-3-2 network;
    None for the documents of layered networks (see :func:`layered_network`)."""
    if example in NOT_SELF_CHECKED or example in LAYERED_EXAMPLES:
        return None
    for entry in EXAMPLES:
        if entry.key == example:
            return entry.network, entry.notation, "hadamard" if entry.notation == "nodes" else "product"
    if example == "worked":
        return WORKED_NETWORK, "nielsen", "product"
    return Network([2, 3, 2]), "nielsen", "product"


#: Every producer of gallery files, in the order of the gallery's index. A producer
#: adds its files (relative path → content) and one manifest entry per document
#: (``path``, ``format``, ``lang``, ``flavor`` for Markdown, ``standalone`` for
#: LaTeX, and ``example``: the key under which ``templates/gallery/README.md.j2``
#: describes it).
PRODUCERS = (
    _network_documents,
    _worked_documents,
    _diffusion_documents,
    _graph_documents,
    _layered_documents,
)


#: the optional packages the gallery needs: (module, name, what for); both come with the test extra
GALLERY_NEEDS = (
    ("numpy", "NumPy", "measuring gradient diffusion"),
    ("matplotlib", "matplotlib", "plotting gradient diffusion"),
)
GALLERY_HINT = "pip install '.[test]'"


def missing_dependencies() -> list[str]:
    """What the gallery needs that is not installed, one problem each (empty when nothing is missing)."""
    import importlib

    problems = []
    for module, name, purpose in GALLERY_NEEDS:
        try:
            importlib.import_module(module)
        except ImportError:
            problems.append(f"the gallery needs {name} for {purpose}, which is not installed: {GALLERY_HINT}")
    return problems


@without_cycle_collection
def gallery() -> dict[str, str]:
    """Every gallery file: relative path → content, with ``manifest.json`` and ``README.md``."""
    files: dict[str, str] = {}
    manifest: list[dict] = []
    for produce in PRODUCERS:
        produce(files, manifest)
    files["manifest.json"] = json.dumps({"documents": manifest}, indent=2, ensure_ascii=False) + "\n"
    files["README.md"] = render_gallery_readme(EXAMPLES, manifest)
    return dict(sorted(files.items()))
