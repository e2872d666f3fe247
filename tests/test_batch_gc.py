"""The batch commands' collector settings: survivors frozen inside, state restored after."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from foundation.batch_gc import batch_gc


@pytest.fixture(autouse=True)
def nothing_frozen() -> Iterator[None]:
    """batch_gc leaves a heap someone else froze alone (the service freezes its own at start-up,
    and so does a test of it): these tests start from a heap with nothing frozen, whatever ran
    before them, and give back the frozen state they found."""
    was_frozen = gc.get_freeze_count() > 0
    gc.unfreeze()
    yield
    if was_frozen:
        gc.freeze()


class Node:
    def __init__(self) -> None:
        self.me = self  # a reference cycle: only the cyclic collector frees it


def test_survivors_of_a_full_collection_are_skipped_later() -> None:
    with batch_gc():
        gc.collect()
        assert gc.get_freeze_count() > 0
    assert gc.get_freeze_count() == 0


def test_garbage_made_after_the_freeze_is_still_collected() -> None:
    with batch_gc():
        gc.collect()
        ref = weakref.ref(Node())
        gc.collect()
        assert ref() is None


def test_state_is_restored_when_the_command_fails() -> None:
    try:
        with batch_gc():
            gc.collect()
            raise RuntimeError("stage failed")
    except RuntimeError:
        pass
    assert gc.get_freeze_count() == 0
    assert all(callback.__module__ != "foundation.batch_gc" for callback in gc.callbacks)


def test_a_heap_frozen_by_someone_else_is_left_as_it_was() -> None:
    gc.freeze()
    frozen = gc.get_freeze_count()
    with batch_gc():
        assert all(callback.__module__ != "foundation.batch_gc" for callback in gc.callbacks)
    assert gc.get_freeze_count() >= frozen
