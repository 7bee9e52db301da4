"""The generated gallery (``output/``) checked with the tools that render it.

``output/manifest.json`` lists every document. Each LaTeX document must compile
(pdflatex for English, xelatex with ctex for Chinese); each Markdown document must
deliver at least one math fragment and every fragment must parse in KaTeX, as the
document's flavour hands it over (see ``tooling.math_fragments``). The manifest and
the directory must agree; the only unlisted file allowed is the index
``output/README.md``, whose math, if any, must parse as on GitHub. Without the
gallery, the module reports one skipped test (a failure with ``CI=true``).
"""

from collections import defaultdict
from dataclasses import replace

import pytest

from tooling import (
    ENGINES,
    HTML_FLAVORS,
    OUTPUT,
    DeliveryError,
    compile_tex,
    describe_failures,
    katex_failures,
    load_manifest,
    marked_html_many,
    math_fragments,
    missing,
    require_node_packages,
    tex_layout,
)

MANIFEST = OUTPUT / "manifest.json"
#: the most pages each English LaTeX document of the gallery may take, with all its content
PAGE_LIMITS = {"nielsen.en.tex": 8, "seed002.en.tex": 5, "seed003.en.tex": 10, "seed004.en.tex": 9,
               "worked.en.tex": 6}
INDEX = OUTPUT / "README.md"  # the gallery's index page, not a derivation document

if not MANIFEST.exists():

    def test_gallery_generated():
        missing(f"{MANIFEST} does not exist: the gallery has not been generated")

else:
    DOCUMENTS, MANIFEST_PROBLEMS = load_manifest(MANIFEST)
    TEX_DOCUMENTS = [document for document in DOCUMENTS if document.format == "tex"]
    MD_DOCUMENTS = [document for document in DOCUMENTS if document.format == "md"]

    def _ids(document):
        return document.path

    def test_manifest_follows_contract():
        if MANIFEST_PROBLEMS:
            pytest.fail(f"{MANIFEST}:\n" + "\n".join(f"  {p}" for p in MANIFEST_PROBLEMS),
                        pytrace=False)

    def test_listed_documents_exist():
        absent = [document.path for document in DOCUMENTS if not document.file.is_file()]
        assert not absent, f"listed in {MANIFEST.name} but not in {OUTPUT}: {absent}"

    def test_every_document_is_listed():
        # The gallery's index, output/README.md, is the one file exempt (see below).
        listed = {document.path for document in DOCUMENTS} | {INDEX.name}
        present = {
            path.relative_to(OUTPUT).as_posix()
            for pattern in ("*.md", "*.tex")
            for path in OUTPUT.rglob(pattern)
        }
        unlisted = sorted(present - listed)
        assert not unlisted, f"in {OUTPUT} but not listed in {MANIFEST.name}: {unlisted}"

    @pytest.mark.skipif(not INDEX.is_file(), reason="the gallery has no README.md index")
    def test_index_math_parses():
        """The index need not hold math; any math it holds renders on GitHub."""
        fragments = math_fragments(INDEX.read_text(encoding="utf-8"), "github")
        failures = katex_failures(fragments)
        if failures:
            pytest.fail(f"{INDEX.name}: {len(failures)} of {len(fragments)} math fragments fail "
                        f"in KaTeX:\n{describe_failures(failures)}", pytrace=False)

    @pytest.mark.parametrize("document", TEX_DOCUMENTS, ids=_ids)
    def test_tex_compiles(document):
        if not document.file.is_file():
            pytest.fail(f"{document.path} is listed but missing", pytrace=False)
        kind = "standalone" if document.standalone else "fragment"
        ok, log = compile_tex(
            document.file.read_text(encoding="utf-8"),
            document.lang,
            document.standalone,
            search_dir=document.file.parent,
            # A complete document must resolve its own references.
            references=document.standalone,
        )
        if not ok:
            pytest.fail(f"{document.path} ({kind}, {ENGINES[document.lang]}) does not build "
                        f"cleanly:\n{log}", pytrace=False)

    @pytest.mark.parametrize("document", [d for d in TEX_DOCUMENTS if d.standalone], ids=_ids)
    def test_tex_fits_its_pages(document):
        """No line or display runs into the margin, and the documents stay as short as a lecturer's notes."""
        # the same build as test_tex_compiles (one build per document and process)
        pages, overfull = tex_layout(document.file.read_text(encoding="utf-8"), document.lang,
                                     search_dir=document.file.parent)
        assert pages > 0, f"{document.path} did not build"
        assert not overfull, f"{document.path}: overfull boxes:\n" + "\n".join(overfull)
        limit = PAGE_LIMITS.get(document.path)
        assert limit is None or pages <= limit, f"{document.path}: {pages} pages, at most {limit} expected"

    def test_every_page_limit_names_a_document():
        assert set(PAGE_LIMITS) <= {document.path for document in TEX_DOCUMENTS}

    @pytest.fixture(scope="module")
    def markdown_checks():
        """Fragments, delivery errors and KaTeX failures of every Markdown document.

        marked renders all hexo and mathjax documents in one Node process, and KaTeX
        parses the fragments of the whole gallery in another.
        """
        require_node_packages()
        texts = {
            document.path: document.file.read_text(encoding="utf-8")
            for document in MD_DOCUMENTS
            if document.file.is_file()
        }
        through_marked = [d.path for d in MD_DOCUMENTS if d.flavor in HTML_FLAVORS and d.path in texts]
        rendered = dict(zip(through_marked, marked_html_many([texts[p] for p in through_marked])))
        fragments, errors = {}, {}
        for document in MD_DOCUMENTS:
            if document.path not in texts:
                continue
            try:
                fragments[document.path] = math_fragments(
                    texts[document.path], document.flavor, html_text=rendered.get(document.path)
                )
            except DeliveryError as error:
                errors[document.path] = error
        located = [(path, index, fragment)
                   for path, found in fragments.items()
                   for index, fragment in enumerate(found)]
        failures = defaultdict(list)
        for failure in katex_failures([fragment for _, _, fragment in located]):
            path, index, _ = located[failure.index]
            failures[path].append(replace(failure, index=index))
        return fragments, errors, failures

    @pytest.mark.parametrize("document", MD_DOCUMENTS, ids=_ids)
    def test_markdown_math_parses(document, markdown_checks):
        fragments, errors, failures = markdown_checks
        name = f"{document.path} ({document.flavor})"
        if not document.file.is_file():
            pytest.fail(f"{document.path} is listed but missing", pytrace=False)
        if document.path in errors:
            pytest.fail(f"{document.path}: {errors[document.path]}", pytrace=False)
        found = fragments[document.path]
        if not found:
            pytest.fail(f"{name}: no math fragment found", pytrace=False)
        if failures[document.path]:
            failed = failures[document.path]
            pytest.fail(f"{name}: {len(failed)} of {len(found)} math fragments fail in KaTeX:\n"
                        f"{describe_failures(failed)}", pytrace=False)
