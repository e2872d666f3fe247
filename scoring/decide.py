"""A probability and the lead's rule inputs -> score 0-100, tier, grades, the SLA decision and its
rule, the follow-up deadline and the expected value.

`decide` runs the agreement's rules (sla.qualify) for one lead; `decide_columns` the same rules
over whole columns with numpy (`qualify_arrays`), pinned to `qualify` lead by lead.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import datetime
from itertools import repeat
from typing import TYPE_CHECKING, Any

import numpy as np

from scoring.encode import STR_OR_NONE

if TYPE_CHECKING:
    from scoring.context import ScoringContext
    from scoring.encode import Encoder
    from sla.qualify import Rules

UNSUBSCRIBED = "unsubscribed"

NUMERIC_RULE_FIELDS = ("fit_score", "engagement_score", "n_unsubscribe", "newsletter_subscribed")
_ABSENT = object()


class Decider:
    """Applies one context's rules to scored leads; immutable once built."""

    def __init__(self, encoder: Encoder, context: ScoringContext) -> None:
        self.context = context
        self.categorical = encoder.categorical
        self.category_key = encoder.category_key
        self._index = {name: j for j, name in enumerate(encoder.feature_names)}
        self.rule_fields = decision_fields(context.rules)

    def decision_inputs(self, row: Mapping[str, Any], x: np.ndarray) -> dict[str, Any]:
        """What the SLA rules read, normalised: numeric features from the encoded row (so a
        numeric string or an empty value means what the model saw), categories by their key,
        and `unsubscribed` resolved once (explicit flag, else from the newsletter features)."""
        out: dict[str, Any] = {}
        for name in self.rule_fields:
            j = self._index.get(name)
            if j is not None and name not in self.categorical:
                out[name] = float(x[j])
            elif j is not None:
                out[name] = self.category_key(row.get(name))
            elif name in NUMERIC_RULE_FIELDS:
                out[name] = _to_float(row.get(name))
            else:
                out[name] = row.get(name)
        out[UNSUBSCRIBED] = unsubscribed_of(row.get(UNSUBSCRIBED, _ABSENT), out)
        return out

    def decide(
        self, inputs: Mapping[str, Any], probability: float, as_of: datetime
    ) -> dict[str, Any]:
        """Score 0-100, tier, grades, the SLA decision and its rule, deadline, expected value."""
        from sla.qualify import RULE_BELOW, qualify, score_from_probability

        score = score_from_probability(probability)
        persona = inputs.get("persona")
        persona = None if persona is None else str(persona)
        deal = self.context.deal_values.get(persona) if persona else None
        deal = deal if deal is not None else self.context.default_deal_value
        out: dict[str, Any] = {
            "probability": probability,
            "score": score,
            "tier": None,
            "fit_grade": None,
            "engagement_grade": None,
            "decision": None,
            "rule": None,
            "follow_up_by": None,
            "persona": persona,
            "expected_value_eur": None if deal is None else round(probability * deal, 2),
            "as_of": as_of,
        }
        rules = self.context.rules
        if rules is None:
            return out
        lead = dict(inputs)
        lead["score"] = score
        d = qualify(lead, rules, scored_at=as_of)
        out["tier"] = d.tier
        out["fit_grade"] = d.fit_grade
        out["engagement_grade"] = d.engagement_grade
        # With `auto` unresolved the rules ran with an infinite threshold: "below threshold"
        # then means "unknown", while exclusions and the fit minimum still decide.
        if self.context.threshold is not None or d.rule != RULE_BELOW:
            out["decision"] = d.decision
            out["rule"] = d.rule
            out["follow_up_by"] = d.follow_up_by
        return out

    def decide_columns(
        self,
        X: np.ndarray,
        rows: Sequence[Mapping[str, Any]] | None,
        probabilities: np.ndarray,
        as_ofs: Sequence[datetime],
        lead_ids: Sequence[str | None],
        raw_columns: Mapping[str, Sequence[Any]] | None = None,
    ) -> dict[str, list[Any]]:
        """`decide` for many leads at once, with numpy (`qualify_arrays`): same answers.

        Per-lead `qualify` plus its dicts cost about 20 us a lead and `sla.qualify_frame` about as
        much through pandas; this keeps the rules of a 1000-lead batch near a millisecond.
        Same inputs as `decision_inputs`, read from `rows` or, for a columnar body, straight
        from `raw_columns` (feature -> values of these leads).
        """
        from sla.qualify import MQL, RULE_BELOW, scores_from_probabilities

        n = len(X)

        def raw(name: str, default: Any = None) -> Sequence[Any]:
            if raw_columns is not None:
                return raw_columns.get(name, [default] * n)
            assert rows is not None
            return [r.get(name, default) for r in rows]

        scores = scores_from_probabilities(probabilities)
        inputs: dict[str, Any] = {}
        key = self.category_key
        for name in self.rule_fields:
            j = self._index.get(name)
            if j is not None and name not in self.categorical:
                inputs[name] = X[:, j]
            elif j is not None:
                values = raw(name)
                # Text and nulls (the usual column) are their own keys: no call per cell.
                inputs[name] = (
                    list(values)
                    if set(map(type, values)) <= STR_OR_NONE
                    else [v if type(v) is str else key(v) for v in values]
                )
            elif name in NUMERIC_RULE_FIELDS:
                inputs[name] = np.array([_to_float(v) for v in raw(name)], dtype=np.float64)
            else:
                inputs[name] = list(raw(name))
        n_unsub = inputs["n_unsubscribe"]
        subscribed = inputs["newsletter_subscribed"]
        no_flags = rows is None and raw_columns is not None and UNSUBSCRIBED not in raw_columns
        if no_flags and isinstance(n_unsub, np.ndarray) and isinstance(subscribed, np.ndarray):
            # `unsubscribed_of` without an explicit flag, over whole columns (NaN compares False).
            signed_up = (subscribed == subscribed) & (subscribed != 0)
            inputs[UNSUBSCRIBED] = ((n_unsub > 0) & ~signed_up).tolist()
        else:
            inputs[UNSUBSCRIBED] = [
                unsubscribed_of(flag, {"n_unsubscribe": u, "newsletter_subscribed": s})
                for flag, u, s in zip(raw(UNSUBSCRIBED, _ABSENT), n_unsub, subscribed, strict=True)
            ]
        personas = [None if p is None else str(p) for p in inputs.get("persona", [None] * n)]
        default = self.context.default_deal_value
        # No persona (None) is never a key: it gets the default like an unknown persona.
        deals = np.array(
            list(map(self.context.deal_values.get, personas, repeat(default, n))),
            dtype=np.float64,
        )
        expected = np.round(probabilities * deals, 2).tolist()
        tier = fit_grade = engagement_grade = decision = rule = [None] * n
        follow_up: list[datetime | None] = [None] * n
        rules = self.context.rules
        if rules is not None:
            q = qualify_arrays(inputs, scores, rules)
            tier, fit_grade, engagement_grade = q["tier"], q["fit_grade"], q["engagement_grade"]
            decision, rule = q["decision"], q["rule"]
            if self.context.threshold is None:  # `auto` unresolved: see `decide`
                unknown = [r == RULE_BELOW for r in rule]
                decision = [None if u else d for u, d in zip(unknown, decision, strict=True)]
                rule = [None if u else r for u, r in zip(unknown, rule, strict=True)]
            follow_up = [
                a + rules.follow_up if d == MQL else None
                for a, d in zip(as_ofs, decision, strict=True)
            ]
        expected_value = [
            None if d != d else e for d, e in zip(deals.tolist(), expected, strict=True)
        ]
        return {
            "lead_id": list(lead_ids),
            "probability": probabilities.tolist(),
            "score": scores.tolist(),
            "tier": tier,
            "fit_grade": fit_grade,
            "engagement_grade": engagement_grade,
            "decision": decision,
            "rule": rule,
            "follow_up_by": follow_up,
            "persona": personas,
            "expected_value_eur": expected_value,
            "as_of": list(as_ofs),
        }

    def decide_many(
        self,
        X: np.ndarray,
        rows: Sequence[Mapping[str, Any]],
        probabilities: np.ndarray,
        as_ofs: Sequence[datetime],
        lead_ids: Sequence[str | None],
    ) -> list[dict[str, Any]]:
        """`decide_columns`, one dict per lead (the row-form answer)."""
        columns = self.decide_columns(X, rows, probabilities, as_ofs, lead_ids)
        names = list(columns)
        return [
            dict(zip(names, values, strict=True)) for values in zip(*columns.values(), strict=True)
        ]


def qualify_arrays(
    inputs: Mapping[str, Any], scores: np.ndarray, rules: Rules
) -> dict[str, list[Any]]:
    """`sla.qualify.qualify` over columns (rule, decision, tier, grades), first match wins:
    unsubscribed, exclusions, fit below the minimum, then the score threshold.

    A test pins it to `qualify` lead by lead, so a rule added there and not here fails the suite.
    """
    from sla.qualify import (
        MISSING,
        RULE_ABOVE,
        RULE_BELOW,
        RULE_FIT,
        RULE_UNSUBSCRIBED,
        decision_of,
    )

    n = len(scores)
    rule = np.full(n, "", dtype=object)
    if rules.exclude_unsubscribed and "unsubscribed" in inputs:
        rule[np.asarray(inputs["unsubscribed"], dtype=bool)] = RULE_UNSUBSCRIBED
    for column, values in rules.exclude:
        raw = inputs.get(column)
        cats = (
            np.full(n, MISSING, dtype=object)
            if raw is None
            else np.array([MISSING if v is None else str(v) for v in raw], dtype=object)
        )
        for i in np.flatnonzero(np.isin(cats, list(values)) & (rule == "")):
            rule[i] = f"excluded:{column}={cats[i]}"
    nan = np.full(n, np.nan)
    fit = np.asarray(inputs.get("fit_score", nan), dtype=np.float64)
    engagement = np.asarray(inputs.get("engagement_score", nan), dtype=np.float64)
    score = np.asarray(scores, dtype=np.float64)
    rule[(rule == "") & (np.nan_to_num(fit, nan=0.0) < rules.min_fit_score)] = RULE_FIT
    still_open = rule == ""
    rule[still_open & (score >= rules.threshold)] = RULE_ABOVE
    rule[rule == ""] = RULE_BELOW
    rules_list = rule.tolist()
    decisions = {r: decision_of(r) for r in set(rules_list)}
    return {
        "rule": rules_list,
        "decision": [decisions[r] for r in rules_list],
        "tier": rules.tiers.names_of(score).tolist(),
        "fit_grade": rules.fit.names_of(fit).tolist(),
        "engagement_grade": rules.engagement.names_of(engagement).tolist(),
    }


def _to_float(value: Any) -> float:
    """A number from a raw value, NaN when missing or not a number (rules never crash)."""
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return math.nan
    return math.nan


def unsubscribed_of(flag: Any, inputs: Mapping[str, Any]) -> bool:
    """The lead's explicit `unsubscribed` flag, else (as sla.qualify reads the features) an
    unsubscribe that no newsletter signup followed."""
    if flag is not _ABSENT:
        return _flag(flag)
    n_unsub = inputs.get("n_unsubscribe", math.nan)
    subscribed = inputs.get("newsletter_subscribed", math.nan)
    return bool(n_unsub > 0) and not (subscribed == subscribed and bool(subscribed))


def decision_fields(rules: Rules | None) -> tuple[str, ...]:
    """The feature names the SLA rules and the expected value read (besides `unsubscribed`)."""
    fields = ["persona", *NUMERIC_RULE_FIELDS]
    if rules is not None:
        fields += [column for column, _ in rules.exclude]
    return tuple(dict.fromkeys(fields))


def _flag(value: Any) -> bool:
    """A yes/no value from JSON or a table: true/1/"true"/"yes" -> True; missing -> False."""
    if isinstance(value, str):
        return value.strip().lower() in {"true", "1", "yes", "y", "t"}
    if value is None or (isinstance(value, float) and value != value):
        return False
    return bool(value)
