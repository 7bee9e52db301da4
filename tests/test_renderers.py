"""The document checkers themselves: each one accepts good input and rejects planted faults.

These tests run the real tools (pdflatex, xelatex with ctex, KaTeX and marked under
Node). Without a tool they are skipped with a message saying what to install; with
``CI=true`` they fail instead.
"""

from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tooling import (
    FLAVORS,
    HTML_FLAVORS,
    DeliveryError,
    Fragment,
    build_tex,
    compile_tex,
    describe_failures,
    entry_problems,
    katex_failures,
    manifest_problems,
    marked_html,
    marked_html_many,
    math_fragments,
    require_executable,
)

# ---------------------------------------------------------------------------
# Missing tools

def test_missing_tool_skips_locally_and_fails_in_ci(monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="install the package no-such-package"):
        require_executable("symbackprop-no-such-tool", "the package no-such-package")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="install the package no-such-package"):
        require_executable("symbackprop-no-such-tool", "the package no-such-package")


# ---------------------------------------------------------------------------
# LaTeX

EN_STANDALONE = r"""\documentclass{article}
\usepackage{amsmath,amssymb,tikz}
\begin{document}
\section{Output error}
\begin{equation}
  \delta^L_j = \frac{\partial C}{\partial a^L_j}\,\sigma'(z^L_j)
  \label{eq:bp1}
\end{equation}
Equation~\eqref{eq:bp1} is BP1.
\begin{tikzpicture}
  \draw[->] (0,0) node[left] {$a^1_1$} -- (1,0) node[right] {$z^2_1$};
\end{tikzpicture}
\end{document}
"""

EN_FRAGMENT = r"""\begin{align}
  \frac{\partial C}{\partial w^l_{jk}} &= a^{l-1}_k \delta^l_j \label{eq:bp4}\\
  \frac{\partial C}{\partial b^l_j} &= \delta^l_j
\end{align}
By \eqref{eq:bp4}, $\mathbb{R}^{n}$.
"""

ZH_STANDALONE = r"""\documentclass{ctexart}
\usepackage{amsmath,amssymb,tikz}
\begin{document}
\section{输出层误差}
损失函数为 \begin{equation}C = \tfrac12 \lVert a^L - y \rVert^2 \label{eq:cost}\end{equation}
由式~\eqref{eq:cost} 得 $\nabla_a C = a^L - y$。
\end{document}
"""

ZH_FRAGMENT = r"""反向传播的第二个方程：
\[
  \delta^l = \bigl((w^{l+1})^{\mathsf T} \delta^{l+1}\bigr) \odot \sigma'(z^l)
\]
"""


@pytest.mark.parametrize(
    "text, lang, standalone",
    [
        (EN_STANDALONE, "en", True),
        (EN_FRAGMENT, "en", False),
        (ZH_STANDALONE, "zh", True),
        (ZH_FRAGMENT, "zh", False),
    ],
    ids=["en-standalone", "en-fragment", "zh-standalone", "zh-fragment"],
)
def test_valid_latex_compiles(text, lang, standalone):
    ok, log = compile_tex(text, lang, standalone, references=True)
    assert ok, log


@pytest.mark.parametrize(
    "text, lang, standalone, expected",
    [
        (EN_STANDALONE.replace(r"{\partial a^L_j}", r"{\partial a^L_j"), "en", True,
         r"File ended while scanning use of \frac"),
        (EN_FRAGMENT + "\\notamacro\n", "en", False, "fragment.tex:6: Undefined control sequence"),
        (EN_FRAGMENT.replace(r"\end{align}", ""), "en", False,
         r"fragment.tex:4: Paragraph ended before \align was complete"),
        (ZH_STANDALONE.replace(r"\rVert^2", r"\rVert^{2"), "zh", True, "document.tex:5:"),
        (ZH_FRAGMENT + "$\\notamacro$\n", "zh", False, "fragment.tex:5: Undefined control sequence"),
        # Chinese text needs xelatex and ctex: through pdflatex it must fail.
        (ZH_FRAGMENT, "en", False, "Unicode character 反 (U+53CD)"),
        # A fragment compiled as a standalone document has no \documentclass.
        (EN_FRAGMENT, "en", True, "Environment align undefined"),
    ],
    ids=["en-standalone-brace", "en-fragment-undefined", "en-fragment-unclosed-env",
         "zh-standalone-brace", "zh-fragment-undefined", "zh-text-through-pdflatex",
         "fragment-as-standalone"],
)
def test_broken_latex_fails(text, lang, standalone, expected):
    ok, log = compile_tex(text, lang, standalone)
    assert not ok, "a broken document compiled"
    assert expected in log, log


def test_undefined_reference_is_reported_only_when_asked():
    text = EN_STANDALONE.replace(r"\eqref{eq:bp1}", r"\eqref{eq:nowhere}")
    ok, log = compile_tex(text, "en", True)
    assert ok, log
    assert "eq:nowhere" in log
    ok, log = compile_tex(text, "en", True, references=True)
    assert not ok
    assert "eq:nowhere" in log


def test_a_second_run_only_for_a_document_that_reads_its_labels():
    """Labels alone: the second run would set the same pages, so there is none; a reference needs it."""
    referring = build_tex(EN_STANDALONE, "en", True)
    assert referring.ok_exit and referring.runs == 2
    labels_only = build_tex(EN_STANDALONE.replace(r"Equation~\eqref{eq:bp1} is BP1.", "BP1."), "en", True)
    assert labels_only.ok_exit and labels_only.runs == 1 and "Label(s) may have changed" in labels_only.log


def test_a_document_in_its_own_directory_runs_again_only_for_a_package_from_there(tmp_path):
    """The gallery compiles each document with its directory on the search path: that alone reads no labels,
    but a package from that directory may (here one that prints a reference), so it gets the second run."""
    labels_only = EN_STANDALONE.replace(r"Equation~\eqref{eq:bp1} is BP1.", "BP1.")
    assert build_tex(labels_only, "en", True, search_dir=tmp_path).runs == 1
    (tmp_path / "localrefs.sty").write_text("\\AtEndDocument{See~\\ref{eq:bp1}.}\n", encoding="utf-8")
    local = labels_only.replace(r"\begin{document}", "\\usepackage{localrefs}\n\\begin{document}")
    build = build_tex(local, "en", True, search_dir=tmp_path)
    assert build.ok_exit and build.runs == 2
    assert "undefined" not in build.log


def test_dropped_glyph_fails():
    # U+1F600 is in none of the fonts ctex sets up; xelatex drops it with a log line only.
    ok, log = compile_tex("笑 \U0001F600\n", "zh", False)
    assert not ok
    assert "Missing character" in log


# ---------------------------------------------------------------------------
# Extraction of math from Markdown (verbatim flavours: no Node needed)

VERBATIM_DOC = r"""# Gradients

The weighted input $z^l_j = \sum_k w^l_{jk} a^{l-1}_k + b^l_j$ costs \$5 and
`$not math$` nor ``a `$` b``.

$$
\frac{\partial C}{\partial w^l_{jk}} = a^{l-1}_k \delta^l_j
$$

```python
price = "$3"  # $not math$
```

~~~
$$
not math either
$$
~~~

Inline double $$\delta^L = a^L - y$$ in a sentence.

$$\nabla_a C = a^L - y$$
"""


def test_github_fragments():
    assert math_fragments(VERBATIM_DOC, "github") == [
        (r"z^l_j = \sum_k w^l_{jk} a^{l-1}_k + b^l_j", False),
        ("\\frac{\\partial C}{\\partial w^l_{jk}} = a^{l-1}_k \\delta^l_j", True),
        (r"\delta^L = a^L - y", True),
        (r"\nabla_a C = a^L - y", True),
    ]


def test_katex_fragments_render_inline_double_dollars_inline():
    assert math_fragments(VERBATIM_DOC, "katex") == [
        (r"z^l_j = \sum_k w^l_{jk} a^{l-1}_k + b^l_j", False),
        ("\\frac{\\partial C}{\\partial w^l_{jk}} = a^{l-1}_k \\delta^l_j", True),
        (r"\delta^L = a^L - y", False),
        (r"\nabla_a C = a^L - y", True),
    ]


def test_kramdown_fragments_ignore_single_dollars():
    assert math_fragments(VERBATIM_DOC, "kramdown") == [
        ("\\frac{\\partial C}{\\partial w^l_{jk}} = a^{l-1}_k \\delta^l_j", True),
        (r"\delta^L = a^L - y", False),
        (r"\nabla_a C = a^L - y", True),
    ]


def test_github_math_fence_is_display_math():
    text = "Text.\n\n```math\n\\sigma'(z) = \\sigma(z)(1-\\sigma(z))\n```\n"
    assert math_fragments(text, "github") == [(r"\sigma'(z) = \sigma(z)(1-\sigma(z))", True)]
    assert math_fragments(text, "katex") == []


def test_escaped_backslash_before_dollar_opens_math():
    # "\\" is an escaped backslash, so the dollar after it is a delimiter.
    assert math_fragments(r"a \\$x$ b", "github") == [("x", False)]


def test_dollar_escaped_inside_math_does_not_close_it():
    assert math_fragments(r"cost $\$5 + x$ here", "github") == [(r"\$5 + x", False)]


@pytest.mark.parametrize("flavor", ["github", "katex"])
@pytest.mark.parametrize(
    "text, expected",
    [
        ("a $x + y and no end\n", "$ never closed"),
        ("$$\nx\n", "$$ block never closed"),
        ("empty $$ $$ here\n", "empty math"),
    ],
    ids=["inline", "block", "empty"],
)
def test_unclosed_or_empty_math_is_a_delivery_error(flavor, text, expected):
    with pytest.raises(DeliveryError, match=expected.replace("$", r"\$")):
        math_fragments(text, flavor)


# Pieces of TeX without bare dollars or backticks; escapes are whole, so none ends in a lone backslash.
TEX_TOKENS = st.sampled_from(
    ["a", "x_1", "w^l_{jk}", "\\frac{a}{b}", "\\\\", "\\{", "\\}", "\\$", "^{2}", " ", "+",
     "\\sigma'(z)", "&", "<", "*", "_"]
)
TEX = st.lists(TEX_TOKENS, min_size=1, max_size=8).map("".join).filter(lambda t: t.strip())


@given(st.lists(st.tuples(TEX, st.booleans()), min_size=1, max_size=6))
def test_verbatim_extraction_round_trips(pieces):
    parts = []
    for tex, display in pieces:
        parts.append(f"\n$$\n{tex}\n$$\n" if display else f"Text ${tex}$ and `$code$`.\n")
    text = "\n".join(parts)
    for flavor in ("github", "katex"):
        assert math_fragments(text, flavor) == [(tex, display) for tex, display in pieces]


def test_unknown_flavor_is_rejected():
    with pytest.raises(ValueError, match="unknown Markdown flavour"):
        math_fragments("$x$", "pandoc")


# ---------------------------------------------------------------------------
# KaTeX

BROKEN_MATH = [
    (r"\frac{a}{b", "unbalanced brace"),
    (r"\frac{a}", "missing argument"),
    (r"\notamacro + 1", "Undefined control sequence"),
    ("损失 = 1", "unicodeTextInMathMode"),  # CJK outside \text: strict mode rejects it
]


def test_katex_accepts_valid_math():
    fragments = [
        (r"\delta^L_j = \frac{\partial C}{\partial a^L_j} \sigma'(z^L_j)", False),
        (r"\begin{aligned} a &= b \\ c &= d \end{aligned}", True),
        (r"\text{损失} = \tfrac12 \lVert a - y \rVert^2", False),
        (r"\nabla_a C \odot \sigma'(z^L) \tag{BP1}", True),
    ]
    failures = katex_failures(fragments)
    assert failures == [], describe_failures(failures)


def test_katex_rejects_broken_math():
    fragments = [(tex, False) for tex, _ in BROKEN_MATH]
    failures = katex_failures(fragments)
    assert [failure.index for failure in failures] == list(range(len(BROKEN_MATH)))
    for failure, (tex, _) in zip(failures, BROKEN_MATH):
        assert failure.tex == tex
        assert failure.error.startswith("KaTeX parse error")
    assert "Undefined control sequence: \\notamacro" in failures[2].error
    assert "unicodeTextInMathMode" in failures[3].error


def test_katex_display_only_constructs_fail_inline():
    tex = r"x = 1 \tag{1}"
    assert katex_failures([(tex, True)]) == []
    (failure,) = katex_failures([(tex, False)])
    assert "display" in failure.error


def test_katex_failure_description_names_fragment_and_error():
    (failure,) = katex_failures([(r"\notamacro", True)])
    text = failure.describe()
    assert r"\notamacro" in text and "display" in text and "Undefined control sequence" in text


# Every flavour: a document with good math passes, the same document with broken math fails.
GOOD = {
    "github": "Weighted input $z = w a + b$.\n\n$$\n\\sigma(z) = \\frac{1}{1+e^{-z}}\n$$\n",
    "katex": "Weighted input $z = w a + b$.\n\n$$\n\\sigma(z) = \\frac{1}{1+e^{-z}}\n$$\n",
    "kramdown": "Weighted input $$z = w a + b$$.\n\n$$\n\\sigma(z) = \\frac{1}{1+e^{-z}}\n$$\n",
    "hexo": "Weighted input $z = w a + b$.\n\n$$\n\\sigma(z) = \\frac{1}{1+e^{-z}}\n$$\n",
    "mathjax": "Weighted input \\\\(z = w a + b\\\\).\n\n\\\\[\n\\sigma(z) = \\frac{1}{1+e^{-z}}\n\\\\]\n",
}


BROKEN = {
    "brace": (r"\frac{1}{1+e^{-z}}", r"\frac{1}{1+e^{-z}"),   # unbalanced brace
    "frac": (r"\frac{1}{1+e^{-z}}", r"\frac{1}"),            # missing argument
    "macro": (r"\sigma(z)", r"\notamacro(z)"),                # unknown macro
    "inline": ("z = w a + b", r"z = w a + \beta{"),            # broken inline math
}


@pytest.fixture(scope="module")
def flavour_checks():
    """Fragments and KaTeX failures of GOOD in every flavour and of each BROKEN variant of it, by
    (case, flavour), the case "good" or a key of BROKEN. The hexo and mathjax documents go through
    marked in one Node process, and every fragment through KaTeX in another."""
    texts = {("good", flavor): GOOD[flavor] for flavor in FLAVORS}
    for case, (good, bad) in BROKEN.items():
        for flavor in FLAVORS:
            texts[case, flavor] = GOOD[flavor].replace(good, bad, 1)
    through_marked = [key for key in texts if key[1] in HTML_FLAVORS]
    rendered = dict(zip(through_marked, marked_html_many([texts[key] for key in through_marked])))
    fragments = {key: math_fragments(text, key[1], html_text=rendered.get(key)) for key, text in texts.items()}
    located = [(key, index) for key, found in fragments.items() for index in range(len(found))]
    failures = {key: [] for key in texts}
    for failure in katex_failures([fragment for found in fragments.values() for fragment in found]):
        key, index = located[failure.index]
        failures[key].append(replace(failure, index=index))
    return texts, fragments, failures


@pytest.mark.parametrize("flavor", FLAVORS)
def test_good_markdown_passes(flavor, flavour_checks):
    _, found, failed = flavour_checks
    fragments, failures = found["good", flavor], failed["good", flavor]
    assert [display for _, display in fragments] == [False, True]
    assert fragments[0].tex == "z = w a + b"
    assert fragments[1].tex.strip() == r"\sigma(z) = \frac{1}{1+e^{-z}}"
    assert failures == [], describe_failures(failures)


@pytest.mark.parametrize("flavor", FLAVORS)
@pytest.mark.parametrize("case", BROKEN)
def test_broken_markdown_fails(flavor, case, flavour_checks):
    texts, _, failed = flavour_checks
    _, bad = BROKEN[case]
    assert texts[case, flavor] != GOOD[flavor]
    failures = failed[case, flavor]
    assert len(failures) == 1, describe_failures(failures)
    assert bad in failures[0].tex


# ---------------------------------------------------------------------------
# Hexo and MathJax: math read from the HTML marked makes

def test_marked_renders_markdown():
    assert marked_html("*a* `b`\n").strip() == "<p><em>a</em> <code>b</code></p>"


def test_one_node_process_serves_every_request_and_a_new_one_follows_a_dead_one():
    import tooling

    tooling.require_node_packages()
    assert marked_html_many(["a\n\nb", "*c*\u2028\r\n"]) == ["<p>a</p>\n<p>b</p>\n", "<p><em>c</em>\u2028</p>\n"]
    first = tooling._NODE._proc
    assert katex_failures([("x^2", False)]) == [] and tooling._NODE._proc is first
    with pytest.raises(RuntimeError, match="unknown tool \"mathjax\"; expected one of katex, marked"):
        tooling._NODE.request("mathjax", [])
    assert tooling._NODE._proc is first  # a refused request leaves the process serving
    first.kill()
    first.wait()
    assert [f.tex for f in katex_failures([("\\frac{1}{", True), ("a", False)])] == ["\\frac{1}{"]
    assert tooling._NODE._proc is not first


def test_a_request_interrupted_before_its_reply_leaves_no_reply_for_the_next(monkeypatch):
    import tooling

    tooling.require_node_packages()
    real_select = tooling.select.select

    def interrupted(*args):
        real_select(*args)  # the reply is there, unread
        raise KeyboardInterrupt

    monkeypatch.setattr(tooling.select, "select", interrupted)
    with pytest.raises(KeyboardInterrupt):
        katex_failures([("\\frac{1}{", True)])
    monkeypatch.setattr(tooling.select, "select", real_select)
    assert katex_failures([("a", False), ("b", False)]) == []


def test_hexo_underscore_pairs_must_be_escaped():
    unescaped = "Error $\\delta^{l}_{j} = w^{l}_{jk}$ here.\n"
    with pytest.raises(DeliveryError, match="HTML markup"):
        math_fragments(unescaped, "hexo")
    escaped = unescaped.replace("_", "\\_")
    assert math_fragments(escaped, "hexo") == [(r"\delta^{l}_{j} = w^{l}_{jk}", False)]
    # The verbatim flavours deliver the unescaped source as it is.
    assert katex_failures(math_fragments(unescaped, "github")) == []


def test_hexo_double_backslash_must_be_escaped():
    block = "$$\n\\begin{aligned} a &= b \\\\[2pt] c &= d \\end{aligned}\n$$\n"
    fragments = math_fragments(block, "hexo")  # marked turns "\\[" into "\["
    assert fragments == [("\n\\begin{aligned} a &= b \\[2pt] c &= d \\end{aligned}\n", True)]
    (failure,) = katex_failures(fragments)
    assert "\\[" in failure.error
    escaped = block.replace("\\\\", "\\\\\\\\")
    fragments = math_fragments(escaped, "hexo")
    assert fragments == [("\n\\begin{aligned} a &= b \\\\[2pt] c &= d \\end{aligned}\n", True)]
    assert katex_failures(fragments) == []


def test_hexo_entities_are_unescaped():
    text = "Compare $a < b \\\\& \\text{\"q\" 'r'}$ and $x > 0$.\n"
    assert math_fragments(text, "hexo") == [
        ("a < b \\& \\text{\"q\" 'r'}", False),
        ("x > 0", False),
    ]


def test_hexo_unescaped_ampersand_fails_in_katex():
    # marked turns "\&" into "&": a bare alignment character outside an environment.
    fragments = math_fragments("Set $a \\& b$.\n", "hexo")
    assert fragments == [("a & b", False)]
    assert len(katex_failures(fragments)) == 1


def test_hexo_ignores_code_and_escaped_dollars():
    text = "Price \\\\$5 and `$x$` then $y$.\n\n```\n$$ z $$\n```\n"
    assert math_fragments(text, "hexo") == [("y", False)]


def test_hexo_stray_dollar_is_a_delivery_error():
    # "\$" in the source reaches the page as a bare "$", which pairs with the next one.
    with pytest.raises(DeliveryError):
        math_fragments("Costs \\$5.\n\nThen $x$.\n", "hexo")


def test_mathjax_delimiters_must_survive_marked():
    escaped = "See \\\\(a_1\\\\) and\n\n\\\\[\nb\n\\\\]\n"
    assert math_fragments(escaped, "mathjax") == [("a_1", False), ("\nb\n", True)]
    # Unescaped, marked eats the backslashes and no math is left on the page.
    assert math_fragments("See \\(a\\) and \\[b\\]\n", "mathjax") == []


def test_mathjax_math_needs_its_own_escapes():
    unescaped = "Then \\\\(\\delta^{l}_{j} + w^{l}_{jk}\\\\).\n"
    with pytest.raises(DeliveryError, match="HTML markup"):
        math_fragments(unescaped, "mathjax")
    escaped = unescaped.replace("_", "\\_")
    fragments = math_fragments(escaped, "mathjax")
    assert fragments == [Fragment(r"\delta^{l}_{j} + w^{l}_{jk}", False)]
    assert katex_failures(fragments) == []


def test_mathjax_unclosed_delimiter_is_a_delivery_error():
    with pytest.raises(DeliveryError, match="never closed"):
        math_fragments("Then \\\\(x.\n", "mathjax")


# ---------------------------------------------------------------------------
# The manifest contract

def test_manifest_contract():
    good = {"documents": [
        {"path": "a.en.github.md", "format": "md", "lang": "en", "flavor": "github"},
        {"path": "a.zh.tex", "format": "tex", "lang": "zh", "standalone": True},
    ]}
    assert manifest_problems(good) == []
    assert manifest_problems({"docs": []})
    assert manifest_problems({"documents": [good["documents"][0]] * 2})  # listed twice
    assert entry_problems({"path": "../x.md", "format": "md", "lang": "en", "flavor": "github"})
    assert entry_problems({"path": "x.md", "format": "md", "lang": "fr", "flavor": "github"})
    assert entry_problems({"path": "x.md", "format": "md", "lang": "en", "flavor": "pandoc"})
    assert entry_problems({"path": "x.md", "format": "tex", "lang": "en", "standalone": True})
    assert entry_problems({"path": "x.tex", "format": "tex", "lang": "en"})
