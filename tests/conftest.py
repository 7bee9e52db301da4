"""Shared helpers for the test suite, and how its processes treat the garbage collector."""

import gc

import sympy as sp


# A worker of the suite keeps what its files built (fixtures' derivations, parse trees, SymPy's caches) alive
# until the file is done, and Python's cyclic collector walks all of it again at each full collection: several
# seconds per worker. What the collection and each finished file left is moved out of the collector's sight
# (gc.freeze); reference counting still frees it when the last reference goes. The engine pauses the collector
# itself while it works (symbackprop/collector.py).
#
# The tests also make a great many small objects between the engine's calls, and a young collection every 700
# of them (Python's default) found little to free: in one suite run the two workers spent 4.5 s of CPU in 8,500
# collections. A collection every 100,000 objects brings that to 2.1 s in 50; cycles are still freed, later.
gc.set_threshold(100_000, 10, 10)


def pytest_collection_finish(session):
    gc.freeze()


def pytest_runtest_teardown(item, nextitem):
    if nextitem is None or nextitem.path != item.path:
        gc.freeze()


def same(left, right) -> bool:
    """Symbolic equality the SymPy way: the difference simplifies to 0."""
    difference = sp.expand(left - right)
    return difference == 0 or sp.simplify(difference) == 0
