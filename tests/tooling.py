"""Checks of generated documents with the real tools that render them.

LaTeX documents are compiled with ``pdflatex`` (English) or ``xelatex`` and the
``ctex`` classes (Chinese). Markdown documents have their math fragments
extracted the way each Markdown flavour delivers them to its math renderer, and
every fragment is parsed by KaTeX under Node. The ``hexo`` and ``mathjax``
flavours are first rendered to HTML by ``marked``, as Hexo's default renderer
does before MathJax or KaTeX sees the page, and the math is read from that HTML.
Both run in one Node process per test process (``tools/render_service.mjs``).

Node packages come from ``package-lock.json`` (``npm ci``). A test whose tool is
missing is skipped with a message that says what to install; with ``CI=true`` in
the environment it fails instead, so CI cannot pass by skipping.

No document text ever reaches a shell: every tool is run from an argument list,
with the text on stdin or in a file of a temporary directory, and a timeout.
"""

from __future__ import annotations

import atexit
import functools
import hashlib
import html
import importlib.util
import itertools
import json
import os
import re
import select
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple, NoReturn

import pytest

REPO = Path(__file__).resolve().parent.parent
TOOLS = REPO / "tools"
# The gallery; SYMBACKPROP_OUTPUT points the gallery tests at another directory.
OUTPUT = Path(os.environ.get("SYMBACKPROP_OUTPUT") or REPO / "output")

# Debian packages that provide what the LaTeX checks use.
TEX_PACKAGES = (
    "texlive-latex-base texlive-latex-recommended texlive-pictures "
    "texlive-xetex texlive-lang-chinese"
)
NODE_PACKAGES = ("katex", "marked")
NPM_HINT = "`npm ci` in the repository root (Node.js >= 20: Debian package nodejs, with npm)"

# The Markdown flavours of the gallery and how each delivers math (see math_fragments).
FLAVORS = ("github", "katex", "kramdown", "hexo", "mathjax")
VERBATIM_FLAVORS = ("github", "katex", "kramdown")
HTML_FLAVORS = ("hexo", "mathjax")

LANGS = ("en", "zh")
ENGINES = {"en": "pdflatex", "zh": "xelatex"}
# Wrappers for fragments, which have no preamble of their own.
FRAGMENT_WRAPPERS = {
    "en": "\\documentclass{article}\n",
    "zh": "\\documentclass{ctexart}\n",
}
FRAGMENT_BODY = (
    "\\usepackage{amsmath,amssymb,tikz}\n"
    "\\begin{document}\n"
    "\\input{fragment.tex}\n"
    "\\end{document}\n"
)

TEX_TIMEOUT = 180  # seconds for one LaTeX run
NODE_TIMEOUT = 180  # seconds for one Node request (a whole batch)


# ---------------------------------------------------------------------------
# Missing tools: skip locally, fail in CI


def in_ci() -> bool:
    """True when the environment says this is a CI run (``CI=true``)."""
    return os.environ.get("CI", "").strip().lower() == "true"


def missing(message: str) -> NoReturn:
    """Skip the current test for something missing (a tool, the gallery), or fail under ``CI=true``."""
    if in_ci():
        pytest.fail(f"{message} (CI=true: this fails instead of skipping)", pytrace=False)
    pytest.skip(message)


def require_executable(name: str, install_hint: str) -> str:
    """The path of executable ``name``; skip (fail in CI) naming ``install_hint`` if absent."""
    path = shutil.which(name)
    if path is None:
        missing(f"`{name}` not found on PATH: install {install_hint}")
    return path


@functools.lru_cache(maxsize=None)
def _kpsewhich(filename: str) -> str | None:
    try:
        proc = subprocess.run(
            ["kpsewhich", filename], capture_output=True, text=True, timeout=60, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    found = proc.stdout.strip()
    return found or None


def require_tex(lang: str) -> str:
    """The LaTeX engine for ``lang``, after checking it and the packages the checks use."""
    engine = ENGINES[lang]
    require_executable(engine, f"the Debian packages {TEX_PACKAGES}")
    require_executable("kpsewhich", f"the Debian packages {TEX_PACKAGES}")
    needed = {"amsmath.sty": "texlive-latex-base", "amssymb.sty": "texlive-latex-base",
              "tikz.sty": "texlive-pictures"}
    if lang == "zh":
        needed["ctexart.cls"] = "texlive-lang-chinese"
    for filename, package in needed.items():
        if _kpsewhich(filename) is None:
            missing(f"LaTeX file {filename} not found by kpsewhich: install the Debian package "
                    f"{package} (the checks use {TEX_PACKAGES})")
    return engine


@functools.lru_cache(maxsize=None)
def _node_packages_problem() -> str | None:
    """Why the pinned Node packages cannot be used, or None when they can."""
    try:
        lock = json.loads((REPO / "package-lock.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        return f"package-lock.json unreadable ({exc})"
    problems = []
    for name in NODE_PACKAGES:
        locked = lock.get("packages", {}).get(f"node_modules/{name}", {}).get("version")
        manifest = REPO / "node_modules" / name / "package.json"
        try:
            installed = json.loads(manifest.read_text(encoding="utf-8")).get("version")
        except (OSError, ValueError):
            problems.append(f"{name} is not installed")
            continue
        if installed != locked:
            problems.append(f"{name} {installed} is installed but package-lock.json pins {locked}")
    return "; ".join(problems) or None


def require_node_packages() -> None:
    """Check for Node and the exact katex and marked versions of package-lock.json."""
    require_executable("node", NPM_HINT)
    problem = _node_packages_problem()
    if problem:
        missing(f"Node packages not ready ({problem}): run {NPM_HINT}")


# ---------------------------------------------------------------------------
# LaTeX


_RERUN = re.compile(r"Rerun to get|Label\(s\) may have changed|There were undefined references")
# What reads the auxiliary files a run writes: without any of these (or an \input whose text is unknown
# here), a second run sets the same pages from the same source, whatever the first run asks for.
_READS_AUX = re.compile(
    r"\\(?:ref|eqref|pageref|autoref|nameref|cref|Cref|cite|nocite|tableofcontents|listoffigures|listoftables"
    r"|input|include|usepackage\s*(?:\[[^\]]*\])?\s*\{[^}]*(?:hyperref|lastpage|varioref|cleveref))(?![A-Za-z])"
    r"|remember picture")
# A class or package the document loads by name: one from the document's own directory may read the aux files.
_LOADED = re.compile(r"\\(?:documentclass|usepackage|RequirePackage)\s*(?:\[[^\]]*\])?\s*\{([^}]*)\}")


def _loads_from(text: str, search_dir: Path | None) -> bool:
    """Whether ``text`` loads a class or package that ``search_dir`` holds (an \\input is read by _READS_AUX)."""
    if search_dir is None:
        return False
    names = {name.strip() for found in _LOADED.findall(text) for name in found.split(",")}
    return any((search_dir / f"{name}{suffix}").exists() for name in names if name for suffix in (".sty", ".cls"))


_UNDEFINED_REF = re.compile(r"LaTeX Warning: (?:Reference|Citation) `[^']*' .*undefined")
# Two \label of the same name: every \eqref to it may point at the wrong one.
_MULTIPLY_DEFINED = re.compile(r"LaTeX Warning: Label `[^']*' multiply defined")
_MISSING_CHAR = re.compile(r"^Missing character: There is no .*$", re.M)


@dataclass(frozen=True)
class TexBuild:
    """What one build of a LaTeX document left: the engine's verdict and the log of its last run."""

    engine: str
    ok_exit: bool  # the engine exited 0 and wrote a PDF on every run
    log: str
    console: str
    returncode: int | None  # None when the engine timed out
    runs: int


# Builds of this process, by the SHA-256 of everything that decides the build: checks that read the
# same document (whether it compiles, what its layout is) share one build.
_BUILDS: dict[str, TexBuild] = {}


def build_tex(text: str, lang: str, standalone: bool, *, search_dir: Path | None = None) -> TexBuild:
    """Compile a LaTeX document, at most twice, once per distinct document and options in this process.

    ``lang`` chooses the engine: ``pdflatex`` for ``"en"``, ``xelatex`` for ``"zh"``.
    A ``standalone`` document is compiled as it is; otherwise ``text`` is a fragment
    without preamble, ``\\input`` by a minimal wrapper (``article``, or ``ctexart``
    for Chinese, with amsmath, amssymb and tikz). The build runs in a temporary
    directory with ``-interaction=nonstopmode -halt-on-error`` and no shell escape;
    ``search_dir`` (the document's own directory) is added to ``TEXINPUTS`` so that
    files the document inputs resolve. A second run happens only when the first one
    asks for it (labels, undefined references) or wrote a table of contents, and the
    document has something that reads the auxiliary files (a reference, a citation, a
    table of contents, an ``\\input``, a class or package from ``search_dir``): otherwise a
    second run sets the same pages from the same source. A document that only defines
    labels is built once, wherever it is.
    The files a document inputs from ``search_dir`` are taken as they were at its first
    build: a test that changes them compiles from another directory.
    """
    engine = require_tex(lang)
    key = hashlib.sha256(
        json.dumps([text, lang, standalone, str(search_dir) if search_dir else None]).encode("utf-8")
    ).hexdigest()
    if key not in _BUILDS:
        _BUILDS[key] = _build(engine, text, lang, standalone, search_dir)
    return _BUILDS[key]


def _build(engine: str, text: str, lang: str, standalone: bool, search_dir: Path | None) -> TexBuild:
    with tempfile.TemporaryDirectory(prefix="symbackprop-tex-") as tmp:
        work = Path(tmp)
        main = work / "document.tex"
        if standalone:
            main.write_text(text, encoding="utf-8")
        else:
            (work / "fragment.tex").write_text(text, encoding="utf-8")
            main.write_text(FRAGMENT_WRAPPERS[lang] + FRAGMENT_BODY, encoding="utf-8")
        env = dict(os.environ)
        # Unwrapped log lines, so that warnings and errors match whole.
        env["max_print_line"] = "10000"
        if search_dir is not None:
            # A trailing separator keeps TeX's default search path after ours.
            env["TEXINPUTS"] = f"{search_dir}{os.pathsep}"
        command = [engine, "-interaction=nonstopmode", "-halt-on-error", "-no-shell-escape",
                   "-file-line-error", main.name]
        for run in (1, 2):
            try:
                proc = subprocess.run(
                    command, cwd=work, env=env, stdin=subprocess.DEVNULL,
                    capture_output=True, timeout=TEX_TIMEOUT, check=False,
                )
            except subprocess.TimeoutExpired:
                return TexBuild(engine, False, _read_log(work), "", None, run)
            log = _read_log(work)
            console = proc.stdout.decode("utf-8", "replace")
            if proc.returncode != 0 or not (work / "document.pdf").exists():
                return TexBuild(engine, False, log, console, proc.returncode, run)
            toc = work / "document.toc"
            wants_rerun = _RERUN.search(log) or (toc.exists() and toc.stat().st_size > 0)
            reads_aux = _READS_AUX.search(text) is not None or _loads_from(text, search_dir)
            if not (wants_rerun and reads_aux):
                break
        return TexBuild(engine, True, log, console, proc.returncode, run)


def compile_tex(
    text: str,
    lang: str,
    standalone: bool,
    *,
    search_dir: Path | None = None,
    references: bool = False,
) -> tuple[bool, str]:
    """Compile a LaTeX document (see :func:`build_tex`) and say whether it built.

    The document is good when the engine exits 0, writes a PDF and drops no glyph
    ("Missing character" in the log). With ``references=True`` a reference still
    undefined after the second run, or a label defined twice, also counts as a failure.

    Returns ``(ok, log_excerpt)``: on failure the excerpt holds the error lines of the
    log with their context; on success, the warnings worth reading (possibly empty).
    """
    build = build_tex(text, lang, standalone, search_dir=search_dir)
    engine, log = build.engine, build.log
    if build.returncode is None:
        return False, f"{engine} did not finish within {TEX_TIMEOUT} s\n" + _tail(log)
    if not build.ok_exit:
        excerpt = _error_excerpt(log) or _tail(log or build.console)
        return False, f"{engine} exited with status {build.returncode} (run {build.runs})\n{excerpt}"
    problems = _MISSING_CHAR.findall(log)
    undefined = _UNDEFINED_REF.findall(log)
    if references:
        problems += undefined + _MULTIPLY_DEFINED.findall(log)
    if problems:
        return False, f"{engine} built the PDF but:\n" + "\n".join(_dedupe(problems))
    return True, "\n".join(_dedupe(undefined))


_PAGES = re.compile(r"Output written on \S+ \((\d+) pages?")
_OVERFULL_BOX = re.compile(r"^Overfull \\[hv]box \((\d+(?:\.\d+)?)pt too (?:wide|high)\).*$", re.M)


def tex_layout(text: str, lang: str, *, search_dir: Path | None = None) -> tuple[int, list[str]]:
    """The page count of a standalone LaTeX document and every overfull box of its log (the lines as
    TeX writes them), after the runs that set its references (see :func:`build_tex`, whose build
    :func:`compile_tex` shares). A document that does not build has 0 pages."""
    build = build_tex(text, lang, True, search_dir=search_dir)
    pages = _PAGES.search(build.log) if build.ok_exit else None
    return (int(pages.group(1)) if pages else 0), [m.group(0) for m in _OVERFULL_BOX.finditer(build.log)]


def _read_log(work: Path) -> str:
    path = work / "document.log"
    try:
        # pdfTeX writes the log in the input's bytes; replace what is not UTF-8.
        return path.read_bytes().decode("utf-8", "replace")
    except OSError:
        return ""


# An error line: "./fragment.tex:5: Undefined control sequence." (-file-line-error),
# or "! ..." for errors TeX reports without a file position.
_ERROR_LINE = re.compile(r"^(?:!|\S[^:]*\.(?:tex|sty|cls|def|cfg|aux|toc):\d+: )")


def _error_excerpt(log: str, context: int = 8) -> str:
    """The error lines of a TeX log and the lines that follow each."""
    lines = log.splitlines()
    picked: list[str] = []
    for number, line in enumerate(lines):
        if _ERROR_LINE.match(line):
            block = lines[number:number + context]
            # Stop after TeX's "l.<line>" context pair, or before its memory statistics.
            for offset, entry in enumerate(block):
                if entry.startswith("l."):
                    block = block[:offset + 2]
                    break
                if entry.startswith("Here is how much"):
                    block = block[:offset]
                    break
            picked.extend(block)
            picked.append("")
    return "\n".join(picked).strip()


def _tail(text: str, count: int = 25) -> str:
    return "\n".join(text.splitlines()[-count:])


def _dedupe(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))


# ---------------------------------------------------------------------------
# Node tools


class _NodeService:
    """One Node process (``tools/render_service.mjs``) that serves every KaTeX and marked request of this
    test process, a JSON line each way: starting Node and loading KaTeX costs more than most requests.

    A request that takes longer than :data:`NODE_TIMEOUT` kills the process (the next request starts a new
    one); so does a reply that is not one line of JSON, and an interruption before the whole reply is read.
    What Node writes on stderr goes to a temporary file and is quoted when the process fails.
    """

    def __init__(self):
        self._proc: subprocess.Popen | None = None
        self._stderr = None
        atexit.register(self.close)

    def _start(self) -> subprocess.Popen:
        if self._proc is not None and self._proc.poll() is not None:
            self.close()
        if self._proc is None:
            self._stderr = tempfile.TemporaryFile()
            self._proc = subprocess.Popen(
                ["node", str(TOOLS / "render_service.mjs")], cwd=REPO,
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._stderr,
            )
        return self._proc

    def close(self, kill: bool = False) -> str:
        """End the Node process (it exits when its stdin closes) and return what it wrote on stderr."""
        proc, self._proc = self._proc, None
        if proc is None:
            return ""
        if kill:
            proc.kill()
        try:
            proc.stdin.close()
        except BrokenPipeError:
            pass
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        self._stderr.seek(0)
        stderr = self._stderr.read().decode("utf-8", "replace")
        self._stderr.close()
        return stderr

    def _fail(self, message: str) -> NoReturn:
        raise RuntimeError(f"{message}\n{self.close(kill=True)}".rstrip())

    def request(self, tool: str, data):
        require_node_packages()
        proc = self._start()
        line = (json.dumps({"tool": tool, "input": data}) + "\n").encode("ascii")
        reply = bytearray()
        deadline = time.monotonic() + NODE_TIMEOUT
        try:
            proc.stdin.write(line)
            proc.stdin.flush()
            while not reply.endswith(b"\n"):
                left = deadline - time.monotonic()
                if left <= 0 or not select.select([proc.stdout], [], [], left)[0]:
                    self._fail(f"node render_service.mjs did not answer a {tool} request within {NODE_TIMEOUT} s")
                chunk = os.read(proc.stdout.fileno(), 1 << 20)
                if not chunk:
                    self._fail(f"node render_service.mjs exited with status {proc.wait()} during a {tool} request")
                reply += chunk
        except BrokenPipeError:
            self._fail(f"node render_service.mjs exited with status {proc.wait()} before a {tool} request")
        except BaseException:
            # interrupted between the request and its whole reply: a reply left unread would be taken
            # for the answer to the next request, so this process ends here
            self.close(kill=True)
            raise
        try:
            answer = json.loads(reply)
        except ValueError:
            self._fail(f"node render_service.mjs answered a {tool} request with something not JSON")
        if "error" in answer:
            raise RuntimeError(f"node render_service.mjs could not serve a {tool} request:\n{answer['error']}")
        return answer["result"]


_NODE = _NodeService()


def marked_html(markdown_text: str) -> str:
    """``markdown_text`` rendered to HTML by the pinned ``marked`` with its defaults."""
    return marked_html_many([markdown_text])[0]


def marked_html_many(documents: list[str]) -> list[str]:
    """Several Markdown documents rendered by ``marked``, in one request."""
    if not documents:
        return []
    rendered = _NODE.request("marked", list(documents))
    if len(rendered) != len(documents):
        raise RuntimeError(f"marked returned {len(rendered)} documents for {len(documents)}")
    return rendered


@dataclass(frozen=True)
class KatexFailure:
    """A fragment KaTeX rejected: its position in the checked list, the fragment, the error."""

    index: int
    tex: str
    display: bool
    error: str

    def describe(self) -> str:
        mode = "display" if self.display else "inline"
        fragment = self.tex if "\n" not in self.tex else "\n" + _indent(self.tex, "      ")
        return f"  [{self.index}] {mode}: {fragment}\n      {self.error}"


def katex_failures(fragments) -> list[KatexFailure]:
    """The fragments that KaTeX (pinned, strict mode "error") fails to render.

    ``fragments`` is a sequence of ``(tex, display)`` pairs; all of them are parsed
    in one request to the Node process.
    """
    fragments = list(fragments)
    if not fragments:
        return []
    payload = [
        {"id": index, "tex": tex, "display": bool(display)}
        for index, (tex, display) in enumerate(fragments)
    ]
    reported = _NODE.request("katex", payload)
    failures = []
    for item in reported:
        index = item["id"]
        tex, display = fragments[index]
        failures.append(KatexFailure(index, tex, bool(display), item["error"]))
    return failures


def describe_failures(failures: list[KatexFailure]) -> str:
    return "\n".join(failure.describe() for failure in failures)


def _indent(text: str, prefix: str) -> str:
    return "\n".join(prefix + line for line in text.splitlines())


# ---------------------------------------------------------------------------
# Math fragments of Markdown documents


class Fragment(NamedTuple):
    """One piece of math as the renderer receives it."""

    tex: str
    display: bool


class DeliveryError(ValueError):
    """The math of a document cannot reach its renderer intact.

    Raised by ``math_fragments`` for delimiters that never close, empty math, and
    (hexo, mathjax) math that marked turned partly into HTML, such as ``_`` pairs
    that became ``<em>``. ``problems`` lists every such place in the document.
    """

    def __init__(self, flavor: str, problems: list[str]):
        self.flavor = flavor
        self.problems = problems
        super().__init__(
            f"{len(problems)} math delivery problem(s) ({flavor}):\n"
            + "\n".join(f"  {problem}" for problem in problems)
        )


_PUNCTUATION = set("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~")
_FENCE = re.compile(r"^ {0,3}(?P<fence>`{3,}|~{3,})(?P<info>.*)$")


def math_fragments(markdown_text: str, flavor: str, *, html_text: str | None = None) -> list[Fragment]:
    """The math fragments of a Markdown document, as its flavour delivers them.

    * ``github``, ``katex``: inline ``$…$`` and display ``$$…$$``, verbatim from the
      source; a ``$$`` line opens a display block closed by the next ``$$`` line.
      ``github`` renders a ``$$…$$`` inside a paragraph as display math and also
      takes the content of a fenced block with info string ``math`` as display math;
      ``katex`` (remark-math) renders a ``$$…$$`` inside a paragraph inline.
    * ``kramdown``: only ``$$…$$``, verbatim; display when it stands alone in its
      block, inline inside a paragraph. A single ``$`` is text.
    * ``hexo``: the document goes through ``marked`` first; inline ``$…$`` and display
      ``$$…$$`` are then found in the HTML text and HTML-unescaped.
    * ``mathjax``: like hexo, with delimiters ``\\(…\\)`` and ``\\[…\\]`` in the HTML.

    Code spans and fenced code blocks (``<code>``/``<pre>`` in HTML) hold no math, and
    a backslash-escaped ``\\$`` is a literal dollar. ``html_text`` may carry the HTML
    marked made of the document, to avoid rendering it again.

    Raises ``DeliveryError`` listing every delimiter that never closes, every empty
    piece of math, and every piece that marked changed into HTML markup.
    """
    if flavor in VERBATIM_FLAVORS:
        fragments, problems = _verbatim_fragments(markdown_text, flavor)
    elif flavor in HTML_FLAVORS:
        if html_text is None:
            html_text = marked_html(markdown_text)
        fragments, problems = _html_fragments(html_text, flavor)
    else:
        raise ValueError(f"unknown Markdown flavour {flavor!r}; expected one of {FLAVORS}")
    if problems:
        raise DeliveryError(flavor, problems)
    return fragments


def _snippet(text: str, limit: int = 80) -> str:
    """A short one-line quote of ``text``, backslashes as they are (⏎ marks a newline)."""
    flat = text.replace("\n", "\u23ce")
    return "«" + (flat if len(flat) <= limit else flat[:limit] + "…") + "»"


def _verbatim_fragments(text: str, flavor: str) -> tuple[list[Fragment], list[str]]:
    fragments: list[Fragment] = []
    problems: list[str] = []
    paragraph: list[tuple[int, str]] = []
    fence: tuple[str, int, bool, int] | None = None  # char, length, is math, opening line
    fence_lines: list[str] = []
    display_start: int | None = None
    display_lines: list[str] = []

    def flush() -> None:
        if paragraph:
            _scan_paragraph(paragraph, flavor, fragments, problems)
            paragraph.clear()

    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if display_start is not None:
            if stripped == "$$":
                tex = "\n".join(display_lines)
                if not tex.strip():
                    problems.append(f"line {display_start}: empty $$ block")
                else:
                    fragments.append(Fragment(tex, True))
                display_start = None
            else:
                display_lines.append(line)
            continue
        if fence is not None:
            char, length, is_math, opened = fence
            closing = _FENCE.match(line)
            if (closing and closing["fence"][0] == char and len(closing["fence"]) >= length
                    and not closing["info"].strip()):
                if is_math:
                    fragments.append(Fragment("\n".join(fence_lines), True))
                fence = None
            else:
                fence_lines.append(line)
            continue
        opening = _FENCE.match(line)
        if opening and not (opening["fence"][0] == "`" and "`" in opening["info"]):
            flush()
            info = opening["info"].strip().split()
            is_math = flavor == "github" and bool(info) and info[0] == "math"
            fence = (opening["fence"][0], len(opening["fence"]), is_math, number)
            fence_lines = []
            continue
        if stripped == "$$":
            flush()
            display_start = number
            display_lines = []
            continue
        if not stripped:
            flush()
            continue
        paragraph.append((number, line))
    flush()
    if display_start is not None:
        problems.append(f"line {display_start}: $$ block never closed")
    if fence is not None and fence[2]:
        problems.append(f"line {fence[3]}: ```math block never closed")
    return fragments, problems


def _scan_paragraph(
    lines: list[tuple[int, str]], flavor: str, fragments: list[Fragment], problems: list[str]
) -> None:
    """Find the inline math of one paragraph of Markdown source (verbatim flavours)."""
    first = lines[0][0]
    text = "\n".join(line for _, line in lines)

    def where(position: int) -> str:
        return f"line {first + text.count(chr(10), 0, position)}"

    i = 0
    while i < len(text):
        char = text[i]
        if char == "\\":
            # A Markdown backslash escape: "\$" is a literal dollar.
            i += 2 if i + 1 < len(text) and text[i + 1] in _PUNCTUATION else 1
            continue
        if char == "`":
            run = _run_length(text, i, "`")
            close = _closing_backticks(text, i + run, run)
            i = close + run if close is not None else i + run
            continue
        if char != "$":
            i += 1
            continue
        double = text.startswith("$$", i)
        if flavor == "kramdown" and not double:
            i += 1  # kramdown has no single-dollar math
            continue
        delimiter = "$$" if double else "$"
        start = i + len(delimiter)
        end = _closing(text, start, delimiter)
        if end is None:
            problems.append(f"{where(i)}: {delimiter} never closed: {_snippet(text[i:])}")
            i = start
            continue
        tex = text[start:end]
        if not tex.strip():
            problems.append(f"{where(i)}: empty math {delimiter}{tex}{delimiter}")
        else:
            alone = not text[:i].strip() and not text[end + len(delimiter):].strip()
            if not double:
                display = False
            elif flavor == "github":
                display = True
            else:  # katex (remark-math) and kramdown: display only as a block of its own
                display = alone
            fragments.append(Fragment(tex, display))
        i = end + len(delimiter)


def _run_length(text: str, start: int, char: str) -> int:
    end = start
    while end < len(text) and text[end] == char:
        end += 1
    return end - start


def _closing_backticks(text: str, start: int, run: int) -> int | None:
    """Where the backtick run of exactly ``run`` characters closing a code span starts."""
    i = start
    while i < len(text):
        if text[i] == "`":
            length = _run_length(text, i, "`")
            if length == run:
                return i
            i += length
        else:
            i += 1
    return None


def _closing(text: str, start: int, delimiter: str, skip: bytearray | None = None) -> int | None:
    """Where ``delimiter`` closes math that starts at ``start``; ``\\x`` pairs never close it."""
    i = start
    while i < len(text):
        if skip is not None and skip[i]:
            i += 1
            continue
        if text.startswith(delimiter, i):
            return i
        i += 2 if text[i] == "\\" else 1
    return None


_HTML_OPAQUE = re.compile(r"<(pre|code)\b[^>]*>.*?</\1\s*>|<!--.*?-->|<[^>]*>", re.S | re.I)
_HTML_DELIMITERS = {
    "hexo": (("$$", "$$", True), ("$", "$", False)),
    "mathjax": (("\\[", "\\]", True), ("\\(", "\\)", False)),
}


def _html_fragments(text: str, flavor: str) -> tuple[list[Fragment], list[str]]:
    """Find math in the HTML marked made: in text only, never in tags, code or pre."""
    markup = bytearray(len(text))
    for match in _HTML_OPAQUE.finditer(text):
        markup[match.start():match.end()] = b"\x01" * (match.end() - match.start())
    delimiters = _HTML_DELIMITERS[flavor]
    fragments: list[Fragment] = []
    problems: list[str] = []
    i = 0
    while i < len(text):
        if markup[i]:
            i += 1
            continue
        if flavor == "hexo" and text.startswith("\\$", i):
            i += 2  # a literal dollar
            continue
        for opener, closer, display in delimiters:
            if text.startswith(opener, i):
                break
        else:
            i += 2 if text[i] == "\\" and flavor == "mathjax" and text.startswith("\\\\", i) else 1
            continue
        start = i + len(opener)
        end = _closing(text, start, closer, markup)
        if end is None:
            problems.append(f"{opener} never closed in the HTML from marked: {_snippet(text[i:])}")
            i = start
            continue
        raw = text[start:end]
        if any(markup[start:end]):
            first = markup.index(1, start, end)
            problems.append(
                "math spans HTML markup after marked (Markdown characters in it were not "
                f"escaped, or a delimiter has no partner): {_snippet(opener + raw + closer)}, "
                f"markup at {_snippet(text[max(start, first - 50):first + 30])}"
            )
        elif not raw.strip():
            problems.append(f"empty math {opener}{raw}{closer}")
        else:
            fragments.append(Fragment(html.unescape(raw), display))
        i = end + len(closer)
    return fragments, problems


# ---------------------------------------------------------------------------
# The gallery


@dataclass(frozen=True)
class Document:
    """One entry of ``output/manifest.json``."""

    path: str
    format: str
    lang: str
    flavor: str | None = None
    standalone: bool | None = None

    @property
    def file(self) -> Path:
        return OUTPUT / self.path


def entry_problems(entry) -> list[str]:
    """What is wrong with one manifest entry (an empty list when it follows the contract)."""
    if not isinstance(entry, dict):
        return ["not an object"]
    path = entry.get("path")
    if not isinstance(path, str) or not path or Path(path).is_absolute() or ".." in Path(path).parts:
        return [f"path {path!r} is not a relative path inside output/"]
    problems = []
    kind = entry.get("format")
    if kind not in ("md", "tex"):
        problems.append(f"format {kind!r} is not 'md' or 'tex'")
    elif not path.endswith(f".{kind}"):
        problems.append(f"format {kind!r} but the file name does not end in .{kind}")
    if entry.get("lang") not in LANGS:
        problems.append(f"lang {entry.get('lang')!r} is not one of {LANGS}")
    if kind == "md" and entry.get("flavor") not in FLAVORS:
        problems.append(f"flavor {entry.get('flavor')!r} is not one of {FLAVORS}")
    if kind == "tex" and not isinstance(entry.get("standalone"), bool):
        problems.append(f"standalone {entry.get('standalone')!r} is not true or false")
    return problems


def manifest_problems(data) -> list[str]:
    """What is wrong with a parsed manifest (an empty list when it follows the contract)."""
    if not isinstance(data, dict) or not isinstance(data.get("documents"), list):
        return ['the manifest must be an object {"documents": [...]}']
    problems = []
    seen: set[str] = set()
    for number, entry in enumerate(data["documents"]):
        label = f"documents[{number}]"
        if isinstance(entry, dict) and isinstance(entry.get("path"), str):
            label += f" ({entry['path']})"
            if entry["path"] in seen:
                problems.append(f"{label}: listed twice")
            seen.add(entry["path"])
        problems.extend(f"{label}: {problem}" for problem in entry_problems(entry))
    if not data["documents"]:
        problems.append("the manifest lists no document")
    return problems


def load_manifest(path: Path = OUTPUT / "manifest.json") -> tuple[list[Document], list[str]]:
    """The manifest's documents that follow the contract, and every problem of the manifest."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        return [], [f"{path.name} cannot be read as JSON: {exc}"]
    problems = manifest_problems(data)
    documents: list[Document] = []
    seen: set[str] = set()
    if isinstance(data, dict) and isinstance(data.get("documents"), list):
        for entry in data["documents"]:
            if entry_problems(entry) or entry["path"] in seen:
                continue
            seen.add(entry["path"])
            documents.append(Document(
                path=entry["path"], format=entry["format"], lang=entry["lang"],
                flavor=entry.get("flavor"), standalone=entry.get("standalone"),
            ))
    return documents, problems


_generated = itertools.count()


def import_generated(source: str, directory: Path, stem: str = "generated"):
    """Write a generated module's ``source`` into ``directory`` (it must not name the package that wrote it)
    and import it from there, under a name of its own."""
    assert "symbackprop" not in source
    name = f"{stem}_{next(_generated)}"
    path = Path(directory) / f"{name}.py"
    path.write_text(source, encoding="utf-8")
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
