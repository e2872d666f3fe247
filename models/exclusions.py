"""Leads left out of training (`train.exclude_leads`): the sales desk's duplicates.

A lead a rep closed as `duplicate` is the same person as another lead; kept, that person would
count twice, one copy with the outcome and the other without it, teaching the model that the
very same behaviour both converts and does not. Its rows are dropped from every snapshot before
the time split, so train, validation, test and the baselines all see the same rows. The other
close reasons are not exclusions: the CRM's stage history already labels those leads
(docs/managers.md, "Closed with a reason, and the next retrain").
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import pandas as pd

LEAD_ID = "lead_id"


@dataclass(frozen=True)
class Exclusion:
    """What dropping the listed leads did to the training table."""

    listed: int  # distinct lead ids in the list
    leads: int  # of those, the leads that had rows in the table
    rows: int  # rows dropped (a lead has one row per snapshot it was open in)

    def describe(self) -> str:
        absent = self.listed - self.leads
        note = f" ({absent} listed lead(s) in no snapshot)" if absent else ""
        return (
            f"excluded {self.rows} row(s) of {self.leads} lead(s) of the {self.listed} listed{note}"
        )


def exclude_leads(table: pd.DataFrame, lead_ids: Iterable[str]) -> tuple[pd.DataFrame, Exclusion]:
    """`table` without the rows of `lead_ids` (in every snapshot), and what was dropped.

    Ids compare as text: a store's `00123` and a table's `00123` are the same lead, and an id
    read as the number 123 would not be.
    """
    listed = {str(i) for i in lead_ids}
    ids = table[LEAD_ID].astype(str)
    dropped = ids.isin(listed)
    kept = table[~dropped.to_numpy()].reset_index(drop=True)
    return kept, Exclusion(
        listed=len(listed), leads=int(ids[dropped].nunique()), rows=int(dropped.sum())
    )
