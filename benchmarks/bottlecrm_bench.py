"""Benchmark the BottleCRM round trip: how long from a lead created in BottleCRM to leadscore's
rating and note on that record, and what leadscore's webhook adds to BottleCRM's own create.

A real BottleCRM (tests/bottlecrm_server.py, prepared once per machine) and a real
`leadscore serve` (a small model trained here), both on loopback, as in the round-trip test.

Figures, over --leads leads each:
- baseline, same sitting: BottleCRM's `POST /api/leads/` with no webhook registered (median);
- the same create with the webhook to leadscore (BottleCRM delivers while its request waits),
  median and the ratio to the baseline: what our webhook answer costs BottleCRM's user;
- created to scored: from sending the create until the rating and the note are readable
  through BottleCRM's API (polled every 20 ms), median and p90, against the 5 s promise.
It also prints one note as it landed on a record.

    flock /tmp/heavy.lock python benchmarks/bottlecrm_bench.py --leads 20
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from tests.bottlecrm_server import BottleCrm, running_bottlecrm, running_leadscore
from tests.serve_fixtures import API_KEY, train_small_model

PROMISE_S = 5.0
POLL_S = 0.02


def lead_body(tag: str, i: int) -> dict[str, str]:
    return {
        "first_name": f"Lead{i}",
        "last_name": tag,
        "email": f"lead{i}@{tag}.example",
        "job_title": "CTO",
        "industry": "TECHNOLOGY",
        "country": "GB",
        "status": "assigned",
    }


def timed_creates(crm: BottleCrm, tag: str, n: int) -> tuple[list[float], list[tuple[float, str]]]:
    """(create latencies, [(send time, lead id)])."""
    took, made = [], []
    with crm.api() as http:
        for i in range(n):
            sent = time.monotonic()
            answer = http.post("/api/leads/", json=lead_body(tag, i))
            took.append(time.monotonic() - sent)
            if answer.status_code != 200:
                raise SystemExit(f"create failed: HTTP {answer.status_code}: {answer.text[:300]}")
            made.append((sent, str(answer.json()["id"])))
    return took, made


def scored_after(crm: BottleCrm, sent: float, record_id: str) -> tuple[float, str]:
    with crm.api() as http:
        while True:
            doc = http.get(f"/api/leads/{record_id}/").json()
            notes = [c["comment"] for c in doc.get("comments") or []]
            note = next((n for n in notes if n.startswith("leadscore score")), None)
            if doc["lead_obj"].get("rating") and note:
                return time.monotonic() - sent, note
            if time.monotonic() - sent > 4 * PROMISE_S:
                raise SystemExit(f"lead {record_id}: no score after {4 * PROMISE_S} s")
            time.sleep(POLL_S)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--leads", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bottlecrm-bench-") as folder:
        tmp = Path(folder)
        model = train_small_model(tmp / "model.joblib", n_leads=500)
        with running_bottlecrm(tmp) as crm:
            base_took, _ = timed_creates(crm, "baseline", args.leads)
            env = {"LEADSCORE_API_KEYS": API_KEY}
            with running_leadscore(crm, tmp, model, env):
                hooked_took, made = [], []
                landed, note = [], ""
                for i in range(args.leads):  # one at a time: each lead's own latency
                    took, one = timed_creates(crm, f"hooked{i}", 1)
                    hooked_took += took
                    made += one
                    after, note = scored_after(crm, *one[0])
                    landed.append(after)
    base_ms = statistics.median(base_took) * 1000
    hooked_ms = statistics.median(hooked_took) * 1000
    landed.sort()
    p90 = landed[min(len(landed) - 1, int(0.9 * len(landed)))]
    print(f"leads per case: {args.leads}")
    print(f"BottleCRM create, no webhook (baseline): median {base_ms:.0f} ms")
    print(
        f"BottleCRM create, webhook to leadscore:  median {hooked_ms:.0f} ms "
        f"({hooked_ms / base_ms:.2f}x the baseline)"
    )
    print(
        f"created to rating + note on the record:  median {statistics.median(landed):.2f} s, "
        f"p90 {p90:.2f} s, max {landed[-1]:.2f} s (promise: {PROMISE_S:.0f} s)"
    )
    print("a note as it landed:")
    print("  " + note.replace("\n", "\n  "))


if __name__ == "__main__":
    main()
