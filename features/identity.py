"""Identity: which lead rows of an export are one person, and the merge that makes them one lead.

The key is a column of the leads export whose equal values (trimmed, case-folded) are one person,
such as the e-mail, or an id-map export (`leads.identity_map`: source lead id -> person id), the
merge history a CRM or a customer-data platform keeps. Rows of one person merge into the earliest
created row (its lead_id and created_at; each attribute the first non-empty one in creation
order), and the events and stages of the others follow the person (`follow_person`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.mapping_checks import parse_times
from features.mapping_file import MappingFile


def identity_key(
    leads_source: pd.DataFrame,
    lead_ids: pd.Series,
    mf: MappingFile,
    id_map: pd.DataFrame | None,
    names: dict[str, str],
) -> tuple[pd.Series | None, list[str]]:
    """The identity key of each lead row (None: the mapping merges nobody) and the problems of
    the id map: a lead id it gives two persons is an error naming both rows."""
    section = mf.mapping.leads
    if section.identity is not None:
        return leads_source[section.identity], []
    if section.identity_map is None:
        return None, []
    if id_map is None:
        raise ValueError("the mapping names leads.identity_map: pass its export")
    own = id_map[section.identity_map.lead_id].astype("string").str.strip()
    person = id_map[section.identity_map.person].astype("string").str.strip()
    pairs = pd.DataFrame({"own": own, "person": person}).dropna()
    pairs = pairs[pairs["own"].ne("") & pairs["person"].ne("")].drop_duplicates()
    clash = pairs["own"].duplicated(keep=False)
    problems = []
    if clash.any():
        rows = pairs.index[clash.to_numpy()][:2] + 2  # file lines: header is line 1
        first = pairs.loc[clash, "own"].iloc[0]
        problems.append(
            f"{mf.where('leads', 'identity_map')}: {names['identity_map']} gives lead id "
            f"{first!r} two persons (lines {rows[0]:,} and {rows[1]:,}); one id, one person"
        )
        pairs = pairs[~pairs["own"].duplicated(keep="first")]
    ids = lead_ids.astype("string").str.strip()
    # An id the map does not list is a person of its own, keyed by its own id, so a person id
    # that is itself one of the leads' ids merges with that lead.
    key = ids.map(pairs.set_index("own")["person"]).fillna(ids)
    return key, problems


def merge_identities(leads: pd.DataFrame, key: pd.Series) -> tuple[pd.DataFrame, dict[str, str]]:
    """One row per person: rows sharing a non-empty key merge into the earliest created one
    (see the module docstring). Returns the leads (in file order of each person's first row)
    and the map old lead_id -> the person's lead_id."""
    folded = key.astype("string").str.strip().str.casefold()
    has_key = (folded.notna() & folded.ne("")).to_numpy()
    order = pd.DataFrame(
        {"key": folded, "created": parse_times(leads["created_at"]), "row": np.arange(len(leads))}
    )
    keyed = order[has_key].sort_values(["key", "created", "row"], na_position="last")
    if keyed.empty or not keyed["key"].duplicated().any():
        return leads, {}
    person = keyed.groupby("key", sort=False)["row"].transform("first").to_numpy()
    ids = leads["lead_id"].to_numpy()
    own = ids[keyed["row"].to_numpy()]
    id_map = {str(o): str(p) for o, p in zip(own, ids[person], strict=True) if o != p}
    # Sorted by creation (unparseable last), so `first` (first non-empty per column) takes the
    # earliest created_at and each attribute from the earliest row that has it.
    merged = leads.iloc[keyed["row"].to_numpy()].assign(_person=person)
    merged = merged.groupby("_person", sort=False).first()
    merged["lead_id"] = ids[merged.index.to_numpy()]
    rows = np.concatenate([merged.index.to_numpy(), np.flatnonzero(~has_key)])
    out = pd.concat([merged[leads.columns], leads[~has_key]], ignore_index=True)
    return out.iloc[np.argsort(rows, kind="stable")].reset_index(drop=True), id_map


def follow_person(frame: pd.DataFrame, id_map: dict[str, str]) -> pd.DataFrame:
    if not id_map or frame.empty:
        return frame
    ids = frame["lead_id"].astype("string")
    mapped = ids.map(id_map)
    return frame.assign(lead_id=mapped.fillna(ids).astype(frame["lead_id"].dtype))
