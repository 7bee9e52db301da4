"""The engine's entry points run with Python's cyclic garbage collector paused, and leave it as they found it."""

import gc
import sys

import pytest

from symbackprop import cli
from symbackprop.collector import paused, without_cycle_collection
from symbackprop.model.spec import Network
from symbackprop.proof.chain import derive
from symbackprop.proof.equations import check


@pytest.fixture
def collections():
    """The symbackprop functions running (innermost first) when each collection of the test started."""
    started = []

    def seen(phase, info):
        if phase == "start":
            frame, running = sys._getframe(1), []
            while frame is not None:
                module = frame.f_globals.get("__name__", "")
                if module.startswith("symbackprop") and module != "symbackprop.collector":
                    running.append(frame.f_code.co_name)
                frame = frame.f_back
            started.append(running)

    # Python's default threshold (the suite's conftest raises it): a collection every 700 new objects
    threshold = gc.get_threshold()
    gc.set_threshold(700, 10, 10)
    gc.callbacks.append(seen)
    yield started
    gc.callbacks.remove(seen)
    gc.set_threshold(*threshold)


def test_a_pause_restores_the_collector_and_a_nested_one_leaves_it_paused():
    assert gc.isenabled()
    with paused():
        assert not gc.isenabled()
        with paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()


def test_a_collector_disabled_by_the_caller_stays_disabled():
    gc.disable()
    try:
        with paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_the_collector_is_restored_when_the_work_raises():
    @without_cycle_collection
    def fails():
        assert not gc.isenabled()
        raise ValueError("planted")

    with pytest.raises(ValueError, match="planted"):
        fails()
    assert gc.isenabled()


def test_derive_and_check_run_without_a_collection(collections):
    # 20-20-10 allocates far more than the 700 objects that start a collection of the youngest generation
    derivation = derive(Network([20, 20, 10]))
    assert check(derivation, method="inductive").ok
    assert all(running == [] for running in collections)  # the collections that ran were after the work
    gc.collect()  # the fixture sees a collection when one runs
    assert collections[-1] == []


def test_a_command_runs_without_a_collection(collections, capsys):
    assert cli.main(["derive", "--layers", "4,6,3", "--method", "inductive"]) == 0
    # the parser is built before the pause: the command itself runs without a collection
    assert not any(name.startswith("command_") for running in collections for name in running)
    assert gc.isenabled()
