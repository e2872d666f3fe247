"""The sales desk's part of the agreement (sla.yaml `sales_desk:`): who owns a handed-over lead,
how often and how soon sales tries to reach it, and when an untouched lead moves to another rep.

The agreement asks sales to set the contact cadence by maturity, so fragile MQLs are followed up
and not hammered: a hot (tier A) lead gets more attempts, sooner, than a lukewarm one. Every key
is checked here (a rep in two teams, a rule naming an unknown team, a cadence with no attempt
are errors naming the key), because a desk that silently drops a lead is worse than none.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

CADENCE_KEYS = ("tier", "fit_grade")


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def _as_tuple(value: object) -> object:
    """A single value or a list, as a tuple (`country: DE` and `country: [DE, AT]` both read)."""
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    return tuple(value) if isinstance(value, list | tuple) else value


class OwnerRule(_Section):
    """Leads matching every named criterion go to `team`; an empty criterion matches any lead."""

    team: str
    persona: tuple[str, ...] = ()
    channel: tuple[str, ...] = ()
    country: tuple[str, ...] = ()

    _tuples = field_validator("persona", "channel", "country", mode="before")(_as_tuple)


class Cadence(_Section):
    """Contact attempts by maturity: `schedule[band]` lists the hours before each attempt is due,
    the first counted from the hand-off, each next one from the previous attempt. Its length is
    how many attempts the lead gets; after the last one the lead goes back to nurture."""

    by: Literal["tier", "fit_grade"] = "tier"
    schedule: dict[str, tuple[float, ...]] = Field(
        default_factory=lambda: {"A": (24.0, 48.0, 96.0), "B": (24.0, 72.0), "C": (24.0,)}
    )
    default: tuple[float, ...] = (24.0, 72.0)  # a band the schedule does not name

    @field_validator("schedule")
    @classmethod
    def _positive(cls, value: dict[str, tuple[float, ...]]) -> dict[str, tuple[float, ...]]:
        for band, hours in value.items():
            if not hours:
                raise ValueError(f"{band}: at least one attempt (a list of hours)")
            if any(h <= 0 for h in hours):
                raise ValueError(f"{band}: every interval must be more than 0 hours, got {hours}")
        return value

    @field_validator("default")
    @classmethod
    def _default_positive(cls, value: tuple[float, ...]) -> tuple[float, ...]:
        if not value or any(h <= 0 for h in value):
            raise ValueError(f"at least one attempt, every interval above 0 hours, got {value}")
        return value

    def hours_for(self, band: str | None) -> tuple[float, ...]:
        """The intervals of a lead in `band` (None or unknown: the default)."""
        return self.schedule.get(str(band), self.default) if band is not None else self.default


class SalesDesk(_Section):
    """Teams of reps, the rules that pick a team, the cadence and the reassignment time."""

    teams: dict[str, tuple[str, ...]] = Field(default_factory=lambda: {"sales": ("sales",)})
    owner_rules: tuple[OwnerRule, ...] = ()
    default_team: str = "sales"
    reassign_after_hours: float = Field(48.0, gt=0)
    cadence: Cadence = Cadence()

    @model_validator(mode="after")
    def _consistent(self) -> SalesDesk:
        seen: dict[str, str] = {}
        for team, reps in self.teams.items():
            if not reps:
                raise ValueError(f"teams.{team}: a team needs at least one rep")
            for rep in reps:
                if rep in seen:
                    raise ValueError(f"teams: rep {rep!r} is in both {seen[rep]} and {team}")
                seen[rep] = team
        known = set(self.teams)
        if self.default_team not in known:
            raise ValueError(
                f"default_team {self.default_team!r} is not one of teams {sorted(known)}"
            )
        for n, rule in enumerate(self.owner_rules):
            if rule.team not in known:
                raise ValueError(
                    f"owner_rules[{n}]: team {rule.team!r} is not one of teams {sorted(known)}"
                )
        return self

    def reps(self) -> tuple[str, ...]:
        """Every rep, team by team."""
        return tuple(rep for reps in self.teams.values() for rep in reps)

    def team_of(self, rep: str) -> str | None:
        return next((t for t, reps in self.teams.items() if rep in reps), None)
