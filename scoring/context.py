"""What a scorer needs besides the model: the feature params and personas the model was trained
with, the agreement's compiled rules, the MQL threshold in force and where it came from, and the
deal values behind the expected value.

Expected value (EUR) = calibrated P(SQL) x the average deal value of the lead's best-matching
persona (sla.yaml `avg_deal_value_eur` when it is a mapping, otherwise personas.yaml; a lead
without a persona gets the mean of the personas' values). It is the deal value at stake in this
lead's SQL chance, the figure sales uses to rank leads; it does not discount the SQL -> customer
rate, which the agreement measures over the whole funnel rather than per lead.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from features.persona import Personas
    from foundation.params import FeatureParams
    from scoring.settings import ScoringSettings
    from sla.agreement import Agreement
    from sla.qualify import Rules


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
