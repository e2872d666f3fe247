"""The stages CRMs sent (the store's `crm_stages`: HubSpot, Salesforce) counted with the file
exports' stage history, so a status a rep set in the CRM this morning counts in the SLA report,
the daily recap, the sales desk and the closed loop like a row of tomorrow's export would.

One fact, one row: a lead reaching a stage is the same fact whichever source says it, so
- a stage the exports do not have for that lead is added (deal value empty: CRMs send none);
- a stage both have keeps the exports' row (its deal value stays) at the EARLIER of the two
  times: the earliest time of a stage wins, the rule the exports' readers apply (they take the
  first row of each stage) and the store's own (store/crm_inbox.py keeps a stage's earliest);
- a CRM stage after the cut-off does not exist yet for that run (the daily run: its cut-off;
  the SLA report and the Closed-loop page: the exports' own end, `history_with_crm_stages`, so
  a live CRM never stretches the months a stale export covers).

Pure: the callers read the store and pass the rows in (sla/ imports no store).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from sla import measure

CRM_STAGE_COLUMNS = ("lead_id", "stage", "ts")


@dataclass(frozen=True)
class MergedStages:
    """The stage history with the CRMs' stages in it, and what they changed."""

    stages: pd.DataFrame
    added: int  # CRM stages the exports did not have
    earlier: int  # CRM stages that moved an exported stage's time earlier

    def note(self) -> str | None:
        """One line for a run's summary; None when the CRMs changed nothing."""
        if not (self.added or self.earlier):
            return None
        return (
            f"CRM stages counted: {self.added:,} not in the exports, {self.earlier:,} earlier "
            "than the exports' time (the store's crm_stages: docs/crm.md)"
        )


def with_crm_stages(
    stages: pd.DataFrame, crm: pd.DataFrame, cut_off: pd.Timestamp | None = None
) -> MergedStages:
    """`stages` (the exports' columns and dtypes, every row kept) with the CRM's `lead_id,
    stage, ts` rows at or before `cut_off` merged in (see the module docstring)."""
    missing = [c for c in CRM_STAGE_COLUMNS if c not in crm.columns]
    if missing:
        raise ValueError(f"CRM stages: column(s) {', '.join(missing)} missing")
    # Series, not .to_numpy(): a tz-aware column would become one Timestamp object per row.
    crm = pd.DataFrame(
        {
            "lead_id": crm["lead_id"].astype(str).reset_index(drop=True),
            "stage": crm["stage"].astype(str).reset_index(drop=True),
            "ts": pd.to_datetime(crm["ts"], utc=True).reset_index(drop=True),
        }
    )
    if cut_off is not None:
        crm = crm[crm["ts"] <= cut_off]
    # One row per lead and stage, its earliest (the store keeps one; a caller's frame may not).
    crm = crm.sort_values("ts", kind="stable").drop_duplicates(["lead_id", "stage"])
    if not len(crm):
        return MergedStages(stages, 0, 0)

    # The exports' earliest row of each lead and stage the CRMs speak of: the row a CRM time
    # may move earlier (only those leads' rows are sorted, not the whole history).
    lead_ids = stages["lead_id"].astype(str)
    concerned = np.flatnonzero(lead_ids.isin(crm["lead_id"].unique()).to_numpy())
    exported = pd.DataFrame(
        {
            "lead_id": lead_ids.iloc[concerned].reset_index(drop=True),
            "stage": stages["stage"].astype(str).iloc[concerned].reset_index(drop=True),
            "exported_ts": pd.to_datetime(stages["ts"], utc=True)
            .iloc[concerned]
            .reset_index(drop=True),
            "position": concerned,
        }
    )
    first = exported.sort_values(["exported_ts", "position"]).drop_duplicates(["lead_id", "stage"])
    joined = crm.merge(first, on=["lead_id", "stage"], how="left")
    known = joined["position"].notna().to_numpy()
    sooner = known & (joined["ts"] < joined["exported_ts"]).to_numpy()

    out = stages.copy()
    if sooner.any():
        moved = joined[sooner]
        column = out.columns.get_loc("ts")
        out.iloc[moved["position"].astype(int).to_numpy(), column] = (
            moved["ts"].astype(out["ts"].dtype).array
        )
    new = joined.loc[~known, list(CRM_STAGE_COLUMNS)]
    if len(new):
        out = _concat_alike(out, new)
    return MergedStages(out, len(new), int(sooner.sum()))


def _concat_alike(stages: pd.DataFrame, new: pd.DataFrame) -> pd.DataFrame:
    """`stages` plus the CRM's rows in its columns and dtypes (other columns empty), so the
    exports' types survive (a category column gains the new values as categories)."""
    rows = new.reindex(columns=stages.columns)
    for column in stages.columns:
        dtype = stages[column].dtype
        if isinstance(dtype, pd.CategoricalDtype):
            categories = dtype.categories.union(pd.Index(rows[column].dropna().unique()))
            stages = stages.assign(**{column: stages[column].cat.set_categories(categories)})
            rows[column] = pd.Categorical(rows[column], categories=categories)
        elif column in CRM_STAGE_COLUMNS:
            rows[column] = rows[column].astype(dtype)
        else:  # empty in a CRM row: the column's own missing value
            rows[column] = pd.Series([None] * len(rows), index=rows.index).astype(dtype)
    return pd.concat([stages, rows], ignore_index=True)


def history_with_crm_stages(
    leads: pd.DataFrame, stages: pd.DataFrame, crm: pd.DataFrame
) -> MergedStages:
    """The history the SLA report measures, with the CRMs' stages up to the exports' last time
    (`measure.data_end`): the report's months stay those the exports cover."""
    if not len(crm) or not (len(leads) or len(stages)):
        return MergedStages(stages, 0, 0)
    return with_crm_stages(stages, crm, measure.data_end(leads, stages))
