"""What the agreement says to do with a scored lead: MQL, nurture or disqualified, and why.

Two paths with one meaning: `qualify` for a single lead is plain Python on floats (the HTTP service
calls it per request, thousands of times a second, so no pandas), and `qualify_frame` does the
same for a DataFrame with numpy. A test pins that they agree row by row.

Rules, first match wins:
1. `excluded:unsubscribed`, `excluded:<column>=<value>` -> disqualified (never sales' work);
   unsubscribed is the lead's `unsubscribed` flag, or from features: an unsubscribe since the
   last newsletter signup;
2. `fit_below_minimum` -> nurture (outside the agreed personas: marketing keeps it);
3. `score_below_threshold` -> nurture; `score_at_or_above_threshold` -> mql.
A missing fit score counts as no fit, a missing score as below any threshold, a missing
category value as the value `missing`: a lead never becomes an MQL by lacking data.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd

from sla.agreement import AUTO, SCORE_MAX, Agreement, Bands
from sla.errors import SLAError

MQL, NURTURE, DISQUALIFIED = "mql", "nurture", "disqualified"
RULE_UNSUBSCRIBED = "excluded:unsubscribed"
RULE_FIT = "fit_below_minimum"
RULE_BELOW = "score_below_threshold"
RULE_ABOVE = "score_at_or_above_threshold"
MISSING = "missing"  # how a missing category value is named in `exclude` lists
UNSUBSCRIBED = "unsubscribed"
# Without an explicit `unsubscribed` flag it is read from the features: the lead unsubscribed
# at some point and has not signed up again since (features.behaviour `newsletter_subscribed`).
N_UNSUBSCRIBE, SUBSCRIBED = "n_unsubscribe", "newsletter_subscribed"
SCORE_SCALE = SCORE_MAX  # score = probability x 100
OUTPUT_COLUMNS = (
    "decision",
    "rule",
    "tier",
    "fit_grade",
    "engagement_grade",
    "grade",
    "follow_up_by",
)


def score_from_probability(probability: float) -> int:
    """The 0-100 score of a calibrated probability (half up), the scale thresholds are set on."""
    if probability != probability:  # NaN
        return 0
    return int(min(max(math.floor(probability * SCORE_SCALE + 0.5), 0), SCORE_SCALE))


def scores_from_probabilities(probability: np.ndarray) -> np.ndarray:
    """`score_from_probability` for an array (identical results)."""
    p = np.nan_to_num(np.asarray(probability, dtype=np.float64), nan=0.0)
    return np.clip(np.floor(p * SCORE_SCALE + 0.5), 0, SCORE_SCALE).astype(np.int64)


@dataclass(frozen=True, slots=True)
class BandLookup:
    """Band name for a value in one bisect; NaN or below the lowest band -> the lowest band."""

    mins: tuple[float, ...]  # ascending
    names: tuple[str, ...]  # lowest band first

    @classmethod
    def of(cls, bands: Bands) -> BandLookup:
        return cls(tuple(reversed(bands.mins)), tuple(reversed(bands.names)))

    def name(self, value: float) -> str:
        if value != value:  # NaN
            return self.names[0]
        return self.names[max(bisect_right(self.mins, value) - 1, 0)]

    def names_of(self, values: np.ndarray) -> np.ndarray:
        x = np.nan_to_num(np.asarray(values, dtype=np.float64), nan=-np.inf)
        idx = np.clip(np.searchsorted(np.asarray(self.mins), x, side="right") - 1, 0, None)
        return np.asarray(self.names, dtype=object)[idx]


@dataclass(frozen=True, slots=True)
class Rules:
    """The MQL rule compiled once (threshold resolved), so each lead costs a few comparisons."""

    threshold: float
    min_fit_score: float
    exclude_unsubscribed: bool
    exclude: tuple[tuple[str, frozenset[str]], ...]
    tiers: BandLookup
    fit: BandLookup
    engagement: BandLookup
    follow_up: timedelta


def compile_rules(agreement: Agreement, threshold: float | None = None) -> Rules:
    """Rules from the agreement; `threshold` is required when sla.yaml says `auto`
    (sla.threshold.auto_threshold resolves it) and overrides a fixed one when given."""
    rule = agreement.mql_rule
    if threshold is None:
        if rule.score_threshold == AUTO:
            raise SLAError(
                "mql_rule.score_threshold is `auto`: resolve it from recent scores first "
                "(leadscore sla report writes artifacts/sla/threshold.json)"
            )
        threshold = float(rule.score_threshold)
    return Rules(
        threshold=float(threshold),
        min_fit_score=rule.min_fit_score,
        exclude_unsubscribed=rule.exclude_unsubscribed,
        exclude=tuple((col, frozenset(values)) for col, values in rule.exclude.items()),
        tiers=BandLookup.of(agreement.tiers),
        fit=BandLookup.of(agreement.fit_grades),
        engagement=BandLookup.of(agreement.engagement_grades),
        follow_up=timedelta(hours=agreement.follow_up_hours),
    )


@dataclass(frozen=True, slots=True)
class Decision:
    decision: str
    rule: str
    tier: str
    fit_grade: str
    engagement_grade: str
    grade: str  # fit grade + engagement grade side by side, e.g. "B2"
    follow_up_by: datetime | None


def _category(value: Any) -> str:
    if value is None or (isinstance(value, float) and value != value) or value is pd.NA:
        return MISSING
    return str(value)


def _number(value: Any) -> float:
    return math.nan if value is None or value is pd.NA else float(value)


def _flag(value: Any) -> bool:
    return value is not None and value is not pd.NA and value == value and bool(value)


def _unsubscribed(lead: Mapping[str, Any]) -> bool:
    if UNSUBSCRIBED in lead:
        return _flag(lead[UNSUBSCRIBED])
    return _number(lead.get(N_UNSUBSCRIBE)) > 0 and not _flag(lead.get(SUBSCRIBED))


def _rule(lead: Mapping[str, Any], rules: Rules, score: float, fit: float) -> str:
    if rules.exclude_unsubscribed and _unsubscribed(lead):
        return RULE_UNSUBSCRIBED
    for column, values in rules.exclude:
        value = _category(lead.get(column))
        if value in values:
            return f"excluded:{column}={value}"
    if (0.0 if fit != fit else fit) < rules.min_fit_score:
        return RULE_FIT
    return RULE_ABOVE if score >= rules.threshold else RULE_BELOW


def decision_of(rule: str) -> str:
    if rule == RULE_ABOVE:
        return MQL
    if rule in (RULE_FIT, RULE_BELOW):
        return NURTURE
    return DISQUALIFIED


def qualify(lead: Mapping[str, Any], rules: Rules, scored_at: datetime | None = None) -> Decision:
    """The decision for one scored lead.

    `lead` holds `score` (0-100), `fit_score`, `engagement_score`, optionally `unsubscribed` and
    the columns the exclusions name (e.g. `email_kind`), and `scored_at` unless given here.
    """
    score = _number(lead.get("score"))
    fit = _number(lead.get("fit_score"))
    engagement = _number(lead.get("engagement_score"))
    rule = _rule(lead, rules, score, fit)
    decision = decision_of(rule)
    fit_grade = rules.fit.name(fit)
    engagement_grade = rules.engagement.name(engagement)
    when = scored_at if scored_at is not None else lead.get("scored_at")
    return Decision(
        decision=decision,
        rule=rule,
        tier=rules.tiers.name(score),
        fit_grade=fit_grade,
        engagement_grade=engagement_grade,
        grade=fit_grade + engagement_grade,
        follow_up_by=when + rules.follow_up if decision == MQL and when is not None else None,
    )


def _numbers(df: pd.DataFrame, column: str) -> np.ndarray:
    if column not in df.columns:
        return np.full(len(df), np.nan)
    return pd.to_numeric(df[column], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)


def _categories(df: pd.DataFrame, column: str) -> np.ndarray:
    if column not in df.columns:
        return np.full(len(df), MISSING, dtype=object)
    col = df[column].astype(object)
    return col.where(col.notna(), MISSING).map(str).to_numpy(dtype=object)


def _flags(df: pd.DataFrame, column: str) -> np.ndarray:
    flag = df[column].astype(object)
    return flag.where(flag.notna(), False).map(bool).to_numpy(dtype=bool)


def unsubscribed_flags(df: pd.DataFrame) -> np.ndarray:
    """The `unsubscribed` column, or else the same reading of the features as `qualify`."""
    if UNSUBSCRIBED in df.columns:
        return _flags(df, UNSUBSCRIBED)
    if N_UNSUBSCRIBE not in df.columns:
        return np.zeros(len(df), dtype=bool)
    subscribed = _flags(df, SUBSCRIBED) if SUBSCRIBED in df.columns else np.zeros(len(df), bool)
    return (_numbers(df, N_UNSUBSCRIBE) > 0) & ~subscribed


def eligible_rules(df: pd.DataFrame, rules: Rules) -> np.ndarray:
    """Per row, the rule that decides it before the score is looked at ('' when none does):
    exclusions and the fit minimum. Shared with the `auto` threshold, which only ranks the rest."""
    n = len(df)
    rule = np.full(n, "", dtype=object)
    if rules.exclude_unsubscribed:
        rule[unsubscribed_flags(df)] = RULE_UNSUBSCRIBED
    for column, values in rules.exclude:
        cats = _categories(df, column)
        hit = np.isin(cats, list(values)) & (rule == "")
        rule[hit] = np.char.add(f"excluded:{column}=", cats[hit].astype(str)).astype(object)
    fit = np.nan_to_num(_numbers(df, "fit_score"), nan=0.0)
    rule[(rule == "") & (fit < rules.min_fit_score)] = RULE_FIT
    return rule


def qualify_frame(
    df: pd.DataFrame, rules: Rules, scored_at: datetime | pd.Series | None = None
) -> pd.DataFrame:
    """`qualify` for every row of `df` (same columns), vectorised; index kept, OUTPUT_COLUMNS."""
    score = _numbers(df, "score")
    rule = eligible_rules(df, rules)
    open_ = rule == ""
    rule[open_ & (score >= rules.threshold)] = RULE_ABOVE
    rule[rule == ""] = RULE_BELOW
    decision = np.where(
        rule == RULE_ABOVE,
        MQL,
        np.where(np.isin(rule, [RULE_FIT, RULE_BELOW]), NURTURE, DISQUALIFIED),
    ).astype(object)
    fit_grade = rules.fit.names_of(_numbers(df, "fit_score"))
    engagement_grade = rules.engagement.names_of(_numbers(df, "engagement_score"))
    when = scored_at if scored_at is not None else df.get("scored_at")
    if when is None:
        follow_up = pd.Series(pd.NaT, index=df.index)
    else:
        when = pd.Series(when, index=df.index) if not isinstance(when, pd.Series) else when
        follow_up = (pd.to_datetime(when) + rules.follow_up).where(decision == MQL)
    return pd.DataFrame(
        {
            "decision": decision,
            "rule": rule,
            "tier": rules.tiers.names_of(score),
            "fit_grade": fit_grade,
            "engagement_grade": engagement_grade,
            "grade": fit_grade + engagement_grade,
            "follow_up_by": follow_up,
        },
        index=df.index,
    )
