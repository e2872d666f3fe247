"""Failed authentication is throttled: per client address and per presented key.

1,000 wrong API keys went through at 2,293 per second, each a plain 401: nothing slowed a
guesser down. Now each failure (a /v1 request with an unknown key, a refused sign-in) is
counted in a sliding window (`auth_failure_window_s`) per client address and per key
presented (its SHA-256, never the key); past `auth_failures_per_window` failures the address
(or key) gets 429 with Retry-After until its oldest failure in the window ages out, before the
key is even checked. Successes are not counted. The limiter holds at most `MAX_TRACKED`
addresses and keys (the least recently failed are forgotten first), so a flood of addresses
cannot grow it without bound. One process, one limiter: with several workers each counts its
own (document the per-worker figure to the team).
"""

from __future__ import annotations

import hashlib
import math
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable

MAX_TRACKED = 10_000


class FailureThrottle:
    """Sliding-window failure counts per subject (`addr:<ip>`, `key:<sha256>`)."""

    def __init__(
        self,
        limit: int,
        window_s: float,
        clock: Callable[[], float] = time.monotonic,
        max_tracked: int = MAX_TRACKED,
    ) -> None:
        self.limit = limit
        self.window_s = window_s
        self._clock = clock
        self._max_tracked = max_tracked
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    @staticmethod
    def subjects(address: str | None, key: bytes | str | None) -> list[str]:
        out = [f"addr:{address or '?'}"]
        if key:
            raw = key.encode() if isinstance(key, str) else key
            out.append(f"key:{hashlib.sha256(raw).hexdigest()}")
        return out

    def retry_after_s(self, subjects: list[str]) -> int | None:
        """Seconds to wait when any subject is over its limit, else None."""
        now = self._clock()
        wait = 0.0
        with self._lock:
            for subject in subjects:
                times = self._failures.get(subject)
                if times is None:
                    continue
                self._expire(times, now)
                if len(times) >= self.limit:
                    wait = max(wait, times[0] + self.window_s - now)
        return max(1, math.ceil(wait)) if wait > 0 else None

    def record_failure(self, subjects: list[str]) -> None:
        now = self._clock()
        with self._lock:
            for subject in subjects:
                times = self._failures.pop(subject, None) or deque()
                self._expire(times, now)
                times.append(now)
                self._failures[subject] = times  # most recent last
            while len(self._failures) > self._max_tracked:
                self._failures.popitem(last=False)

    def _expire(self, times: deque[float], now: float) -> None:
        while times and times[0] <= now - self.window_s:
            times.popleft()
