"""Rendering: a Jinja2 environment whose filters call the one printer.

Templates hold all the prose, one set per language (``templates/en``,
``templates/zh``); ``templates/formats`` says how a format sets a heading, a
formula or a table. This module knows no feature: each feature builds its own
document model (:mod:`symbackprop.proof.report`, :mod:`symbackprop.claims.report`,
:mod:`symbackprop.graph.document`, :mod:`symbackprop.numbers`,
:mod:`symbackprop.diffusion`, :mod:`symbackprop.codegen`) and renders it with
the environment and templates found here. Expressions become LaTeX or text
through :mod:`symbackprop.documents.printing`. Rendering returns strings:
writing files is the command line's job.
"""

from __future__ import annotations

import re
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import jinja2

from . import printing
from ..choices import FORMATS, HEADING_LEVELS, LANGUAGES  # noqa: F401 (the names documents are rendered in)
from ..errors import SpecError, unknown_name
from ..model.symbols import Chain



@dataclass(frozen=True)
class Flavor:
    """How a Markdown dialect delimits math, and whether its Markdown pass sees the math."""

    name: str
    inline: tuple[str, str]
    display: tuple[str, str]
    #: the Markdown renderer runs before the math renderer, so Markdown-active characters are escaped
    escape: bool = False


FLAVORS = {
    "github": Flavor("github", ("$", "$"), ("$$", "$$")),
    "katex": Flavor("katex", ("$", "$"), ("$$", "$$")),
    "mathjax": Flavor("mathjax", ("\\\\(", "\\\\)"), ("\\\\[", "\\\\]"), escape=True),
    "hexo": Flavor("hexo", ("$", "$"), ("$$", "$$"), escape=True),
    "kramdown": Flavor("kramdown", ("$$", "$$"), ("$$", "$$")),
}


def escape_markdown_math(tex: str) -> str:
    """Math that survives a Markdown pass (marked, CommonMark) unchanged.

    A backslash before punctuation would be read as an escape (``\\{`` would
    lose its backslash) and a backslash at the end of a line as a hard line
    break, so every backslash that does not start a command name is doubled;
    ``_`` and ``*`` pairs would become emphasis and ``[…]`` a link, so they are
    escaped too. The Markdown pass then gives back the original math.
    """
    out = []
    for index, char in enumerate(tex):
        following = tex[index + 1] if index + 1 < len(tex) else ""
        if char == "\\" and not (following.isascii() and following.isalpha()):
            out.append("\\\\")
        elif char in "_*[]" and (index == 0 or tex[index - 1] != "\\"):
            out.append("\\" + char)
        else:
            out.append(char)
    return "".join(out)


_TEX_SPECIALS = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
                 "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}
_MD_SPECIALS = set("\\`*_{}[]<>#|")


#: characters of diagnostic messages that a pdflatex document cannot take as text
_TEX_SYMBOLS = {"σ": r"$\sigma$", "δ": r"$\delta$", "θ": r"$\theta$", "λ": r"$\lambda$", "∂": r"$\partial$",
                "Σ": r"$\Sigma$", "×": r"$\times$", "≤": r"$\le$", "⊙": r"$\odot$", "²": r"$^2$", "′": "'",
                "−": "-", "∇": r"$\nabla$"}


def escape_tex_text(value) -> str:
    """Plain text (a name, a message) made safe inside LaTeX prose."""
    return "".join(_TEX_SPECIALS.get(c) or _TEX_SYMBOLS.get(c, c) for c in str(value))


class MarkdownProse(str):
    """Text escaped for Markdown prose that remembers its unescaped form, ``plain``: inside a code
    span Markdown shows backslashes literally, so the ``code`` macro of ``formats/md.j2`` uses that."""

    __slots__ = ("plain",)

    def __new__(cls, escaped: str, plain: str):
        text = super().__new__(cls, escaped)
        text.plain = plain
        return text


def escape_md_text(value) -> str:
    """Plain text made safe inside Markdown prose (its ``plain`` attribute keeps the text as given)."""
    plain = str(value)
    return MarkdownProse("".join("\\" + c if c in _MD_SPECIALS else c for c in plain), plain)


def template_dirs(extra: str | Path | None = None) -> list[Path]:
    """Where templates are looked up: a user's directory first, then the shipped set."""
    package = Path(__file__).resolve().parents[1]  # symbackprop/
    dirs = [Path(extra)] if extra else []
    for candidate in (package / "templates", package.parent / "templates"):
        if candidate.is_dir():
            dirs.append(candidate)
            break
    return dirs


class _CompiledTemplates(jinja2.BytecodeCache):
    """Compiled templates, shared by every environment this process makes.

    Environments differ only in what their filters print (notation, sizes, format,
    flavour), and those filters look the setting up when a document renders, never
    when a template compiles (see :func:`environment`); so a template compiled once
    serves them all. An entry is used only while the template's source is unchanged.
    """

    def __init__(self):
        self._code: dict = {}

    def load_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        entry = self._code.get(bucket.key)
        if entry is not None and entry[0] == bucket.checksum:
            bucket.code = entry[1]

    def dump_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        self._code[bucket.key] = (bucket.checksum, bucket.code)


_COMPILED = _CompiledTemplates()


def _setting(name: str):
    """The filter ``name`` of the environment a template renders in.

    A filter that needs the context is never applied while a template compiles
    (Jinja2 folds constant expressions with ordinary filters), so what a compiled
    template prints depends only on the environment it renders in.
    """

    @jinja2.pass_context
    def apply(context, value, *args, **kwargs):
        return context.environment.printing_filters[name](value, *args, **kwargs)

    return apply


def environment(notation: str = "nielsen", sizes=None, templates: str | Path | None = None,
                fmt: str = "text", flavor: str = "github", activation: str | None = None) -> jinja2.Environment:
    """A Jinja2 environment whose filters print in the given notation, format and flavour.

    ``activation`` (a label such as ``relu``) is the activation every layer shares: a general statement
    then writes it by its own name where it has one (ReLU', tanh'), else with the notation's letter.
    """
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader([str(d) for d in template_dirs(templates)]),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,
        extensions=["jinja2.ext.do"],
        bytecode_cache=_COMPILED,
    )
    style = FLAVORS[flavor]
    env.printing_filters = {
        "text": partial(printing.text, notation=notation, sizes=sizes, activation=activation),
        "latex": partial(printing.latex, notation=notation, sizes=sizes, activation=activation),
        "layer": partial(printing.layer_number, notation_name=notation),
        "mathmd": escape_markdown_math if style.escape else (lambda tex: tex),
        "prose": escape_tex_text if fmt == "tex" else escape_md_text if fmt == "md" else str,
    }
    env.filters.update({name: _setting(name) for name in env.printing_filters})
    env.filters["chain"] = lambda links: Chain(*links)
    env.filters["width"] = printing.visible_width
    env.tests["chain"] = lambda expr: isinstance(expr, Chain) and len(expr.links) > 2
    env.globals["flavor"] = style
    env.globals["fmt"] = fmt
    return env


@contextmanager
def templates_found(env: jinja2.Environment):
    """A broken template as one clear error: one missing from the search path (also one included by
    another), a syntax error (with the template and line), or an undefined name used while rendering
    (with the template and line where the traceback shows them)."""
    try:
        yield
    except jinja2.TemplateNotFound as missing:
        searched = ", ".join(str(p) for p in env.loader.searchpath)
        raise SpecError(f"template {missing.name!r} not found; looked in: {searched}") from None
    except jinja2.TemplateSyntaxError as error:
        where = error.filename or error.name or "a template"
        raise SpecError(f"template {where}, line {error.lineno}: {error.message}; expected valid Jinja2 syntax") from None
    except jinja2.UndefinedError as error:
        where = _template_frame(error.__traceback__)
        raise SpecError(f"template {where}: {error.message}; expected only the names the renderer passes") from None


def _template_frame(trace) -> str:
    """'FILE, line N' of the innermost template frame in a traceback (Jinja2 names its frames after
    the template file), or 'unknown' if none is found."""
    found = "unknown"
    while trace is not None:
        code = trace.tb_frame.f_code
        if code.co_filename.endswith(".j2"):
            found = f"{code.co_filename}, line {trace.tb_lineno}"
        trace = trace.tb_next
    return found


def get_template(env: jinja2.Environment, name: str) -> jinja2.Template:
    with templates_found(env):
        return env.get_template(name)


def check_choice(what: str, value: str, valid) -> None:
    if value not in valid:
        raise SpecError(unknown_name(what, value, valid))


# -------------------------------------------------------------------- LaTeX label prefixes
#: a prefix of every \label and \eqref of a LaTeX document (eq:PREFIX:bp1): letters, digits, - . _
LABEL_PREFIX = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


def check_label_prefix(prefix) -> str | None:
    """``prefix`` when it can start a LaTeX label; None stays None (labels without a prefix)."""
    if prefix is None or isinstance(prefix, str) and LABEL_PREFIX.fullmatch(prefix):
        return prefix
    raise SpecError(f"label prefix {prefix!r} cannot prefix a LaTeX label; expected letters, digits, '-', '.' "
                    f"or '_', starting with a letter or digit, e.g. bp-2-3-2")


#: what a LaTeX document's sections become (--heading-level): a fragment then fits under a lecture's own headings
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}(?:[ T]\d{2}:\d{2}(?::\d{2})?)?")


def check_heading_level(level: str) -> str:
    """``level`` when it is one of :data:`HEADING_LEVELS`."""
    check_choice("heading level", level, HEADING_LEVELS)
    return level


def front_matter(date: str | None = None) -> dict:
    """The options of a Markdown document's front matter: its date (YYYY-MM-DD, optionally with a time), or none.

    The date is never read from the clock, so that the same input gives the same document.
    """
    if date is not None and not _DATE.fullmatch(date):
        raise SpecError(f"front-matter date {date!r} is not a date; expected YYYY-MM-DD or YYYY-MM-DD HH:MM[:SS], "
                        f"e.g. 2024-05-01")
    return {"date": date}


def label_prefix_from(text: str) -> str:
    """A label prefix made from any text (a file name's stem): every other character becomes '-'."""
    prefix = re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-._")
    return prefix or "doc"


# -------------------------------------------------------------------- documents


@dataclass(frozen=True)
class Document:
    """A rendered document and the files that go next to it (name → content)."""

    text: str
    attachments: dict = field(default_factory=dict)


def render_gallery_readme(examples, manifest) -> str:
    """The index of the gallery in ``output/``."""
    env = environment()
    return get_template(env, "gallery/README.md.j2").render(examples=examples, manifest=manifest)
