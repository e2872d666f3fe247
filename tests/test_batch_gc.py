"""The batch commands' collector settings: survivors frozen inside, state restored after."""

from __future__ import annotations

import gc
import weakref

from foundation.batch_gc import batch_gc


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
