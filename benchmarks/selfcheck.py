"""The benchmark of the self-check: ``python -m benchmarks.selfcheck``.

It measures ``symbackprop check-doc`` on ``output/nielsen.en.md`` with that document's
own network, from a new process each run, and the self-check of the whole gallery: every
document of ``output/manifest.json`` read by :func:`~symbackprop.claims.verdicts.check_document`
with its own network and notation (:func:`~symbackprop.examples.document_options`), the
documents of one derivation sharing their verdicts, from an empty SymPy cache each run.
It prints medians with the machine's core count, and the counts of the last run.

Performance is measured here, never asserted by timed tests.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from sympy.core.cache import clear_cache

from symbackprop.claims.verdicts import check_document
from symbackprop.claims.layered import check_layered_document
from symbackprop.examples import document_options, layered_network
from symbackprop.proof.layered import derive_layered
from symbackprop.proof.chain import derive

OUTPUT = Path(__file__).resolve().parent.parent / "output"
NIELSEN = ["check-doc", "--layers", "2,3,2", "--activation", "generic", "--cost", "quadratic", "--mean"]


def check_doc_nielsen() -> float:
    """Seconds for ``symbackprop check-doc`` on output/nielsen.en.md, from a new process."""
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "symbackprop", *NIELSEN, str(OUTPUT / "nielsen.en.md")],
                          capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"check-doc on nielsen.en.md exited {done.returncode}:\n{done.stdout[-2000:]}")
    return elapsed


def gallery_self_check() -> tuple[float, Counter]:
    """Seconds to check every gallery document, and how many claims of each status were found."""
    clear_cache()
    documents = json.loads((OUTPUT / "manifest.json").read_text(encoding="utf-8"))["documents"]
    shared, counts = {}, Counter()
    start = time.perf_counter()
    for entry in documents:
        layered = layered_network(entry["example"])
        if layered is not None:  # a network of [[layer]] entries: its own reader of claims
            if entry["example"] not in shared:
                shared[entry["example"]] = (derive_layered(layered), {})
            text = (OUTPUT / entry["path"]).read_text(encoding="utf-8")
            results = check_layered_document(text, entry["format"], layered, derivation=shared[entry["example"]][0])
            counts.update(r.status for r in results)
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
    return time.perf_counter() - start, counts


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.selfcheck",
                                     description="Time check-doc on the gallery.")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each measurement (the median is printed)")
    args = parser.parse_args(argv)
    print(f"check-doc on the gallery, median of {args.repeat} runs, {os.cpu_count()} cores, "
          f"Python {sys.version.split()[0]}")
    single = statistics.median(check_doc_nielsen() for _ in range(args.repeat))
    print(f"check-doc output/nielsen.en.md (new process): {single:.2f} s", flush=True)
    runs = [gallery_self_check() for _ in range(args.repeat)]
    total = statistics.median(seconds for seconds, _ in runs)
    counts = runs[-1][1]
    read = [e for e in json.loads((OUTPUT / "manifest.json").read_text())["documents"]
            if document_options(e["example"]) is not None or layered_network(e["example"]) is not None]
    print(f"self-check of the whole gallery ({len(read)} documents): {total:.2f} s; " + ", ".join(f"{counts[s]} {s}" for s in
                                                    ("correct", "incorrect", "undecided", "unreadable", "skipped")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
