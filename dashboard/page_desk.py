"""The Sales desk page (`/dashboard/desk`): the live overdue list (what is still owed, oldest
first, with its owner), the sales manager's view per rep, the MQLs contacted late, and the
closed leads by reason (also on the Closed-loop page). Read from the store at request time
(sales/service.py), at the moment of the request: a rep's action shows at the next reload."""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd

from dashboard import charts
from dashboard.panels import Page, Panel, col, count, number, percent, records, table, when
from dashboard.sources import Sources
from foundation.errors import LeadscoreError

REASON_WORDS = {
    "not_a_fit": "not a fit",
    "no_budget": "no budget",
    "duplicate": "duplicate",
    "recycled_to_nurture": "recycled to nurture",
    "accepted_sql": "accepted by sales (SQL)",
}


def _board(sources: Sources, at: datetime) -> pd.DataFrame:
    from sales.service import desk_board

    return desk_board(sources.store(), sources.agreement().sales_desk, at)


def closed_panel(board: pd.DataFrame) -> Panel:
    """Closed leads by reason: what sales decided about the leads handed over."""
    from sales.manager import closed_reasons

    reasons = closed_reasons(board)
    reasons = reasons.assign(words=[REASON_WORDS.get(r, r) for r in reasons["reason"]])
    return Panel(
        "closed",
        f"Hand-offs closed, by reason ({int(reasons['leads'].sum())})",
        table(
            reasons, [col("words", "Reason"), col("reason", "Code"), col("leads", "Leads", count)]
        ),
        spec=charts.horizontal_bars(
            records(reasons), "words", "leads", value_title="Leads", value_format=",.0f"
        )
        if len(reasons)
        else None,
        note="Closed by a rep (not a fit, no budget, duplicate, recycled to nurture), by the desk "
        "(out of attempts: recycled to nurture) or by the CRM (accepted as SQL). The next retrain "
        "leaves duplicates out (docs/managers.md, 'Closed with a reason').",
    )


def with_closed(page: Page, sources: Sources) -> Page:
    """The Closed-loop page with the closed-with-reason count appended."""
    try:
        page.panels.append(closed_panel(_board(sources, datetime.now(UTC))))
    except LeadscoreError as exc:
        page.problems.append(f"The sales desk cannot be read: {exc}")
    return page


def build(sources: Sources, at: datetime | None = None) -> Page:
    from sales.manager import rep_table
    from sales.worklist import compliance, contacted_late, overdue_list

    at = at or datetime.now(UTC)
    page = Page("Sales desk")
    try:
        board = _board(sources, at)
        desk = sources.agreement().sales_desk
    except LeadscoreError as exc:
        page.problems.append(f"The store cannot be read: {exc}")
        return page
    share = compliance(board)
    page.facts["subtitle"] = (
        f"As of {when(at)} UTC · {len(board):,} leads handed over · follow-up in time "
        + (f"{share['share']:.0%} of {share['counted']}" if share["share"] is not None else "-")
    )
    late = overdue_list(board).assign(
        due=lambda f: [when(t) for t in f["next_due"]],
        handed=lambda f: [when(t) for t in f["handed_at"]],
    )
    page.panels.append(
        Panel(
            "overdue",
            f"Overdue: contact attempts still owed ({len(late)})",
            table(
                late,
                [
                    col("lead_id", "Lead"),
                    col("owner", "Owner"),
                    col("handed", "Handed over (UTC)"),
                    col("due", "Attempt due (UTC)"),
                    col("hours_overdue", "Hours overdue", number),
                    col("attempts", "Attempts made", count),
                    col("max_attempts", "Of", count),
                    col("band", "Tier"),
                    col("score", "Score", count),
                ],
            ),
            note="Only what is still owed: contacted, snoozed and closed leads leave the list; "
            "the longest overdue first.",
            wide=True,
        )
    )
    reps = rep_table(board, desk)
    page.panels.append(
        Panel(
            "reps",
            "Per rep",
            table(
                reps,
                [
                    col("rep", "Rep"),
                    col("team", "Team"),
                    col("owned", "Leads owned", count),
                    col("due", "Attempts due (24 h)", count),
                    col("overdue", "Attempts overdue", count),
                    col("compliance", "Follow-up in time", percent),
                    col("counted", "Of MQLs", count),
                    col("sqls", "SQLs", count),
                    col("closed", "Closed", count),
                ],
            ),
            spec=charts.grouped_bars(
                records(
                    reps.melt(
                        id_vars=["rep"], value_vars=["owned", "due", "overdue"], var_name="what"
                    )
                ),
                "rep",
                "value",
                "what",
                x_title="Rep",
                y_title="Leads",
            ),
            note="Owned: open leads now. Follow-up in time: first attempt by the cadence's first "
            "deadline, over the leads whose deadline passed or that were contacted.",
            wide=True,
            table_open=True,
        )
    )
    slow = contacted_late(board, at).assign(
        deadline=lambda f: [when(t) for t in f["first_deadline"]],
        first=lambda f: [when(t) for t in f["first_contact_at"]],
    )
    page.panels.append(
        Panel(
            "late",
            f"MQLs contacted late ({len(slow)})",
            table(
                slow,
                [
                    col("lead_id", "Lead"),
                    col("owner", "Owner"),
                    col("deadline", "First deadline (UTC)"),
                    col("first", "First attempt (UTC)"),
                    col("hours_late", "Hours late", number),
                ],
            ),
            note="First attempt after the deadline, or none yet and the deadline passed; most "
            "late first.",
            wide=True,
        )
    )
    page.panels.append(closed_panel(board))
    return page
