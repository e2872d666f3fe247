"""Who owns a handed-over lead: the first owner rule of sla.yaml it matches picks the team,
then the team's reps take turns (round-robin), counted over every assignment the team ever had,
so the turn carries across days and restarts."""

from __future__ import annotations

from typing import Any

import pandas as pd

from sla.sales_desk import OwnerRule, SalesDesk


def _matches(rule: OwnerRule, persona: Any, channel: Any, country: Any) -> bool:
    for allowed, value in (
        (rule.persona, persona),
        (rule.channel, channel),
        (rule.country, country),
    ):
        if allowed and (value is None or str(value) not in allowed):
            return False
    return True


def team_for(desk: SalesDesk, persona: Any, channel: Any, country: Any) -> str:
    """The team of a lead: the first matching rule's, else the default team."""
    for rule in desk.owner_rules:
        if _matches(rule, persona, channel, country):
            return rule.team
    return desk.default_team


def assign_owners(
    leads: pd.DataFrame, desk: SalesDesk, assigned_so_far: dict[str, int]
) -> pd.DataFrame:
    """lead_id, team, owner for `leads` (lead_id, persona, channel, country; in the order given):
    each team's next rep in turn, after the `assigned_so_far` assignments it already had."""
    turns = dict(assigned_so_far)
    rows = []
    for r in leads.to_dict("records"):
        team = team_for(desk, r.get("persona"), r.get("channel"), r.get("country"))
        reps = desk.teams[team]
        n = turns.get(team, 0)
        rows.append({"lead_id": str(r["lead_id"]), "team": team, "owner": reps[n % len(reps)]})
        turns[team] = n + 1
    return pd.DataFrame(rows, columns=["lead_id", "team", "owner"])
