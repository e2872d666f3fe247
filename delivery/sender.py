"""Send the outbox's pending hand-offs to the webhook: at least once, never dropped, and no one
item able to hold up the others.

Order of events per item: claim it (its next_attempt_at moves to the end of a lease, so a second
sender running at the same time skips it), POST, record the answer. The lease is renewed before
every attempt and is longer than one POST can last (`request_deadline_s` bounds the whole
request: delivery/bounded_post.py), so no item is ever in flight from two senders. A crash
between POST and record leaves the item pending; once the lease ends it is sent again with the
SAME Idempotency-Key: receivers must deduplicate on that key (docs/operator.md "Delivery
(webhook)", docs/robustness.md). That is the price of never losing one.

Answers:
- 2xx: acknowledged; the item is delivered and never sent again.
- 408, 425, 429, 5xx, timeouts, connection errors: transient. Retried within the run
  (`attempts_per_run`, waiting backoff_base_s x 2^(n-1), capped, or the receiver's Retry-After);
  then left pending with `next_attempt_at` (retry_base_s x 2^(runs-1), or the Retry-After, both
  capped at retry_cap_s). The run then stops sending (the receiver is down; the rest wait).
- any other answer (4xx, 3xx): failed-permanent, with the status and the start of the body in
  `last_error`; it stays in the outbox, and `leadscore deliver --retry-failed` re-queues it once
  the receiver is fixed.
- an item that cannot be sent at all (its body or key cannot be encoded, the request cannot be
  built): failed-permanent with the reason, without a request; the others go on.

Items never tried come before items that failed before (then oldest first): one item the
receiver keeps failing on no longer stops the next days' hand-offs behind it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import httpx2 as httpx

from delivery.bounded_post import post_within, retry_after_s
from delivery.keys import header_key
from delivery.outbox import Outbox
from delivery.settings import SECRET_ENV
from delivery.signature_formats import check_secret, delivery_headers
from foundation.params import DeliveryParams
from store import OutboxItem, Store
from store.schema import dumps

EVENT = "leadscore.handoff"
# The real-time path's returning-prospect alerts (ingest/rescore.py) share the outbox; their key
# says what they are, and the body names them so a receiver routes them without parsing keys.
RETURNING_EVENT = "leadscore.returning"
RETURNING_KEY_PREFIX = "live-returning:"
TRANSIENT_STATUSES = frozenset({408, 425, 429})
_ERROR_BODY_CHARS = 300


@dataclass
class DeliveryReport:
    """What one delivery run did."""

    delivered: int = 0
    failed_permanent: int = 0
    retry_later: int = 0  # tried, still failing: pending with a next_attempt_at
    not_tried: int = 0  # pending, left for the next run because the receiver was down
    skipped: int = 0  # due, but another sender running at the same time took it
    attempts: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def pending(self) -> int:
        return self.retry_later + self.not_tried


@dataclass(frozen=True)
class _Outcome:
    ok: bool
    permanent: bool = False
    error: str | None = None
    retry_after_s: float | None = None


def envelope(item: OutboxItem) -> bytes:
    """The request body for one hand-off: the idempotency key, run date and lead id next to the
    hand-off record itself (the bytes that are signed); a returning alert carries its record
    under `returning` instead."""
    if item.key.startswith(RETURNING_KEY_PREFIX):
        return dumps(
            {
                "event": RETURNING_EVENT,
                "idempotency_key": item.key,
                "run_date": item.run_date.isoformat(),
                "lead_id": item.lead_id,
                "returning": item.payload,
            }
        ).encode()
    return dumps(
        {
            "event": EVENT,
            "idempotency_key": item.key,
            "run_date": item.run_date.isoformat(),
            "lead_id": item.lead_id,
            "handoff": item.payload,
        }
    ).encode()


def deliver_pending(
    store: Store,
    url: str,
    secret: str,
    now: datetime | None = None,
    *,
    policy: DeliveryParams | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> DeliveryReport:
    """Send every outbox item due at `now` (default: the clock) and record each answer.

    `now` anchors the run: items due at `now` are sent and the recorded times are `now` plus
    the time elapsed since the call. Returns counts; never raises for a receiver's failure
    (a secret that cannot sign in `policy.signature_format` is a ConfigError before any request).
    """
    policy = policy or DeliveryParams()
    check_secret(policy.signature_format, secret, SECRET_ENV)
    started = time.monotonic()
    anchor = datetime.now(UTC) if now is None else now.astimezone(UTC)

    def clock() -> datetime:
        return anchor + timedelta(seconds=time.monotonic() - started)

    report = DeliveryReport()
    items = Outbox(store).pending(anchor)
    with httpx.Client(
        timeout=policy.timeout_s,
        follow_redirects=False,
        headers={"User-Agent": "leadscore-webhook/1"},
        # One connection per POST: the deadline's watchdog shuts exactly this request's socket.
        limits=httpx.Limits(max_keepalive_connections=0),
    ) as client:
        for index, item in enumerate(items):
            lease = clock() + timedelta(seconds=_lease_s(policy))
            if not Outbox(store).claim(item.key, anchor, lease):
                report.skipped += 1  # another sender has it (or finished it) meanwhile
                continue
            delivered_or_final = _deliver_one(
                client, store, item, url, secret, policy, clock, sleep, report
            )
            if not delivered_or_final:
                report.not_tried = len(items) - index - 1
                break
    return report


def _lease_s(policy: DeliveryParams) -> float:
    """How long a sender holds an item from one attempt on: that POST's deadline, the wait
    before the next one, and a margin. Renewed before every attempt, so it always outlasts the
    POST in flight; a sender that crashes holding one delays that item by at most this much."""
    return policy.request_deadline_s + policy.backoff_cap_s + policy.lease_margin_s


def _deliver_one(
    client: httpx.Client,
    store: Store,
    item: OutboxItem,
    url: str,
    secret: str,
    policy: DeliveryParams,
    clock: Callable[[], datetime],
    sleep: Callable[[float], None],
    report: DeliveryReport,
) -> bool:
    """Try one item up to attempts_per_run times. False when it is still failing (transient)."""
    try:
        body = envelope(item)
        header = header_key(item.key)
        delivery_headers(policy.signature_format, secret, body, header)
    except (TypeError, ValueError) as exc:  # orjson's and the codecs' errors are ValueErrors
        # No request can carry it; retrying cannot help, and it must not hold the others up.
        error = f"cannot be sent: {type(exc).__name__}: {exc}"[:_ERROR_BODY_CHARS]
        Outbox(store).mark_attempt(item.key, ok=False, error=error, now=clock(), permanent=True)
        report.failed_permanent += 1
        report.errors.append(f"{item.key!r}: {error}")
        return True
    for attempt in range(1, policy.attempts_per_run + 1):
        outcome = _post(client, url, body, secret, header, policy)
        report.attempts += 1
        if outcome.ok:
            Outbox(store).mark_attempt(item.key, ok=True, error=None, now=clock())
            report.delivered += 1
            return True
        if outcome.permanent:
            Outbox(store).mark_attempt(
                item.key, ok=False, error=outcome.error, now=clock(), permanent=True
            )
            report.failed_permanent += 1
            report.errors.append(f"{item.key!r}: {outcome.error}")
            return True
        if attempt < policy.attempts_per_run:
            wait = _backoff(attempt, policy.backoff_base_s, policy.backoff_cap_s)
            if outcome.retry_after_s is not None:
                wait = min(max(wait, outcome.retry_after_s), policy.backoff_cap_s)
            # Recorded before waiting, with the lease renewed to cover the wait and the next
            # POST: a crash during the wait leaves an honest attempt count, and no other
            # sender takes the item while this one may still send it.
            Outbox(store).mark_attempt(
                item.key,
                ok=False,
                error=outcome.error,
                now=clock(),
                next_attempt_at=clock() + timedelta(seconds=wait + _lease_s(policy)),
            )
            sleep(wait)
            continue
        runs_failed = (item.attempts + attempt) // policy.attempts_per_run
        later = _backoff(max(runs_failed, 1), policy.retry_base_s, policy.retry_cap_s)
        if outcome.retry_after_s is not None:
            later = max(later, outcome.retry_after_s)
        Outbox(store).mark_attempt(
            item.key,
            ok=False,
            error=outcome.error,
            now=clock(),
            next_attempt_at=clock() + timedelta(seconds=later),
        )
        report.retry_later += 1
        report.errors.append(f"{item.key!r}: {outcome.error}")
    return False


def _post(
    client: httpx.Client, url: str, body: bytes, secret: str, key: str, policy: DeliveryParams
) -> _Outcome:
    headers = delivery_headers(policy.signature_format, secret, body, key)  # fresh timestamp
    answer = post_within(
        client,
        url,
        body,
        headers,
        deadline_s=policy.request_deadline_s,
        max_body_bytes=policy.max_response_bytes,
    )
    if answer.status is None:
        return _Outcome(ok=False, error=answer.error)
    status = answer.status
    if 200 <= status < 300:
        return _Outcome(ok=True)
    text = answer.head.decode("utf-8", "replace")[:_ERROR_BODY_CHARS].strip()
    error = f"HTTP {status}" + (f": {text}" if text else "")
    if status >= 500 or status in TRANSIENT_STATUSES:
        wait = retry_after_s(answer.headers, policy.retry_cap_s)
        return _Outcome(ok=False, error=error, retry_after_s=wait)
    if 300 <= status < 400:
        location = answer.headers.get("location", "?") if answer.headers is not None else "?"
        error += f" (redirect to {location}: configure that URL)"
    return _Outcome(ok=False, permanent=True, error=error)


def _backoff(n: int, base: float, cap: float) -> float:
    """base x 2^(n-1), capped: 1, 2, 4, ... (no jitter: one sender, not a thundering herd)."""
    return float(min(cap, base * 2 ** max(n - 1, 0)))
