"""The scorer: a lead in, a calibrated probability and the agreement's decision out, fast.

One `Scorer` per loaded model, built once: it holds the booster, the category code tables, the
compiled SLA rules and the deal values, so scoring one lead is a dict look-up per feature, one
`Booster.predict` on a (1, n) float64 row with one thread (an OpenMP team costs more than it saves
for one row), a calibration by `np.interp`/Platt, and a few comparisons. No pandas on that path.

The same object scores batches (the HTTP batch route and `leadscore score`): rows are stacked into
one matrix and predicted with all threads, so service and batch give the same probabilities.

The jobs are in rooms of their own, and the Scorer puts them in order: the context it scores
under (scoring/context.py), encoding (scoring/encode.py), predicting (scoring/predict.py),
explaining (scoring/reasons.py) and deciding (scoring/decide.py).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import numpy as np

from foundation.errors import DataError
from scoring.decide import Decider
from scoring.encode import Encoder
from scoring.errors import InputError, error_item
from scoring.predict import Predictor
from scoring.ranges import FeatureBounds
from scoring.reasons import Reasons

if TYPE_CHECKING:
    from models.registry import LoadedModel
    from scoring.compiled_trees import CompiledTrees
    from scoring.context import ScoringContext
    from scoring.inputs import LeadInput


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
        self.loaded = loaded
        self.model = loaded.model
        self.context = context
        self.top_reasons = top_reasons
        # LightGBM threads for a batch. One per worker in the service: measured on 2 cores, a
        # 1000-row batch takes ~1.5 ms on one thread and ~8 ms with an OpenMP team that competes
        # with the event loop and the other workers. `leadscore score` passes 0 (all cores).
        self.batch_threads = batch_threads
        self.encoder = Encoder(self.model)
        self.feature_names = self.encoder.feature_names
        self.categorical = self.encoder.categorical
        self.numeric = self.encoder.numeric
        self.numeric_names = self.encoder.numeric_names
        self._category_key = self.encoder.category_key
        # Bound once: the per-lead paths call these without a hop through the parts.
        self.encode_row = self.encoder.encode_row
        self.encode_columns = self.encoder.encode_columns
        self.check_row = self.encoder.check_row
        metadata = getattr(self.model, "metadata", None) or {}
        self.model_ref = {
            # A local file's name is its stem ("model"); a flat-table model knows its own name.
            "name": metadata.get("model_name", loaded.name)
            if loaded.version is None
            else loaded.name,
            "version": None if loaded.version is None else str(loaded.version),
        }
        # Impossible values (refused) and the training ranges (flagged): scoring/ranges.py.
        self.bounds = FeatureBounds.of(self.model)
        self.decider = Decider(self.encoder, context)
        self.rule_fields = self.decider.rule_fields
        self.decision_inputs = self.decider.decision_inputs
        self.decide = self.decider.decide
        self.decide_columns = self.decider.decide_columns
        self.decide_many = self.decider.decide_many
        self.lead_features = self._lead_feature_builder()
        self.predictor = Predictor(self.model, len(self.feature_names), batch_threads, compiled)
        self.predict = self.predictor.predict
        self._compiled = compiled
        self.explaining = Reasons(self.model, self.encoder, context, top_reasons, batch_threads)
        self.reasons = self.explaining.reasons

    @property
    def family_phrases(self) -> dict[str, str] | None:
        """Reasons for the event families in the source's own words (None: no families)."""
        return self.explaining.family_phrases

    @property
    def reasons_are_cheap(self) -> bool:
        """True when reasons come from the linear-time TreeSHAP (worth no thread hop)."""
        return self.explaining.reasons_are_cheap

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


def _utc(ts: datetime) -> datetime:
    """Naive times are UTC (the data contract); aware ones are converted to UTC."""
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)
