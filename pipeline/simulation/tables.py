"""Arrow tables in the raw data contract (docs/CONTRACTS.md), made from a chunk's integer codes.

Strings are only materialised here, by `take` from small vocabularies, so memory stays with the
codes until the moment of writing. Timestamps are microseconds, tz UTC.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pipeline.simulation import world
from pipeline.simulation.calendar import Calendar
from pipeline.simulation.events import Events
from pipeline.simulation.funnel import NEVER, FunnelTimes
from pipeline.simulation.leads import Leads, Vocabulary

UTC_TS = pa.timestamp("us", tz="UTC")
LEAD_ID_DIGITS = 7


def strings(codes: np.ndarray, vocabulary: tuple[str, ...] | pa.Array) -> pa.Array:
    """Codes -> strings; code -1 -> null."""
    indices = pa.array(codes.astype(np.int32), mask=codes < 0)
    return pc.take(pa.array(vocabulary, type=pa.string()), indices)


def timestamps(seconds: np.ndarray, calendar: Calendar) -> pa.Array:
    return pa.array((seconds.astype(np.int64) + calendar.epoch_s) * 1_000_000, type=UTC_TS)


def lead_ids(first_index: int, n: int, n_total: int) -> pa.Array:
    """'L0000001', ... numbered in creation order, zero-padded to a common width."""
    width = max(LEAD_ID_DIGITS, len(str(n_total)))
    numbers = pa.array(np.arange(first_index + 1, first_index + n + 1)).cast(pa.string())
    return pc.binary_join_element_wise("L", pc.utf8_lpad(numbers, width, padding="0"), "")


def leads_table(leads: Leads, ids: pa.Array, vocab: Vocabulary, calendar: Calendar) -> pa.Table:
    size = leads.company_size
    return pa.table(
        {
            "lead_id": ids,
            "created_at": timestamps(leads.created_s, calendar),
            "channel": strings(leads.channel, vocab.channels),
            "company_size": pa.array(size, type=pa.int64(), mask=size < 0),
            "industry": strings(leads.industry, vocab.industries),
            "job_role": strings(leads.role, vocab.roles),
            "country": strings(leads.country, vocab.countries),
            "email_domain": strings(leads.email_domain, vocab.domains),
            "company": strings(company_codes(leads.email_domain, vocab), company_names(vocab)),
        }
    )


COMPANY_FORMS = {"de": "GmbH", "at": "GmbH", "ch": "AG", "co.uk": "Ltd", "fr": "SAS", "nl": "B.V."}


def company_names(vocab: Vocabulary) -> tuple[str, ...]:
    """The company behind each corporate domain, in the domains' order ("nordlabs.de" ->
    "Nord Labs GmbH"): derived, not drawn, so the simulator's random streams (and with them
    the training table) are exactly as before the column existed."""
    first, last = vocab.domain_groups["corporate"]
    names = []
    words = {f"{a}{b}": (a, b) for a in world.COMPANY_WORDS for b in world.COMPANY_SUFFIXES}
    for domain in vocab.domains[first:last]:
        stem, _, tld = domain.partition(".")
        a, b = words[stem]
        form = COMPANY_FORMS.get(tld, "Inc.")
        names.append(f"{a.title()} {b.title()} {form}")
    return tuple(names)


def company_codes(domains: np.ndarray, vocab: Vocabulary) -> np.ndarray:
    """Index into company_names for leads with a corporate e-mail domain, -1 (no company
    known: free mail, students, competitors' own domains) otherwise."""
    first, last = vocab.domain_groups["corporate"]
    corporate = (domains >= first) & (domains < last)
    return np.where(corporate, domains - first, -1)


def events_table(events: Events, ids: pa.Array, calendar: Calendar) -> pa.Table:
    return pa.table(
        {
            "lead_id": pc.take(ids, pa.array(events.row)),
            "ts": timestamps(events.ts, calendar),
            "event_type": strings(events.event_type, world.EVENT_TYPES),
            "content_topic": strings(events.topic, world.TOPICS),
        }
    )


def stage_rows(funnel: FunnelTimes, end_s: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(row, stage code, ts) of every stage reached inside the history, by lead and time."""
    s = world.STAGE
    parts = (
        (funnel.mql_s, s["mql"]),
        (funnel.contact_s, s["contacted"]),
        (funnel.sql_s, s["sql"]),
        (funnel.sql_dq_s, s["disqualified"]),
        (funnel.opportunity_s, s["opportunity"]),
        (funnel.customer_s, s["customer"]),
        (funnel.lost_s, s["disqualified"]),
    )
    rows, codes, times = [], [], []
    for ts, code in parts:
        hit = np.flatnonzero((ts != NEVER) & (ts < end_s))
        rows.append(hit)
        codes.append(np.full(len(hit), code, dtype=np.int8))
        times.append(ts[hit])
    row, code, ts = (np.concatenate(a) for a in (rows, codes, times))
    order = np.lexsort((code, ts, row))
    return row[order], code[order], ts[order]


def stages_table(funnel: FunnelTimes, ids: pa.Array, calendar: Calendar) -> pa.Table:
    row, code, ts = stage_rows(funnel, calendar.n_days * world.SECONDS_PER_DAY)
    deal = np.where(code == world.STAGE["customer"], funnel.deal_value_eur[row], np.nan)
    return pa.table(
        {
            "lead_id": pc.take(ids, pa.array(row)),
            "stage": strings(code, world.STAGES),
            "ts": timestamps(ts, calendar),
            "deal_value_eur": pa.array(deal, type=pa.float64(), from_pandas=True),
        }
    )


def truth_table(
    row: np.ndarray, snapshot: np.ndarray, p: np.ndarray, ids: pa.Array, calendar: Calendar
) -> pa.Table:
    snapshot_s = calendar.snapshot_days.astype(np.int64)[snapshot] * world.SECONDS_PER_DAY
    return pa.table(
        {
            "lead_id": pc.take(ids, pa.array(row)),
            "snapshot": timestamps(snapshot_s, calendar),
            "p_true": pa.array(p, type=pa.float64()),
        }
    )
