"""The names the command line offers, apart from the modules that implement them.

``symbackprop --help`` builds its parser from these without importing SymPy, Jinja2
or lark, so that it answers at once. The modules that implement the choices take
their names from here (methods, formats, languages) or are kept in step with them
by a test (notations, Markdown flavours).
"""

#: how ``derive`` checks BP1–BP4 (see :mod:`symbackprop.proof.equations`)
METHODS = ("auto", "exact", "inductive", "numeric")
#: document formats of ``derive``
FORMATS = ("md", "tex", "text", "json")
#: document languages
LANGUAGES = ("en", "zh")
#: what the sections of a LaTeX document become (``--heading-level``)
HEADING_LEVELS = ("chapter", "section", "subsection")
#: Markdown math flavours (:data:`symbackprop.documents.render.FLAVORS`)
FLAVORS = ("github", "katex", "mathjax", "hexo", "kramdown")
#: notations (:data:`symbackprop.documents.printing.NOTATIONS`)
NOTATIONS = ("nielsen", "ng", "qiu", "nodes")
#: the activations ``diffusion`` compares unless told otherwise
DIFFUSION_ACTIVATIONS = ("sigmoid", "tanh", "relu")
#: the largest number of terms the exact comparison of one claim may expand to (an upper bound
#: computed before expanding; :mod:`symbackprop.claims.exact`)
MAX_TERMS = 200_000
