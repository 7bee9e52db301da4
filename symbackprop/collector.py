"""Python's cyclic garbage collector, paused while the engine builds and compares expressions.

SymPy expressions are trees without reference cycles: reference counting frees them, and the cyclic
collector never finds one of them to free. It still walks every object it tracks each time enough new
objects have piled up, and a derivation keeps hundreds of thousands of them alive, so each walk costs
more than the last: on a 784-300-100-10 network the walks took a fifth of derive + check, and made the
time per parameter grow with the network. The engine's entry points run with the collector paused
(:func:`paused`) and leave it as they found it; a cycle made meanwhile, if any, is freed by the first
collection after it resumes. A paused run is not slower to free memory: what reference counting frees,
it frees at once.
"""

from __future__ import annotations

import contextlib
import functools
import gc


@contextlib.contextmanager
def paused():
    """The cyclic collector disabled inside the block, and enabled again after it if it was enabled before
    (a nested pause, or a caller that disabled it, is left alone)."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def without_cycle_collection(function):
    """``function`` run inside :func:`paused` (for functions that return a value, not generators)."""

    @functools.wraps(function)
    def run(*args, **kwargs):
        with paused():
            return function(*args, **kwargs)

    return run
