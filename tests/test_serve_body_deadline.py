"""One timer per loop for the body deadlines: it times out exactly the requests whose deadline
passed while they waited, and lets every other cancellation through.

The whole path (a slow body gets 408 and the connection closes) runs against a real server in
tests/test_serve_http_hostile.py."""

from __future__ import annotations

import asyncio

import pytest

from serve.body_deadline import BodyDeadlines, LoopDeadlines


async def wait_for_body(deadlines: LoopDeadlines, body: asyncio.Future, within_s: float) -> object:
    try:
        return await deadlines.wait(body, asyncio.get_running_loop().time() + within_s)
    except TimeoutError as exc:
        return exc


def test_only_the_request_past_its_deadline_times_out() -> None:
    async def scenario() -> tuple[object, object, object]:
        loop = asyncio.get_running_loop()
        deadlines = BodyDeadlines().of(loop)
        slow, fast, late = loop.create_future(), loop.create_future(), loop.create_future()
        tasks = [
            asyncio.create_task(wait_for_body(deadlines, slow, 0.05)),
            asyncio.create_task(wait_for_body(deadlines, fast, 5.0)),
            asyncio.create_task(wait_for_body(deadlines, late, 0.3)),
        ]
        await asyncio.sleep(0.15)  # the first deadline has passed, the others not
        fast.set_result("fast body")
        await asyncio.sleep(0.3)  # and now the third's
        return tuple(await asyncio.gather(*tasks))

    slow, fast, late = asyncio.run(scenario())
    assert isinstance(slow, TimeoutError)
    assert fast == "fast body"
    assert isinstance(late, TimeoutError)


def test_another_cancellation_goes_through_untouched() -> None:
    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        deadlines = BodyDeadlines().of(loop)
        task = asyncio.create_task(wait_for_body(deadlines, loop.create_future(), 5.0))
        await asyncio.sleep(0.01)
        task.cancel()  # a client gone, a server stopping: not a timeout
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(scenario())


def test_each_loop_keeps_its_own_deadlines() -> None:
    shared = BodyDeadlines()

    async def one_request() -> object:
        deadlines = shared.of(asyncio.get_running_loop())
        return await wait_for_body(deadlines, asyncio.get_running_loop().create_future(), 0.05)

    # Two apps' loops one after the other (as the tests' servers): the second is not confused
    # by the first's closed loop or its timer.
    assert isinstance(asyncio.run(one_request()), TimeoutError)
    assert isinstance(asyncio.run(one_request()), TimeoutError)
