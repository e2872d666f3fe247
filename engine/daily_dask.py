"""The daily run's scores of the open leads, in this process or on a Dask cluster.

`day_scores` is the one implementation: features of the open leads as of the cut-off
(`scoring.score_file.prepare`, the code training used), the scorer's columns (`score_prepared`,
the service's scorer), then what the hand-off and the store need: the lead's channel, the
fit x engagement grade, the top reasons of every MQL (SHAP) and the activity counts read off the
features (daily/activity.py). `leadscore daily` calls it on the whole table with the pandas
engine; with the Dask engine `day_partition` calls it on each lead_id partition of the day's
validated Parquet (leads, events and stages shuffled by lead_id, engine/partition.py), so every
rule has one implementation and every lead is scored with its own rows only.

On the cluster each partition writes its feature rows and its scores as part files under the
day's folder (`features.parquet/`, `scores.parquet/`); only the scores travel back: one row per
open lead (with its reasons and activity counts), which is what the hand-off, the store and the
recap need. The event log stays on the workers.

What the store adds to the exports (events posted live, leads first known from an `identify`
or a CRM, the CRMs' stages: `StoreAdditions`) is small: it travels to the workers as pandas
frames, partitioned by lead like the exports, and each partition merges its share with the
pure functions the pandas path uses (daily/store_merge.py, sla/crm_stages.py), so a lead's
features and score are the same on both engines.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from foundation.completion import mark_complete, mark_started, require_complete
from foundation.errors import DataError, LeadscoreError

FEATURES_DIR = "features.parquet"
SCORES_DIR = "scores.parquet"
TABLES: tuple[str, ...] = ("leads", "events", "stages")
JSON_COLUMNS: tuple[str, ...] = ("reasons", "activity")


@dataclass(frozen=True)
class StoreAdditions:
    """What the daily run adds to the exports from the store, up to the cut-off: the leads
    first known from an `identify` or a CRM (the exports' columns), the events posted to
    `POST /v1/events`, the stages CRMs sent (lead_id, stage, ts, crm, crm_status)."""

    leads: pd.DataFrame
    events: pd.DataFrame
    stages: pd.DataFrame

    def frames(self) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
        return self.leads, self.events, self.stages


def with_store_additions(
    exported: tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame],
    added: tuple[pd.DataFrame | None, pd.DataFrame | None, pd.DataFrame | None],
    as_of: pd.Timestamp,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The exports' leads, events and stages with the store's (None: nothing to add), merged
    as the pandas path merges them (pipeline/daily_store_inputs.py `add_ingested`, `add_crm_leads`,
    `add_crm_stages`): the exports keep precedence, each event and stage fact once."""
    from daily.store_merge import with_ingested_events, with_ingested_leads
    from sla.crm_stages import with_crm_stages

    leads, events, stages = exported
    added_leads, added_events, crm = added
    if added_leads is not None and len(added_leads):
        leads = with_ingested_leads(leads, added_leads, as_of)
    if added_events is not None and len(added_events):
        events = with_ingested_events(events, added_events, as_of)
    if crm is not None and len(crm):
        stages = with_crm_stages(stages, crm, as_of).stages
    return leads, events, stages


def explain(scorer: Any, features: pd.DataFrame, as_of: pd.Timestamp) -> list[dict[str, Any]]:
    """The scorer's top reasons for and against (SHAP), for the given feature rows."""
    from scoring.score_file import Prepared, score_prepared

    if not len(features):
        return []
    prepared = Prepared(features, features["lead_id"].astype(str).tolist(), "leads")
    explained = score_prepared(scorer, prepared, as_of.to_pydatetime(), explain=True)
    return [
        {"reasons_for": json.loads(f), "reasons_against": json.loads(a)}
        for f, a in zip(explained["reasons_for"], explained["reasons_against"], strict=True)
    ]


def day_scores(
    scorer: Any,
    scope: pd.DataFrame,
    events: pd.DataFrame,
    stages: pd.DataFrame,
    as_of: pd.Timestamp,
    progress: Callable[[int], None] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Features and scores of the open leads `scope` as of `as_of`; rows of both frames align.

    The stages feed the funnel-state features: without them the model would score every lead
    as never handed over, which is not the population it was trained on. The scores carry,
    besides the scorer's columns: `channel`, `grade` (e.g. `A2`), `reasons` (for every MQL,
    None otherwise) and `activity` (the counts of daily.activity, every lead)."""
    from daily.activity import activity_dicts
    from scoring.score_file import prepare, score_prepared

    when = as_of.to_pydatetime()
    prepared = prepare(scope, scorer, events, when, source="leads", stages=stages)
    scores = score_prepared(scorer, prepared, when, progress=progress)
    features = prepared.features.reset_index(drop=True)
    scores = scores.reset_index(drop=True)
    scores["channel"] = features["channel"].to_numpy()
    scores["grade"] = [
        None if f is None or e is None else f"{f}{e}"
        for f, e in zip(scores["fit_grade"], scores["engagement_grade"], strict=True)
    ]
    # Reasons for every MQL of the day (the hand-off and what GET /v1/leads shows).
    is_mql = (scores["decision"] == "mql").to_numpy()
    reasons: list[Any] = [None] * len(scores)
    for i, why in zip(
        np.flatnonzero(is_mql), explain(scorer, features[is_mql], as_of), strict=True
    ):
        reasons[i] = why
    scores["reasons"] = reasons
    # Counts for every open lead (stored); the line of words only for the hand-off.
    records = activity_dicts(features, as_of, with_text=False, params=scorer.context.feature_params)
    scores["activity"] = [records[str(i)] for i in scores["lead_id"]]
    return features, scores


# ---------------------------------------------------------------------------- on a cluster


def day_partition(
    leads: pd.DataFrame,
    events: pd.DataFrame,
    stages: pd.DataFrame,
    job: Any,
    as_of: pd.Timestamp,
    features_out: Path,
    scores_out: Path,
    added: tuple[pd.DataFrame | None, ...] = (None, None, None),
) -> dict[str, Any]:
    """Runs on a worker: the open leads of one lead_id partition (its exports' rows plus the
    store's `added` rows of the same leads), scored with the worker's scorer (loaded once per
    worker); writes the two part files, returns the scores."""
    from daily.handoff import open_leads
    from engine.features import write_part
    from engine.partition import restore_order
    from engine.score import worker_scorer

    scorer = worker_scorer(job)
    leads, events, stages = restore_order(leads), restore_order(events), restore_order(stages)
    add_leads, add_events, add_stages = (None if f is None else restore_order(f) for f in added)
    leads, events, stages = with_store_additions(
        (leads, events, stages), (add_leads, add_events, add_stages), as_of
    )
    scope = open_leads(leads, stages, as_of)
    done = {"threshold": scorer.context.threshold, "model": dict(scorer.model_ref)}
    if not len(scope):
        return done | {"scores": None}
    features, scores = day_scores(scorer, scope, events, stages, as_of)
    write_part(features, features_out)
    write_part(scores_for_file(scores), scores_out)
    return done | {"scores": scores}


def scores_for_file(scores: pd.DataFrame) -> pd.DataFrame:
    """Reasons and activity (dicts) as JSON text, the store's own encoding."""
    return scores.assign(
        **{
            c: [None if v is None else json.dumps(v, default=str) for v in scores[c]]
            for c in JSON_COLUMNS
        }
    )


def day_scores_partitioned(
    client: Any,
    validated: Path,
    out: Path,
    job: Any,
    as_of: pd.Timestamp,
    scope_ids: pd.Series,
    engine: Any,
    added: StoreAdditions | None = None,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """`day_scores` of every open lead on the cluster, from the day's validated Parquet
    (`validated`/{leads,events,stages}.parquet, file or folder of parts); features and scores
    are written under `out` as folders of part files. Returns the scores in the order of
    `scope_ids` (the open leads in the leads file's order, as the pandas engine scores them),
    so everything computed from them downstream adds up in the same order; and the model and
    MQL threshold the workers scored with, for the caller to check against its own. `added`:
    the store's rows, partitioned by lead like the exports and merged on each partition."""
    import dask
    import dask.dataframe as dd

    from engine.cluster import gather
    from engine.features import partition_count
    from engine.partition import by_lead
    from foundation.chunks import clear_output

    paths = {t: Path(validated, f"{t}.parquet").resolve() for t in TABLES}
    for path in paths.values():
        if not path.exists():
            raise DataError(f"{path}: missing (the Dask engine reads the validated Parquet)")
        require_complete(path)
    threads = sum(client.nthreads().values()) or 1
    n = partition_count(paths["events"], engine, threads)
    parts = by_lead(client, [dd.read_parquet(str(paths[t])) for t in TABLES], n)
    extra: list[list[Any]] = [[None] * n for _ in TABLES]
    for k, frame in enumerate(added.frames() if added is not None else ()):
        if len(frame):  # the default day (nothing posted, no CRM) shuffles nothing more
            extra[k] = by_lead(client, [dd.from_pandas(frame, npartitions=1)], n)[0]
    folders = [Path(out, FEATURES_DIR).resolve(), Path(out, SCORES_DIR).resolve()]
    for folder in folders:
        clear_output(folder)
        mark_started(folder, "daily")
    tasks = [
        dask.delayed(day_partition)(
            leads,
            events,
            stages,
            job,
            as_of,
            folders[0] / f"part-{i:05d}.parquet",
            folders[1] / f"part-{i:05d}.parquet",
            tuple(e[i] for e in extra),
        )
        for i, (leads, events, stages) in enumerate(zip(*parts, strict=True))
    ]
    results = gather(client, client.compute(tasks), "scoring the open leads")
    for folder in folders:
        mark_complete(folder, "daily")
    scored_with = {k: results[0][k] for k in ("threshold", "model")}
    for r in results:
        if {k: r[k] for k in scored_with} != scored_with:
            raise LeadscoreError(
                "the Dask workers did not all score with the same model and MQL threshold "
                f"({results[0]['model']}, {results[0]['threshold']} vs {r['model']}, "
                f"{r['threshold']}): check that every worker reads the same files"
            )
    frames = [r["scores"] for r in results if r["scores"] is not None]
    if not frames:
        raise DataError("the Dask workers found no open lead to score")
    scores = pd.concat(frames, ignore_index=True)
    ids = scope_ids.astype(str).to_numpy()
    position = pd.Index(scores["lead_id"].astype(str)).get_indexer(ids)
    if len(scores) != len(ids) or (position < 0).any():
        raise LeadscoreError(
            f"the Dask workers scored {len(scores):,} open leads, this process counts "
            f"{len(ids):,}: the validated tables changed during the run?"
        )
    return scores.iloc[position].reset_index(drop=True), scored_with


def read_features(out: Path, columns: list[str], lead_ids: pd.Series) -> pd.DataFrame:
    """The named feature columns of the day's open leads, back from the part files, in the
    order of `lead_ids` (e.g. for the drift check, which needs every open lead's values)."""
    folder = Path(out, FEATURES_DIR)
    require_complete(folder)
    parts = sorted(folder.glob("part-*.parquet"))
    frames = []
    for part in parts:
        present = set(pq.read_schema(part).names)
        frames.append(
            pd.read_parquet(part, columns=[c for c in ("lead_id", *columns) if c in present])
        )
    frame = pd.concat(frames, ignore_index=True)
    position = pd.Index(frame["lead_id"].astype(str)).get_indexer(lead_ids.astype(str))
    if (position < 0).any():
        raise LeadscoreError(f"{folder}: a scored lead has no feature row")
    return frame.iloc[position].reset_index(drop=True)


def returning_events(
    events_path: Path, candidates: pd.DataFrame, since: pd.Timestamp, as_of: pd.Timestamp
) -> pd.DataFrame:
    """The events `daily.handoff.returning_leads` reads, without the whole log: the on-site
    events of the candidates in (since, as_of], then the history up to `as_of` of only the
    candidates seen there (a few leads a day). Both reads are Parquet filters, so this process
    holds the day's on-site slice and those leads' rows, never every event. `returning_leads`
    gives the same rows on this subset as on the whole log: it looks at nothing else."""
    from features.behaviour import WEB_EVENT_TYPES

    path = str(Path(events_path))
    ids = set(candidates["lead_id"].astype(str))
    recent = pd.read_parquet(
        path,
        columns=["lead_id"],
        filters=[
            ("ts", ">", since),
            ("ts", "<=", as_of),
            ("event_type", "in", sorted(WEB_EVENT_TYPES)),
        ],
    )
    seen = sorted(set(recent["lead_id"].astype(str)) & ids)
    if not seen:
        return pd.DataFrame(columns=["lead_id", "ts", "event_type"])
    return pd.read_parquet(path, filters=[("lead_id", "in", seen), ("ts", "<=", as_of)])
