"""I/O for the SLA commands: the agreement, personas and the validated history, read once.

The pure arithmetic lives in sla/; this module only finds the files (params.paths) and labels each
lead with its best-matching persona using the same persona code the features use.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from features.persona import Personas, company_size, firmographics, load_personas, persona_fit
from foundation.errors import DataError
from foundation.io import find_table, read_table
from foundation.params import Params
from sla import measure
from sla.agreement import Agreement, load_agreement
from sla.crm_stages import MergedStages, history_with_crm_stages
from sla.targets import History, Targets, targets_from_agreement


def personas_path(params: Params) -> Path:
    """The validated copy in data/interim when validate has run, else the project's file."""
    interim = Path(params.paths.interim) / "personas.yaml"
    return interim if interim.exists() else Path(params.paths.personas)


def lead_personas(leads: pd.DataFrame, personas: Personas, min_fit: float) -> pd.Series:
    """Best-matching persona per lead_id (`none` below `min_fit`), by the features' own code.

    Firmographics have no history in the data contract, so the persona does not depend on time.
    """
    fit = persona_fit(firmographics(leads), company_size(leads), personas, min_fit)
    return pd.Series(fit["persona"].to_numpy(), index=leads["lead_id"].to_numpy(), name="persona")


def deal_values_by_persona(personas: Personas) -> dict[str, float]:
    return {p.name: p.avg_deal_value_eur for p in personas.personas}


def load_history(params: Params) -> History:
    """Validated leads and stages (data/interim) plus the persona of each lead: the exports
    alone, as training and evaluation read them (reproducible from the DVC-tracked files)."""
    return read_history(params, crm_stages=False)[0]


def read_history(params: Params, crm_stages: bool = True) -> tuple[History, MergedStages]:
    """Validated leads and stages (data/interim) plus the persona of each lead; with
    `crm_stages`, the stages HubSpot and Salesforce sent (the store's crm_stages, up to the
    exports' end) count with the exports' (sla/crm_stages.py), as the SLA report counts them,
    and so do the leads created only in a CRM by then (crm_leads, as the daily run adds them).
    No store configured (no LEADSCORE_DB_URL, no leadscore.db): the exports alone. Also returns
    what the CRMs' stages changed."""
    interim = Path(params.paths.interim)
    try:
        leads = read_table(find_table(interim, "leads"))
        stages = read_table(find_table(interim, "stages"))
    except DataError as exc:
        raise DataError(
            f"{exc}. The agreement measures figures from the history: run `leadscore validate` "
            "first, or give --revenue-goal, --avg-deal and --close-rate"
        ) from exc
    merged = MergedStages(stages, 0, 0)
    if crm_stages:
        from store.crm_inbox import stored_crm  # here: the other readers need no DB

        crm = stored_crm()
        if crm is not None:
            crm_stages_sent, crm_records = crm
            if crm_records and len(leads):
                # Leads created only in a CRM by the exports' end count, as in the daily run.
                from crm.lead_profiles import crm_lead_profiles
                from daily.store_merge import with_ingested_leads

                profiles = crm_lead_profiles(crm_records, crm_stages_sent)
                leads = with_ingested_leads(leads, profiles, measure.data_end(leads, stages))
            merged = history_with_crm_stages(leads, stages, crm_stages_sent)
    personas = load_personas(personas_path(params))
    persona = lead_personas(leads, personas, params.features.persona_min_fit)
    return History(leads, merged.stages, persona), merged


def load_sla(params: Params, sla_path: Path | None = None) -> Agreement:
    return load_agreement(Path(sla_path or params.paths.sla))


def targets_from_files(params: Params, sla_path: Path | None = None) -> Targets:
    """`leadscore sla targets` without figures: the agreement plus the history it measures."""
    agreement = load_sla(params, sla_path)
    history = load_history(params)
    personas = load_personas(personas_path(params))
    return targets_from_agreement(agreement, history, deal_values_by_persona(personas))
