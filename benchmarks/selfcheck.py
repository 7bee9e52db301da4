"""The benchmark of the self-check: ``python -m benchmarks.selfcheck``.

It measures ``symbackprop check-doc`` on ``output/nielsen.en.md`` with that document's
own network, from a new process each run, and the self-check of the whole gallery: every
document of ``output/manifest.json`` read by :func:`~symbackprop.claims.verdicts.check_document`
with its own network and notation (:func:`~symbackprop.examples.document_options`), the
documents of one derivation sharing their verdicts, each run starting as a new process would
(:func:`benchmarks.timing.as_new_process`).
It prints medians (wall clock and CPU time) with the machine's core count, and the counts of the last run.

Performance is measured here, never asserted by timed tests.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path


from benchmarks.timing import Timing, as_new_process, machine, measure, measure_process
from symbackprop.claims.verdicts import check_document
from symbackprop.claims.layered import check_layered_document
from symbackprop.examples import document_options, layered_network
from symbackprop.proof.layered import derive_layered
from symbackprop.proof.chain import derive

OUTPUT = Path(__file__).resolve().parent.parent / "output"
NIELSEN = ["check-doc", "--layers", "2,3,2", "--activation", "generic", "--cost", "quadratic", "--mean"]


def check_doc_nielsen(repeat: int) -> Timing:
    """``symbackprop check-doc`` on output/nielsen.en.md, each run from a new process."""
    return measure_process([sys.executable, "-m", "symbackprop", *NIELSEN, str(OUTPUT / "nielsen.en.md")], repeat)


def gallery_self_check() -> tuple[Counter, list]:
    """Check every gallery document once, as a new process would (see :func:`benchmarks.timing.as_new_process`);
    the count of claims of each status."""
    as_new_process()
    documents = json.loads((OUTPUT / "manifest.json").read_text(encoding="utf-8"))["documents"]
    shared, counts = {}, Counter()
    read = []
    for entry in documents:
        layered = layered_network(entry["example"])
        if layered is not None:  # a network of [[layer]] entries: its own reader of claims
            if entry["example"] not in shared:
                shared[entry["example"]] = (derive_layered(layered), {})
            text = (OUTPUT / entry["path"]).read_text(encoding="utf-8")
            results = check_layered_document(text, entry["format"], layered, derivation=shared[entry["example"]][0])
            counts.update(r.status for r in results)
            read.append(entry["path"])
            continue
        if document_options(entry["example"]) is None:  # not read by check-doc (examples.NOT_SELF_CHECKED)
            continue
        network, notation, star = document_options(entry["example"])
        if entry["example"] not in shared:
            shared[entry["example"]] = (derive(network), {})
        derivation, decided = shared[entry["example"]]
        text = (OUTPUT / entry["path"]).read_text(encoding="utf-8")
        results = check_document(text, entry["format"], network, notation, derivation=derivation, star=star,
                                 decided=decided)
        counts.update(r.status for r in results)
        read.append(entry["path"])
    return counts, read


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.selfcheck",
                                     description="Time check-doc on the gallery.")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each measurement (the median is printed)")
    args = parser.parse_args(argv)
    print(f"check-doc on the gallery: {machine(args.repeat)}")
    print(f"check-doc output/nielsen.en.md (new process): {check_doc_nielsen(args.repeat)}", flush=True)
    last = []
    timing = measure(lambda: last.append(gallery_self_check()), args.repeat)
    counts, read = last[-1]
    print(f"self-check of the whole gallery ({len(read)} documents): {timing}; "
          + ", ".join(f"{counts[s]} {s}" for s in ("correct", "incorrect", "undecided", "unreadable", "skipped")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
