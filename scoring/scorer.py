"""The scorer: a lead in, a calibrated probability and the agreement's decision out, fast.

One `Scorer` per loaded model, built once: it holds the booster, the category code tables, the
compiled SLA rules and the deal values, so scoring one lead is a dict look-up per feature, one
`Booster.predict` on a (1, n) float64 row with one thread (an OpenMP team costs more than it saves
for one row), a calibration by `np.interp`/Platt, and a few comparisons. No pandas on that path.

The same object scores batches (the HTTP batch route and `leadscore score`): rows are stacked into
one matrix and predicted with all threads, so service and batch give the same probabilities.

Expected value (EUR) = calibrated P(SQL) x the average deal value of the lead's best-matching
persona (sla.yaml `avg_deal_value_eur` when it is a mapping, otherwise personas.yaml; a lead
without a persona gets the mean of the personas' values). It is the deal value at stake in this
lead's SQL chance, the figure sales uses to rank leads; it does not discount the SQL -> customer
rate, which the agreement measures over the whole funnel rather than per lead.
"""

from __future__ import annotations

import array
import functools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import repeat
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from foundation.errors import DataError
from scoring.errors import InputError, error_item
from scoring.ranges import FeatureBounds

if TYPE_CHECKING:
    from features.persona import Personas
    from foundation.params import FeatureParams
    from models.registry import LoadedModel
    from scoring.compiled_trees import CompiledTrees
    from scoring.inputs import LeadInput
    from scoring.settings import ScoringSettings
    from sla.agreement import Agreement
    from sla.qualify import Rules

# Feature-row values that mean "unknown" for a numeric feature, as in LeadModel.encode_row.
_EMPTY = ("", None)


@dataclass(frozen=True)
class ScoringContext:
    """What scoring needs besides the model: feature params, personas, the agreement's rules."""

    feature_params: FeatureParams | None = None
    personas: Personas | None = None
    agreement: Agreement | None = None
    rules: Rules | None = None
    threshold: float | None = None
    threshold_source: str | None = None
    deal_values: dict[str, float] = field(default_factory=dict)
    default_deal_value: float | None = None
    notes: tuple[str, ...] = ()


def read_threshold_file(path: Path) -> float | None:
    """The `auto` threshold the SLA report resolved (artifacts/sla/threshold.json), if any."""
    from foundation.io import read_json

    path = Path(path)
    if not path.exists():
        return None
    data = read_json(path)
    value = data.get("threshold") if isinstance(data, dict) else data
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def resolve_threshold(
    agreement: Agreement, override: float | None, threshold_file: Path | None
) -> tuple[float | None, str | None]:
    """The MQL threshold in force and where it came from: override, fixed, or the auto file."""
    from sla.agreement import AUTO

    if override is not None:
        return float(override), "override (LEADSCORE_MQL_THRESHOLD)"
    fixed = agreement.mql_rule.score_threshold
    if fixed != AUTO:
        return float(fixed), "fixed (sla.yaml)"
    value = read_threshold_file(threshold_file) if threshold_file is not None else None
    return (value, f"auto ({threshold_file})") if value is not None else (None, None)


def deal_values_of(
    agreement: Agreement | None, personas: Personas | None
) -> tuple[dict[str, float], float | None]:
    """Average deal value per persona: sla.yaml's mapping first, then personas.yaml.

    `measured` values need the CRM history, which the service does not read; it uses the
    personas.yaml planning figures instead (the SLA report shows the measured ones).
    """
    values: dict[str, float] = {}
    if personas is not None:
        values.update({p.name: float(p.avg_deal_value_eur) for p in personas.personas})
    given = agreement.avg_deal_value_eur if agreement is not None else None
    if isinstance(given, dict):
        values.update({k: float(v) for k, v in given.items()})
    other = values.pop("other", None)
    default = (
        other if other is not None else (float(np.mean(list(values.values()))) if values else None)
    )
    return values, default


def build_context(
    feature_params: FeatureParams | None,
    personas: Personas | None,
    agreement: Agreement | None,
    threshold_override: float | None = None,
    threshold_file: Path | None = None,
) -> ScoringContext:
    """Compile the agreement into rules once; an unresolved `auto` threshold is a note, not an
    error: scores, tiers and grades still flow, decisions wait for the threshold."""
    from sla.qualify import compile_rules

    notes: list[str] = []
    rules = threshold = source = None
    if agreement is not None:
        threshold, source = resolve_threshold(agreement, threshold_override, threshold_file)
        if threshold is None:
            notes.append(
                "mql_rule.score_threshold is `auto` and no resolved threshold was found "
                f"({threshold_file}); run `leadscore sla report` or set LEADSCORE_MQL_THRESHOLD. "
                "Decisions are left out until then."
            )
            rules = compile_rules(agreement, threshold=math.inf)
        else:
            rules = compile_rules(agreement, threshold=threshold)
    deal_values, default = deal_values_of(agreement, personas)
    return ScoringContext(
        feature_params=feature_params,
        personas=personas,
        agreement=agreement,
        rules=rules,
        threshold=threshold,
        threshold_source=source,
        deal_values=deal_values,
        default_deal_value=default,
        notes=tuple(notes),
    )


def feature_inputs(
    model: Any, params_path: Path, personas_path: Path
) -> tuple[FeatureParams, Personas | None]:
    """The feature params and personas the model was trained with (stored in its metadata by
    the train stage), so a later edit of params.yaml or personas.yaml cannot skew its scores;
    the files only for models that carry none."""
    from features.persona import Personas, load_personas
    from foundation.params import FeatureParams, load_params

    metadata = getattr(model, "metadata", None) or {}
    if "feature_params" in metadata and "personas" in metadata:
        return (
            # A model trained before funnel-state features existed has no such key: off.
            FeatureParams.model_validate({"funnel_state": False, **metadata["feature_params"]}),
            Personas.model_validate(metadata["personas"]),
        )
    personas = load_personas(personas_path) if Path(personas_path).exists() else None
    # Outside a project (a service run from the registry) the defaults are the documented ones.
    return load_params(params_path, missing_ok=True).features, personas


def load_context(settings: ScoringSettings, model: Any = None) -> ScoringContext:
    """The model's own feature params and personas (see feature_inputs), and sla.yaml."""
    from sla.agreement import load_agreement

    feature_params, personas = feature_inputs(model, settings.params_path, settings.personas_path)
    return build_context(
        feature_params=feature_params,
        personas=personas,
        agreement=load_agreement(settings.sla_path),
        threshold_override=settings.mql_threshold,
        threshold_file=settings.threshold_path,
    )


def _bad_number(value: Any) -> bool:
    """True when a numeric feature value cannot be read as a number (encode_row would refuse)."""
    if value is None or isinstance(value, int | float):  # bool is an int
        return False
    if isinstance(value, str):
        if value == "":
            return False
        try:
            float(value)
        except ValueError:
            return True
        return False
    return True


class Scorer:
    """Scores leads with one loaded model under one context; immutable once built."""

    def __init__(
        self,
        loaded: LoadedModel,
        context: ScoringContext,
        top_reasons: int = 3,
        batch_threads: int = 1,
        compiled: CompiledTrees | None = None,
    ) -> None:
        from foundation.categories import category_key

        self.loaded = loaded
        self.model = loaded.model
        self.context = context
        self.top_reasons = top_reasons
        # LightGBM threads for a batch. One per worker in the service: measured on 2 cores, a
        # 1000-row batch takes ~1.5 ms on one thread and ~8 ms with an OpenMP team that competes
        # with the event loop and the other workers. `leadscore score` passes 0 (all cores).
        self.batch_threads = batch_threads
        self.feature_names: tuple[str, ...] = tuple(self.model.feature_names)
        self.categorical: frozenset[str] = frozenset(self.model.categorical)
        self.numeric: tuple[str, ...] = tuple(
            f for f in self.feature_names if f not in self.categorical
        )
        self.numeric_names: frozenset[str] = frozenset(self.numeric)
        self._category_key = category_key
        self._codes: dict[str, dict[str, float]] = {
            c: {v: float(i) for i, v in enumerate(self.model.categories[c])}
            for c in self.model.categorical
        }
        self._numeric_index = np.array(
            [j for j, f in enumerate(self.feature_names) if f not in self.categorical],
            dtype=np.intp,
        )
        self._category_plan = [
            (j, f, self._codes[f]) for j, f in enumerate(self.feature_names) if f in self._codes
        ]
        metadata = getattr(self.model, "metadata", None) or {}
        self.model_ref = {
            # A local file's name is its stem ("model"); a flat-table model knows its own name.
            "name": metadata.get("model_name", loaded.name)
            if loaded.version is None
            else loaded.name,
            "version": None if loaded.version is None else str(loaded.version),
        }
        self._index = {name: j for j, name in enumerate(self.feature_names)}
        # Impossible values (refused) and the training ranges (flagged): scoring/ranges.py.
        self.bounds = FeatureBounds.of(self.model)
        self.rule_fields = decision_fields(context.rules)
        self.lead_features = self._lead_feature_builder()
        self._single_row = None
        # Reasons: exact SHAP in linear time (models/linear_treeshap.py), else pred_contrib.
        self._explainer = None
        # Batches: the trees compiled to machine code (scoring/compiled_trees.py), else the booster.
        self._compiled = compiled
        if hasattr(self.model, "booster") and hasattr(self.model, "calibrator"):
            from models.linear_treeshap import linear_treeshap
            from scoring.fast_booster import single_row_predictor

            self._single_row = single_row_predictor(self.model.booster, len(self.feature_names))
            self._explainer = linear_treeshap(self.model.booster)

    # ---- inputs -> feature values -------------------------------------------------------------

    def _lead_feature_builder(self) -> Any:
        """The single-lead feature function when this model runs on the pipeline's features.

        A model trained on a flat CRM export (`leadscore train-table`) has its own columns: it
        only takes feature rows, and a lead + events request is refused with a clear 422.
        """
        params, personas = self.context.feature_params, self.context.personas
        if params is None or personas is None:
            return None
        from features.build import feature_spec

        spec = feature_spec(params)
        if not set(self.feature_names) <= {*spec.numeric, *spec.categorical}:
            return None
        from scoring.features_fast import FastFeatures

        return FastFeatures(params, personas)

    def features_of(self, item: LeadInput, as_of: datetime) -> tuple[dict[str, Any], np.ndarray]:
        """Feature values for one request item (a row as given, or computed from lead + events)
        and their encoded (1, n_features) row; a value that is not a number is a 422."""
        if item.features is not None:
            try:
                x = self.encode_row(item.features)
            except (DataError, OverflowError):
                self.check_row(item.features, ("features",))
                message = "a feature value is not usable"
                raise InputError([error_item(("features",), message, "value_error")]) from None
            impossible = self.bounds.impossible(x)
            if impossible:
                raise InputError(self.bounds.errors(impossible[0], lambda n: ("features", n)))
            return item.features, x
        values = self.lead_values(item, as_of)
        return values, self.encode_row(values)

    def lead_values(self, item: LeadInput, as_of: datetime) -> dict[str, Any]:
        """Features computed from the lead's profile and events (single-lead fast path)."""
        if self.lead_features is None:
            raise InputError(
                [
                    error_item(
                        ("lead",),
                        "this model was trained on a flat lead table: send `features` rows "
                        "(see GET /v1/model)",
                        "model_takes_feature_rows",
                    )
                ]
            )
        assert item.lead is not None
        return self.lead_features.from_request(item.lead, item.events, as_of, item.stages)

    def check_row(self, row: Mapping[str, Any], loc: Sequence[str | int]) -> None:
        """422 naming every numeric feature whose value is not a number."""
        bad = [n for n in self.numeric if _bad_number(row.get(n))]
        if bad:
            raise InputError(
                [
                    error_item((*loc, n), "Input should be a valid number", "float_parsing")
                    for n in bad
                ]
            )

    def as_of_of(self, item: LeadInput, default: datetime | None, now: datetime) -> datetime:
        """The time a lead is scored as of: its own `as_of`, the batch's, or now.

        A lead created after the defaulted time (the CRM's clock is ahead of ours) is scored as of
        its creation; an explicit `as_of` before the lead existed is the caller's error.
        """
        given = item.as_of or default
        as_of = _utc(given) if given is not None else now
        if item.lead is not None:
            created = _utc(item.lead.created_at)
            if created > as_of:
                if given is not None:
                    raise InputError(
                        [
                            error_item(
                                ("lead", "created_at"),
                                "the lead was created after `as_of`: nothing to score yet",
                                "created_after_as_of",
                            )
                        ]
                    )
                as_of = created
        return as_of

    # ---- scoring --------------------------------------------------------------------------------

    def encode_row(self, values: Mapping[str, Any]) -> np.ndarray:
        """One row as (1, n_features) float64, equal to LeadModel.encode_row (a test pins it).

        The numeric features go through one `np.array(..., dtype=float64)` (None -> NaN) instead
        of a Python loop of `float()` calls: about 4x faster for ~120 features. Anything numpy
        refuses (an empty string, a word) falls back to LeadModel.encode_row, which decides.
        """
        try:
            numbers = np.array(list(map(values.get, self.numeric)), dtype=np.float64)
        except (TypeError, ValueError, OverflowError):
            return self.model.encode_row(values)
        x = np.empty((1, len(self.feature_names)), dtype=np.float64)
        x[0, self._numeric_index] = numbers
        key, nan = self._category_key, math.nan
        for j, name, codes in self._category_plan:
            v = values.get(name)
            if type(v) is str:
                x[0, j] = codes.get(v, nan)
            else:
                k = key(v)
                x[0, j] = nan if k is None else codes.get(k, nan)
        return x

    def encode_columns(
        self, columns: Mapping[str, Sequence[Any]], n: int
    ) -> tuple[np.ndarray, dict[int, list[str]]]:
        """Columnar feature values -> (n, n_features) float64 in training order, plus bad cells.

        Numeric columns go through one `np.asarray` (None -> NaN), or come as float64 arrays
        already (`serve.column_json`); a column that refuses falls back to cell by cell so a bad
        value fails only its own lead. Categories use the same key
        function and code tables as LeadModel.encode_row (a test pins equality).
        """
        # Filled one feature at a time, so one row per feature (contiguous writes); the matrix
        # is its transpose, a view: whoever needs C order (compiled trees) copies once.
        XT = np.full((len(self.feature_names), n), np.nan, dtype=np.float64)
        bad: dict[int, list[str]] = {}
        key = self._category_key
        for j, name in enumerate(self.feature_names):
            col = columns.get(name)
            if col is None:
                continue
            if type(col) is np.ndarray:  # numbers only, read by the fast JSON path
                XT[j] = col
                continue
            if name in self._codes:
                codes = self._codes[name]
                nan = math.nan
                types = set(map(type, col))
                if types == _NONE_ONLY:  # unknown for every lead (common: NaN already)
                    continue
                if types <= _STR_OR_NONE:
                    # Text and nulls only (the usual column): C-level look-ups, unknown and null
                    # -> None -> NaN. About 10x the comprehension below on 1000 cells.
                    XT[j] = np.array(list(map(codes.get, col)), dtype=np.float64)
                    continue
                # Strings are their own key: skip the call for the common case (1000s of cells).
                XT[j] = [
                    codes.get(v, nan)
                    if type(v) is str
                    else (nan if (k := key(v)) is None else codes.get(k, nan))
                    for v in col
                ]
                continue
            if col and col[0] is None and col.count(None) == n:  # unknown for every lead
                continue
            try:
                XT[j] = floats(col)
            except (TypeError, ValueError, OverflowError):
                for i, v in enumerate(col):
                    if _bad_number(v):
                        bad.setdefault(i, []).append(name)
                    elif v not in _EMPTY:
                        XT[j, i] = float(v)
        return XT.T, bad

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Calibrated probabilities; one thread for a single row (LightGBM's single-row fast
        path when available: the same raw score, a test pins it), `batch_threads` for a batch."""
        if len(X) == 1 and self._single_row is not None:
            raw = np.array([self._single_row.raw_score(X[0])])
            return self.model.calibrator(raw)
        if self._compiled is not None and len(X) > 1:
            return self.model.calibrator(self._compiled.raw_score(X))
        return self.model.predict_proba(X, num_threads=1 if len(X) == 1 else self.batch_threads)

    @functools.cached_property
    def family_phrases(self) -> dict[str, str] | None:
        """Reasons for the event families in the source's own words (None: no families)."""
        params = self.context.feature_params
        if params is None or not params.event_families:
            return None
        from features.event_families import family_phrases

        return family_phrases(params)

    @property
    def reasons_are_cheap(self) -> bool:
        """True when reasons come from the linear-time TreeSHAP (a fraction of a millisecond a
        lead: worth no thread hop), False when from LightGBM's pred_contrib."""
        return self._explainer is not None

    def reasons(self, X: np.ndarray, rows: Sequence[Mapping[str, Any]]) -> list[dict[str, list]]:
        """Top reasons for and against, per row, from the model's SHAP contributions (computed
        in linear time when the extension is built; LightGBM's pred_contrib otherwise).

        The words show what the model saw: numbers as encoded (a numeric string as its number,
        an empty value as unknown), categories by their key.
        """
        from models.explain import reasons

        if self._explainer is not None:
            contrib = self._explainer.contributions(X)
        else:
            threads = 1 if len(X) == 1 else self.batch_threads
            contrib = self.model.contributions(X, num_threads=threads)
        out = []
        phrases = self.family_phrases
        for i, row in enumerate(rows):
            seen = _SeenValues(self, X[i], row)
            r = reasons(contrib[i], self.feature_names, seen, k=self.top_reasons, overrides=phrases)
            out.append(
                {
                    "reasons_for": [_reason(x) for x in r["for"]],
                    "reasons_against": [_reason(x) for x in r["against"]],
                }
            )
        return out

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
                out[name] = self._category_key(row.get(name))
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

    def score_matrix(
        self,
        X: np.ndarray,
        rows: Sequence[Mapping[str, Any]],
        as_ofs: Sequence[datetime],
        lead_ids: Sequence[str | None],
        explain: bool,
    ) -> list[dict[str, Any]]:
        """Score encoded rows `X` (raw values in `rows`, for the rules and the reasons)."""
        probabilities = self.predict(X)
        if len(X) == 1:
            results = [{"lead_id": lead_ids[0]}]
            results[0].update(
                self.decide(self.decision_inputs(rows[0], X[0]), float(probabilities[0]), as_ofs[0])
            )
        else:
            results = self.decide_many(X, rows, probabilities, as_ofs, lead_ids)
        for result, flags in zip(results, self.bounds.out_of_range(X), strict=True):
            result["out_of_range"] = flags
        if explain and results:
            for result, why in zip(results, self.reasons(X, rows), strict=True):
                result.update(why)
        return results

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
        key = self._category_key
        for name in self.rule_fields:
            j = self._index.get(name)
            if j is not None and name not in self.categorical:
                inputs[name] = X[:, j]
            elif j is not None:
                values = raw(name)
                # Text and nulls (the usual column) are their own keys: no call per cell.
                inputs[name] = (
                    list(values)
                    if set(map(type, values)) <= _STR_OR_NONE
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

    def score_columns(
        self,
        X: np.ndarray,
        raw_columns: Mapping[str, Sequence[Any]],
        as_ofs: Sequence[datetime],
        lead_ids: Sequence[str | None],
        explain: bool,
    ) -> dict[str, list[Any]]:
        """Score encoded rows and answer column-wise (the columnar batch's answer);
        `raw_columns` are the request's columns for these leads (the rules read them)."""
        probabilities = self.predict(X)
        columns: dict[str, list[Any]] = self.decide_columns(
            X, None, probabilities, as_ofs, lead_ids, raw_columns=raw_columns
        )
        columns["out_of_range"] = self.bounds.out_of_range(X)
        if explain and len(X):
            names = list(raw_columns)
            rows = [
                dict(zip(names, v, strict=True)) for v in zip(*raw_columns.values(), strict=True)
            ]
            why = self.reasons(X, rows)
            columns["reasons_for"] = [w["reasons_for"] for w in why]
            columns["reasons_against"] = [w["reasons_against"] for w in why]
        return columns

    def score_rows(
        self,
        rows: Sequence[Mapping[str, Any]],
        as_ofs: Sequence[datetime],
        lead_ids: Sequence[str | None],
        explain: bool,
        encoded: Sequence[np.ndarray] | None = None,
    ) -> list[dict[str, Any]]:
        """Score feature-value rows as one matrix (`encoded` rows if already encoded)."""
        if encoded is None:
            encoded = [self.encode_row(r) for r in rows]
        X = encoded[0] if len(encoded) == 1 else np.vstack(encoded)
        return self.score_matrix(X, rows, as_ofs, lead_ids, explain)

    def score_one(
        self, item: LeadInput, explain: bool, now: datetime | None = None
    ) -> dict[str, Any]:
        """The whole single-lead path: input -> features -> row -> probability -> decision."""
        now = now or datetime.now(UTC)
        as_of = self.as_of_of(item, None, now)
        values, x = self.features_of(item, as_of)
        lead_id = item.lead_id or (item.lead.lead_id if item.lead is not None else None)
        return self.score_rows([values], [as_of], [lead_id], explain, [x])[0]

    def probe(self) -> None:
        """Score a lead with every feature unknown (and, when supported, a lead with events):
        a model that cannot do this must not replace the one serving."""
        from scoring.inputs import LeadInput

        now = datetime.now(UTC)
        results = self.score_rows([{}], [now], [None], explain=True)
        if self.lead_features is not None:
            item = LeadInput.model_validate(
                {
                    "lead": {"created_at": now.isoformat(), "channel": "probe"},
                    "events": [{"ts": now.isoformat(), "event_type": "site_visit"}],
                }
            )
            results.append(self.score_one(item, explain=False, now=now))
        for r in results:
            p = r["probability"]
            if not (isinstance(p, float) and 0.0 <= p <= 1.0):
                raise ValueError(f"probe lead scored {p!r}, not a probability")


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


UNSUBSCRIBED = "unsubscribed"
_STR_OR_NONE = frozenset({str, type(None)})
_NONE_ONLY = frozenset({type(None)})


def floats(values: Sequence[Any]) -> np.ndarray:
    """A list of JSON numbers (null -> NaN, numeric strings and booleans as numpy reads them) as
    float64. `array.array` reads a list of plain numbers in one C loop, about 1.5x numpy's
    generic conversion, and still 1.5x with the nulls swapped for NaN first (the usual reason a
    numeric column reaches here as a list: simdjson gave the plain ones as float64 already); a
    list holding anything else goes through numpy, which decides."""
    try:
        return np.frombuffer(array.array("d", values), dtype=np.float64)
    except TypeError:
        pass
    try:
        nan = math.nan
        return np.frombuffer(
            array.array("d", [nan if v is None else v for v in values]), dtype=np.float64
        )
    except TypeError:
        return np.asarray(values, dtype=np.float64)


NUMERIC_RULE_FIELDS = ("fit_score", "engagement_score", "n_unsubscribe", "newsletter_subscribed")
_ABSENT = object()


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


class _SeenValues:
    """One lead's feature values as the model saw them, by feature position, computed only for
    the few features a reason shows (all of them cost a third of a reasons request)."""

    def __init__(self, scorer: Scorer, x: np.ndarray, row: Mapping[str, Any]) -> None:
        self._scorer, self._x, self._row = scorer, x, row

    def __getitem__(self, j: int) -> Any:
        name = self._scorer.feature_names[j]
        if name in self._scorer.categorical:
            return self._scorer._category_key(self._row.get(name))
        return float(self._x[j])


def _reason(r: Any) -> dict[str, Any]:
    value = r.value
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        value = None
    return {"feature": r.feature, "text": r.text, "value": value, "contribution": r.contribution}


def _utc(ts: datetime) -> datetime:
    """Naive times are UTC (the data contract); aware ones are converted to UTC."""
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)
