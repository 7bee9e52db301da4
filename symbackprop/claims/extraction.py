"""Finding the equations in a text: the displays of a document, the rows of an aligned block, the sides of a chain.

:func:`extract_equations` gives every display equation of a Markdown or LaTeX document with its line,
one entry per row of an aligned block; :func:`split_chain` cuts ``A = B = C`` at its top-level signs
only. Both work on the text alone, before any grammar: they know the environments, the alignment marks
and the decorations (``\\label``, ``\\tag``, a justification in ``\\text{…}``), not the formulas.
"""

from __future__ import annotations

import re

from ..errors import unknown_name
from .lexing import _DECORATION
from .reading import FormulaError


# ---------------------------------------------------------------------------- chains


#: \begin{name} or \end{name}
_ENVIRONMENT = re.compile(r"\\(begin|end)\s*\{([^{}]*)\}")


def _past_command(text: str, index: int) -> tuple[int, int]:
    """Past the command at ``index`` (a backslash): the next index, and +1/-1 for \\begin/\\end{...}, else 0."""
    match = _ENVIRONMENT.match(text, index)
    if match:
        return match.end(), 1 if match.group(1) == "begin" else -1
    return index + 2, 0


def _top_level_equals(text: str) -> list[int]:
    """Positions of the '=' signs of a chain: outside braces, brackets and environments."""
    positions = []
    depth = 0
    index = 0
    while index < len(text):
        char = text[index]
        if char == "\\":
            index, change = _past_command(text, index)
            depth += change
            continue
        if char in "{([":
            depth += 1
        elif char in "})]":
            depth = max(0, depth - 1)
        elif char == "=" and depth == 0:
            positions.append(index)
        index += 1
    return positions


def split_chain(text: str) -> list[str]:
    """The sides of a chain ``A = B = C``: split at top-level '=' only, '&' marks dropped.

    >>> split_chain(r"\\delta^{3}_{1} &= \\sum_{k=1}^{2} w_{k} = 0")
    ['\\\\delta^{3}_{1}', '\\\\sum_{k=1}^{2} w_{k}', '0']
    """
    cleaned = _remove_alignment(text)
    parts, start = [], 0
    for position in _top_level_equals(cleaned):
        parts.append(cleaned[start:position].strip())
        start = position + 1
    parts.append(cleaned[start:].strip())
    return parts


#: what _remove_alignment looks at: an environment's start or end, any other command (\\& among them), a mark
_ALIGNMENT_TOKEN = re.compile(r"\\(begin|end)\s*\{([^{}]*)\}|\\.|&", re.S)


def _remove_alignment(text: str) -> str:
    """``text`` without the '&' alignment marks outside matrix environments (\\& is kept)."""
    out, depth, kept = [], 0, 0
    for token in _ALIGNMENT_TOKEN.finditer(text):
        if token.group(1):
            if "matrix" in token.group(2) or token.group(2) in ("cases", "array"):
                depth += 1 if token.group(1) == "begin" else -1
        elif token.group(0) == "&" and depth <= 0:
            out.append(text[kept:token.start()])
            kept = token.end()
    out.append(text[kept:])
    return "".join(out)


# ---------------------------------------------------------------------------- documents

_DISPLAY_ENVIRONMENTS = ("equation", "align", "gather", "multline", "flalign", "alignat", "eqnarray")
_ROW_ENVIRONMENTS = ("align", "gather", "flalign", "alignat", "eqnarray", "aligned", "split", "gathered",
                     "alignedat")


def extract_equations(document: str, fmt: str) -> list[tuple[int, str]]:
    """(1-based line, LaTeX) of every display equation of a Markdown (``"md"``) or LaTeX (``"tex"``) document.

    Displays are ``$$…$$`` (also inside backticks, as some blogs write them), ``\\[…\\]``
    and the environments equation, align, gather, multline (and their starred forms,
    flalign, alignat, eqnarray). An align-like environment, and aligned, split or
    gathered inside any display, gives one entry per row (split at ``\\\\`` outside
    braces and nested environments); a row that starts with its relation
    (``&= …``) continues the chain of the row before it, so ``A &= B \\\\ &= C``
    gives the one entry ``A = B = C`` at A's line. ``&``, ``\\label``, ``\\tag`` and
    ``\\nonumber`` are removed. Markdown code blocks and LaTeX comments are skipped.
    """
    if fmt not in ("md", "tex"):
        raise FormulaError(unknown_name("document format", fmt, ("md", "tex")))
    source = _blank_code(document) if fmt == "md" else _blank_comments(document)
    source = _DECORATION.sub(lambda m: re.sub(r"[^\n]", " ", m.group(0)), source)
    pattern = re.compile(
        r"\$\$(?P<dollars>.*?)\$\$"
        + (r"|\\\\\[(?P<escaped>.*?)\\\\\]" if fmt == "md" else "")  # \\[…\\], as Markdown keeps \[…\]
        + r"|\\\[(?P<brackets>.*?)\\\]"
        r"|\\begin\s*\{(?P<env>(?:%s)\*?)\}(?:\{[^{}]*\})?(?P<body>.*?)\\end\s*\{(?P=env)\}"
        % "|".join(_DISPLAY_ENVIRONMENTS),
        re.S)
    found = []
    for match in pattern.finditer(source):
        group = next(name for name in ("dollars", "escaped", "brackets", "body")
                     if name in pattern.groupindex and match.group(name) is not None)
        start = match.start(group)
        body = match.group(group)
        environment = (match.group("env") or "").rstrip("*")
        origin = None
        if fmt == "md" and (group == "escaped" or _escaped_for_markdown(body)):
            body, origin = _unescape_markdown(body)
        rows = _rows(body, 0, split=environment in _ROW_ENVIRONMENTS)
        for position, row in rows:
            position = start + (origin[position] if origin is not None else position)
            found.append((source.count("\n", 0, position) + 1, row))
    return found


def _escaped_for_markdown(math: str) -> bool:
    """Whether display math was written escaped for a Markdown pass (``w\\_{35}``, see
    :func:`symbackprop.render.escape_markdown_math`): it escapes ``_`` or ``*`` and leaves none bare."""
    return bool(re.search(r"(?<!\\)\\[_*]", math)) and not re.search(r"(?<!\\)[_*]", math)


def _unescape_markdown(math: str) -> tuple[str, list[int]]:
    """Math escaped for Markdown as the Markdown pass gives it back: ``\\_``, ``\\*``, ``\\[``, ``\\]`` lose
    their backslash and ``\\\\`` becomes ``\\``; with, for every character, its position in ``math``."""
    out, origin, index = [], [], 0
    while index < len(math):
        if math[index] == "\\" and index + 1 < len(math) and math[index + 1] in "\\_*[]":
            out.append(math[index + 1])
            origin.append(index)
            index += 2
            continue
        out.append(math[index])
        origin.append(index)
        index += 1
    origin.append(len(math))
    return "".join(out), origin


def _blank_code(document: str) -> str:
    """Markdown with fenced code blocks blanked out (lines kept)."""
    out, fence = [], None
    for line in document.split("\n"):
        stripped = line.lstrip()
        marker = stripped[:3] if stripped[:3] in ("```", "~~~") else None
        if fence is None and marker:
            fence = marker
            out.append("")
        elif fence is not None:
            if marker == fence:
                fence = None
            out.append("")
        else:
            out.append(line)
    return "\n".join(out)


def _blank_comments(document: str) -> str:
    """LaTeX with % comments blanked out (lines kept)."""
    return "\n".join(re.sub(r"(?<!\\)%.*", "", line) for line in document.split("\n"))


def _rows(body: str, offset: int, split: bool) -> list[tuple[int, str]]:
    """The equations of one display: rows of aligned blocks, else the whole display."""
    inner = re.search(r"\\begin\s*\{(aligned|split|gathered|alignedat)\}(?:\{[^{}]*\})?(.*)\\end\s*\{\1\}",
                      body, re.S)
    if inner:
        before, after = body[:inner.start()], body[inner.end():]
        if not before.strip() and not after.strip():
            offset, body, split = offset + inner.start(2), inner.group(2), True
    pieces = _split_rows(body)
    if not split:  # multline and the like: one equation broken over lines
        pieces = [(pieces[0][0], " ".join(piece for _, piece in pieces))]
    rows: list[list] = []
    for start, piece in pieces:
        cleaned = _clean_equation(piece)
        if not cleaned:
            continue
        lead = len(piece) - len(piece.lstrip())
        if rows and re.match(r"(=|\\(?:leq|geq|approx|equiv)(?![A-Za-z]))", cleaned):
            rows[-1][1] = f"{rows[-1][1]} {cleaned}"
            continue
        rows.append([offset + start + lead, cleaned])
    return [(position, text) for position, text in rows]


#: the optional spacing after a line break, as in \\[2pt]
_SPACING = re.compile(r"\s*\[[^\]]*\]")


def _split_rows(body: str) -> list[tuple[int, str]]:
    """Split at \\\\ that is outside braces and nested environments."""
    pieces, depth, start, index = [], 0, 0, 0
    while index < len(body):
        char = body[index]
        if char == "\\":
            if body.startswith("\\\\", index) and depth == 0:
                pieces.append((start, body[start:index]))
                index += 2
                optional = _SPACING.match(body, index)  # \\[2pt]
                if optional:
                    index = optional.end()
                start = index
                continue
            index, change = _past_command(body, index)
            depth += change
            continue
        if char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
        index += 1
    pieces.append((start, body[start:]))
    return pieces


#: a derivation line's justification: from `&&` or `\qquad` before `\text{…}` to the end of the line
_JUSTIFICATION = re.compile(r"(?:&&|\\qquad(?![A-Za-z]))\s*\\text\s*\{.*", re.S)


#: an aligned block inside a row (a long sum broken over lines after its "="): one expression
_NESTED = re.compile(r"\\begin\s*\{(aligned|gathered)\}(.*?)\\end\s*\{\1\}", re.S)
_LINE_BREAK = re.compile(r"\\\\(?:\s*\[[^\]]*\])?")


def _clean_equation(text: str) -> str:
    text = _NESTED.sub(lambda m: _LINE_BREAK.sub(" ", m.group(2)), text)
    text = _JUSTIFICATION.sub("", text)
    text = _DECORATION.sub("", text)
    text = _remove_alignment(text)
    return " ".join(text.split())


# ---------------------------------------------------------------------------- tables

#: a cell that is one piece of inline math: $…$, $$…$$ (kramdown), \(…\) and \\(…\\) (Markdown's escaped form)
_MATH_CELL = re.compile(r"^(?:\$\$(?P<kramdown>.*)\$\$|\$(?P<dollar>.*)\$|\\\\\((?P<escaped>.*)\\\\\)"
                        r"|\\\((?P<parens>.*)\\\))$", re.S)
_TABULAR = re.compile(r"\\begin\s*\{(?P<env>tabular\*?|tabularx|longtable)\}(?:\{[^{}]*\})*(?P<body>.*?)"
                      r"\\end\s*\{(?P=env)\}", re.S)
#: a table's rules, which are no part of a row
_RULES = re.compile(r"\\(?:hline|toprule|midrule|bottomrule|cline\s*\{[^{}]*\}|endhead|endfirsthead)(?![A-Za-z])")


def extract_table_rows(document: str, fmt: str) -> list[tuple[int, list]]:
    """(1-based line, cells) of every row of every table of a Markdown (pipe tables) or LaTeX (``tabular``)
    document: a cell that is one piece of inline math is given as its LaTeX (with Markdown's escapes undone),
    any other cell as None. A Markdown table's delimiter row (``| --- |``) is no row; code blocks and LaTeX
    comments are skipped.

    >>> extract_table_rows("| Parameter | Value |\\n| --- | --- |\\n| $w^{2}_{11}$ | $0.3$ |\\n", "md")
    [(1, [None, None]), (3, ['w^{2}_{11}', '0.3'])]
    """
    if fmt not in ("md", "tex"):
        raise FormulaError(unknown_name("document format", fmt, ("md", "tex")))
    if fmt == "md":
        rows = []
        for number, line in enumerate(_blank_code(document).split("\n"), start=1):
            stripped = line.strip()
            if len(stripped) < 2 or not stripped.startswith("|") or not stripped.endswith("|"):
                continue
            cells = [cell.strip() for cell in _split_cells(stripped[1:-1], "|")]
            if all(re.fullmatch(r":?-{3,}:?", cell) for cell in cells):
                continue
            rows.append((number, [_math_cell(cell, markdown=True) for cell in cells]))
        return rows
    source = _blank_comments(document)
    rows = []
    for table in _TABULAR.finditer(source):
        start = table.start("body")
        for position, piece in _split_rows(table.group("body")):
            text = _RULES.sub(lambda m: " " * len(m.group(0)), piece)
            if not text.strip():
                continue
            lead = len(text) - len(text.lstrip())
            line = source.count("\n", 0, start + position + lead) + 1
            rows.append((line, [_math_cell(cell.strip(), markdown=False) for cell in _split_cells(text, "&")]))
    return rows


def _split_cells(row: str, separator: str) -> list[str]:
    """A row's cells: split at ``separator`` outside inline math and braces (``\\&`` and ``\\|`` are kept)."""
    cells, start, depth, math, index = [], 0, 0, False, 0
    while index < len(row):
        char = row[index]
        if char == "\\":
            index += 2
            continue
        if char == "$":
            math = not math
        elif char == "{":
            depth += 1
        elif char == "}":
            depth = max(0, depth - 1)
        elif char == separator and depth == 0 and not math:
            cells.append(row[start:index])
            start = index + 1
        index += 1
    cells.append(row[start:])
    return cells


def _math_cell(cell: str, markdown: bool):
    """The LaTeX of a cell that is one piece of inline math, else None."""
    match = _MATH_CELL.match(cell)
    if not match:
        return None
    body = next(group for group in match.groups() if group is not None)
    if markdown and _escaped_for_markdown(body):
        body = _unescape_markdown(body)[0]
    return body.strip() or None
