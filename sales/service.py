"""The desk at the store's edge: read the handed-over leads and their actions, act, and the
desk's own step (CRM touches in, owners for new hand-offs, reassignment, recycling the leads
out of attempts). Every write is an appended action (store/actions.py): who, when, why."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pandas as pd

from sales.actions import (
    ASSIGNED,
    CLOSED,
    CONTACTED,
    DESK,
    REASSIGNED,
    RECYCLED,
    ActionRequest,
    check_action,
    to_action,
)
from sales.owners import assign_owners
from sales.reassignment import reassignments
from sales.worklist import board
from sla.sales_desk import SalesDesk
from store.actions import LeadAction, handed_over_leads, lead_actions, record_action, record_actions
from store.records import Store

SALES_TOUCH_STAGES = ("contacted", "sql", "opportunity", "customer")  # as sla.report's
SQL_STAGES = ("sql", "opportunity", "customer")
ACCEPTED = "accepted_sql"  # the desk's own close reason: the CRM shows the lead as SQL or beyond
CRM = "crm"


class NotHandedOver(LookupError):
    """An action on a lead leadscore never handed over: there is nothing to work."""


def _payload(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def handed_frame(store: Store, desk: SalesDesk) -> pd.DataFrame:
    """Handed-over leads with the band the cadence reads (tier, or the grade's fit letter) and
    the hand-off's channel, persona, country and score."""
    handed = handed_over_leads(store)
    payloads = [_payload(p) for p in handed["payload"]]

    def band(p: dict[str, Any]) -> Any:
        if desk.cadence.by == "tier":
            return p.get("tier")
        grade = p.get("grade")
        return str(grade)[0] if grade else None

    return handed.drop(columns=["payload"]).assign(
        band=[band(p) for p in payloads],
        channel=[p.get("channel") for p in payloads],
        persona=[p.get("persona") for p in payloads],
        country=[p.get("country") for p in payloads],
        score=[p.get("score") for p in payloads],
    )


def desk_board(store: Store, desk: SalesDesk, at: datetime) -> pd.DataFrame:
    """The board at `at` (sales/worklist.py) with the hand-off's channel, persona, score."""
    handed = handed_frame(store, desk)
    actions = lead_actions(store, until=at)
    out = board(handed, actions, desk, at)
    extra = handed.set_index(handed["lead_id"].astype(str))
    for column in ("channel", "persona", "score", "run_date"):
        out[column] = out["lead_id"].map(extra[column]) if len(out) else []
    return out


def act(
    store: Store, desk: SalesDesk, lead_id: str, request: ActionRequest, at: datetime, source: str
) -> LeadAction:
    """Record a rep's action on a handed-over lead (NotHandedOver, ActionRefused otherwise)."""
    check_action(request, desk.reps(), at)
    handed = handed_over_leads(store)
    if str(lead_id) not in set(handed["lead_id"].astype(str)):
        raise NotHandedOver(f"lead {lead_id!r} was never handed over: there is nothing to work")
    return record_action(store, to_action(request, lead_id, at, source))


def import_crm_touches(store: Store, stages: pd.DataFrame, at: datetime) -> int:
    """The CRM's sales touches (stage history) after each lead's hand-off and at or before
    `at`, as `contacted` actions (source crm): they count as attempts the same as a rep's.
    Idempotent: a touch already imported (same lead and time) is not added again."""
    handed = handed_over_leads(store)
    if not len(handed) or not len(stages):
        return 0
    st = stages.assign(
        ts=pd.to_datetime(stages["ts"], utc=True), lead_id=stages["lead_id"].astype(str)
    )
    st = st[st["stage"].isin(SALES_TOUCH_STAGES) & (st["ts"] <= pd.Timestamp(at))]
    st = st.merge(handed[["lead_id", "handed_at"]], on="lead_id")
    st = st[st["ts"] >= st["handed_at"]]
    if not len(st):
        return 0
    known = lead_actions(store, st["lead_id"].unique().tolist())
    known = known[known["source"] == CRM]
    have = set(zip(known["lead_id"], known["at"], strict=True))
    closed = set(known.loc[known["kind"] == CLOSED, "lead_id"])
    new = []
    for r in st.sort_values(["ts", "lead_id"]).itertuples():
        at_ts = r.ts.to_pydatetime()
        if (r.lead_id, r.ts) not in have:
            note = f"CRM stage {r.stage}"
            new.append(LeadAction(r.lead_id, CONTACTED, at_ts, CRM, CRM, note=note))
        # Accepted by sales (SQL or beyond): the cadence is done with it, once.
        if r.stage in SQL_STAGES and r.lead_id not in closed:
            closed.add(r.lead_id)
            note = f"CRM stage {r.stage}"
            new.append(LeadAction(r.lead_id, CLOSED, at_ts, CRM, CRM, reason=ACCEPTED, note=note))
    record_actions(store, new)
    return sum(a.kind == CONTACTED for a in new)


def assign_new(store: Store, desk: SalesDesk, at: datetime) -> pd.DataFrame:
    """Owners for every handed-over lead (up to `at`) without one: rules, then round-robin."""
    handed = handed_frame(store, desk)
    handed = handed[handed["handed_at"] <= pd.Timestamp(at)]
    actions = lead_actions(store)
    owned = set(actions.loc[actions["kind"].isin((ASSIGNED, REASSIGNED)), "lead_id"])
    todo = handed[~handed["lead_id"].astype(str).isin(owned)].sort_values(["handed_at", "lead_id"])
    if not len(todo):
        return pd.DataFrame(columns=["lead_id", "team", "owner"])
    counts = actions[actions["kind"] == ASSIGNED].groupby("team").size().to_dict()
    owners = assign_owners(todo, desk, {str(k): int(v) for k, v in counts.items()})
    record_actions(store, [assignment(r, at) for r in owners.itertuples()])
    return owners


def reassign_untouched(store: Store, desk: SalesDesk, at: datetime) -> pd.DataFrame:
    """Move the leads untouched past the reassignment time to their team's next rep, once."""
    moves = reassignments(desk_board(store, desk, at), lead_actions(store, until=at), desk, at)
    hours = f"{desk.reassign_after_hours:g}"
    record_actions(
        store,
        [
            LeadAction(
                lead_id=r.lead_id,
                kind=REASSIGNED,
                at=at,
                actor=DESK,
                source=DESK,
                owner=r.owner,
                team=r.team,
                note=f"untouched {hours} h after assignment to {r.previous}",
            )
            for r in moves.itertuples()
        ],
    )
    return moves


def recycle_out_of_attempts(store: Store, desk: SalesDesk, at: datetime) -> list[str]:
    """Close the leads that used every attempt of their cadence, back to nurture, saying so."""
    b = desk_board(store, desk, at)
    done = b[b["state"] == "out_of_attempts"]
    record_actions(
        store,
        [
            LeadAction(
                lead_id=r.lead_id,
                kind=CLOSED,
                at=at,
                actor=DESK,
                source=DESK,
                reason=RECYCLED,
                note=f"no answer after {r.attempts} of {r.max_attempts} contact attempts",
            )
            for r in done.itertuples()
        ],
    )
    return done["lead_id"].tolist()


def current_owners(store: Store, lead_ids: list[str]) -> dict[str, str]:
    """lead_id -> its owner now (the last assignment or reassignment), for those that have one."""
    actions = lead_actions(store, lead_ids)
    owned = actions[actions["kind"].isin((ASSIGNED, REASSIGNED))]
    return dict(zip(owned["lead_id"].astype(str), owned["owner"], strict=True))


def owners_for(store: Store, desk: SalesDesk, handoff: pd.DataFrame) -> pd.DataFrame:
    """lead_id, team, owner for a day's hand-off before it is stored (the hand-off files carry
    the owner): a lead that already has one keeps it (a re-run of the day), the others take
    their team's next turns, in the hand-off's order (best score first)."""
    actions = lead_actions(store, handoff["lead_id"].astype(str).tolist())
    owned = actions[actions["kind"].isin((ASSIGNED, REASSIGNED))].drop_duplicates(
        "lead_id", keep="last"
    )
    kept = owned[["lead_id", "team", "owner"]]
    todo = handoff[~handoff["lead_id"].astype(str).isin(set(kept["lead_id"]))]
    every = lead_actions(store)
    counts = every[every["kind"] == ASSIGNED].groupby("team").size().to_dict()
    new = assign_owners(todo, desk, {str(k): int(v) for k, v in counts.items()})
    out = pd.concat([kept, new], ignore_index=True) if len(kept) else new
    order = {lead: n for n, lead in enumerate(handoff["lead_id"].astype(str))}
    return out.sort_values("lead_id", key=lambda c: c.map(order)).reset_index(drop=True)


def assignment(row: Any, at: datetime) -> LeadAction:
    """The desk's own record that `row` (lead_id, owner, team) is owned from `at`."""
    return LeadAction(
        lead_id=row.lead_id, kind=ASSIGNED, at=at, actor=DESK, source=DESK, owner=row.owner,
        team=row.team,
    )  # fmt: skip


def record_owners(store: Store, owners: pd.DataFrame, at: datetime) -> int:
    """Store the assignments of `owners` (owners_for) that the store does not hold yet."""
    actions = lead_actions(store, owners["lead_id"].astype(str).tolist())
    owned = set(actions.loc[actions["kind"].isin((ASSIGNED, REASSIGNED)), "lead_id"])
    new = [assignment(r, at) for r in owners.itertuples() if r.lead_id not in owned]
    record_actions(store, new)
    return len(new)


def overdue_at(store: Store, desk: SalesDesk, at: datetime) -> pd.DataFrame:
    """The overdue list at `at` (still owed, oldest first) in the daily files' shape: lead_id,
    handed_on, followup_deadline (the attempt owed), hours_overdue, owner, attempts."""
    from sales.worklist import overdue_list

    late = overdue_list(desk_board(store, desk, at))
    return pd.DataFrame(
        {
            "lead_id": late["lead_id"].astype(str).to_numpy(),
            "handed_on": [str(d)[:10] for d in late["run_date"]],
            "followup_deadline": [pd.Timestamp(d).isoformat() for d in late["next_due"]],
            "hours_overdue": late["hours_overdue"].to_numpy(dtype=float),
            "owner": late["owner"].to_numpy(),
            "attempts": late["attempts"].to_numpy(dtype=int),
        },
        columns=["lead_id", "handed_on", "followup_deadline", "hours_overdue", "owner", "attempts"],
    )


def desk_step(
    store: Store, desk: SalesDesk, stages: pd.DataFrame | None, at: datetime
) -> list[str]:
    """The desk's daily step, in order; returns one line per move for the run's summary."""
    crm = import_crm_touches(store, stages, at) if stages is not None else 0
    owners = assign_new(store, desk, at)
    moved = reassign_untouched(store, desk, at)
    recycled = recycle_out_of_attempts(store, desk, at)
    return [
        f"sales desk: {crm} CRM touches counted as attempts, {len(owners)} leads assigned, "
        f"{len(moved)} reassigned (untouched {desk.reassign_after_hours:g} h), "
        f"{len(recycled)} back to nurture (out of attempts)"
    ]


def lead_board(store: Store, desk: SalesDesk, lead_id: str, at: datetime) -> dict[str, Any] | None:
    """One lead's row of the board at `at` (None: never handed over), read for that lead only."""
    from store.actions import handoffs_of

    handed = handoffs_of(store, lead_id)
    if not len(handed):
        return None
    payload = _payload(handed["payload"].iloc[0])
    band = payload.get("tier") if desk.cadence.by == "tier" else str(payload.get("grade") or "")[:1]
    frame = pd.DataFrame(
        {
            "lead_id": [str(lead_id)],
            "handed_at": [handed["handed_at"].iloc[0]],
            "band": [band or None],
        }
    )
    rows = board(frame, lead_actions(store, [lead_id], until=at), desk, at)
    return rows.iloc[0].to_dict() if len(rows) else None


def with_contacts(new_mqls: pd.DataFrame, leads: pd.DataFrame) -> pd.DataFrame:
    """The day's new MQLs with whom to call: the leads export's company, e-mail domain, job role
    and country, where it has them (the hand-off files and the owner rules read them)."""
    fields = [c for c in ("company", "email_domain", "job_role", "country") if c in leads.columns]
    contact = leads[["lead_id", *fields]].assign(lead_id=leads["lead_id"].astype(str))
    contact = contact.drop_duplicates("lead_id").set_index("lead_id")
    ids = new_mqls["lead_id"].astype(str)
    out = new_mqls.copy()
    for c in fields:
        out[c] = ids.map(contact[c]).to_numpy()
    return out


def with_owners(new_mqls: pd.DataFrame, owners: pd.DataFrame) -> pd.DataFrame:
    """The day's new MQLs with who calls (owners_for: owner, team)."""
    by_lead = owners.set_index(owners["lead_id"].astype(str))
    ids = new_mqls["lead_id"].astype(str)
    out = new_mqls.copy()
    for c in ("owner", "team"):
        out[c] = ids.map(by_lead[c]).to_numpy() if len(by_lead) else None
    return out
