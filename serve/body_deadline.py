"""Every request's body deadline on one timer per event loop.

Why not `asyncio.timeout_at` around each `receive()`: it creates and cancels a timer handle per
call, which under uvloop cost about 20 us a request, measured on one worker with a feature row
(`serve_bench.py`): 3,301 req/s with it, 3,503 without. Here a request waiting for its body is
one entry in a dict, and a single timer, set for the earliest deadline, cancels the tasks whose
deadline has passed; the waiting request turns that cancellation into its timeout.

A task is in the dict only while it is suspended in `receive()`, so a cancellation from here
can only land there (the loop runs one thing at a time); any other cancellation (a client gone,
a server shutting down) goes through untouched.
"""

from __future__ import annotations

import asyncio
import math
import weakref
from collections.abc import Awaitable
from typing import TypeVar

T = TypeVar("T")


class LoopDeadlines:
    """The requests of one event loop waiting for body bytes, and the one timer for them."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._waiting: dict[asyncio.Task, float] = {}
        self._expired: set[asyncio.Task] = set()
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = math.inf

    async def wait(self, awaitable: Awaitable[T], deadline: float) -> T:
        """`awaitable`'s result, or TimeoutError once `deadline` (the loop's clock) has passed."""
        if self._loop.time() >= deadline:
            if asyncio.iscoroutine(awaitable):
                awaitable.close()  # never started: no "was never awaited" warning
            raise TimeoutError
        task = asyncio.current_task()
        assert task is not None  # an ASGI app runs in a task
        self._waiting[task] = deadline
        if deadline < self._timer_at:
            self._arm(deadline)
        try:
            return await awaitable
        except asyncio.CancelledError:
            if task in self._expired:  # cancelled here, by the deadline: not by anyone else
                task.uncancel()
                raise TimeoutError from None
            raise
        finally:
            self._waiting.pop(task, None)
            self._expired.discard(task)

    def _arm(self, when: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer_at = when
        self._timer = self._loop.call_at(when, self._expire)

    def _expire(self) -> None:
        self._timer, self._timer_at = None, math.inf
        now = self._loop.time()
        for task, deadline in list(self._waiting.items()):
            if deadline <= now:
                del self._waiting[task]
                self._expired.add(task)
                task.cancel()
        if self._waiting:
            self._arm(min(self._waiting.values()))


class BodyDeadlines:
    """`LoopDeadlines` per running loop (tests run several apps, each on its own loop)."""

    def __init__(self) -> None:
        self._loops: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, LoopDeadlines] = (
            weakref.WeakKeyDictionary()
        )

    def of(self, loop: asyncio.AbstractEventLoop) -> LoopDeadlines:
        deadlines = self._loops.get(loop)
        if deadlines is None:
            deadlines = self._loops[loop] = LoopDeadlines(loop)
        return deadlines
