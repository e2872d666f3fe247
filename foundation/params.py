"""params.yaml as one typed, validated object: a typo is an error naming the key."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from foundation import DEFAULT_PARAMS
from foundation.errors import ConfigError
from foundation.io import read_yaml


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class PathParams(_Section):
    raw: Path = Path("data/raw")
    interim: Path = Path("data/interim")
    features: Path = Path("data/features")
    truth: Path = Path("data/truth")
    artifacts: Path = Path("artifacts")
    personas: Path = Path("personas.yaml")
    sla: Path = Path("sla.yaml")
    # The event-log mapping (features/mapping.py): the exports' own vocabulary onto the data
    # contract. null: the exports already speak the contract (the simulator's vocabulary).
    mapping: Path | None = None


class ChannelShift(_Section):
    start: date
    channel_weights: dict[str, float] = Field(min_length=1)

    @field_validator("channel_weights")
    @classmethod
    def _positive(cls, weights: dict[str, float]) -> dict[str, float]:
        bad = {k: v for k, v in weights.items() if v < 0}
        if bad:
            raise ValueError(f"channel weights must be >= 0, got {bad}")
        return weights


class SimulateParams(_Section):
    seed: int = 42
    n_leads: int = Field(6000, gt=0)
    start: date = date(2025, 1, 1)
    months: int = Field(22, ge=3)
    horizon_days: int = Field(60, gt=0)
    # Noise a real export has (the rest of the simulated world is in pipeline/simulation/world.py).
    non_buyer_share: float = Field(0.12, ge=0, lt=1)  # students, competitors, bots
    missing_firmographics_share: float = Field(0.08, ge=0, le=0.15)  # per field; bots x6
    duplicate_event_share: float = Field(0.02, ge=0, lt=1)  # tracking double-fires
    # Sales follow-up after MQL: lognormal delay; slow follow-up costs SQL conversions.
    followup_median_hours: float = Field(4.0, gt=0)
    followup_sigma: float = Field(1.6, ge=0)
    never_contacted_share: float = Field(0.06, ge=0, lt=1)
    followup_decay_hours: float = Field(8.0, gt=0)  # SQL hazard x floor + (1-floor) e^(-h/decay)
    followup_floor: float = Field(0.15, ge=0, le=1)
    # A market shift to test drift checks on: from `shift.start`, leads' channels are drawn
    # with these weights instead of the world's shares (null: no shift).
    shift: ChannelShift | None = None


# How much one event of each type adds to `engagement_score` (before decay). Intent signals weigh
# most; an unsubscribe subtracts. Unlisted event types add nothing.
DEFAULT_ENGAGEMENT_WEIGHTS: dict[str, float] = {
    "site_visit": 1.0,
    "page_view": 0.5,
    "pricing_view": 5.0,
    "content_download": 3.0,
    "newsletter_signup": 2.0,
    "email_open": 0.5,
    "email_click": 2.0,
    "webinar_register": 3.0,
    "webinar_attend": 5.0,
    "form_submit": 5.0,
    "demo_request": 10.0,
    "unsubscribe": -5.0,
}


# The parts of T features/calendar.py can read (one list: the calendar module derives from it).
CalendarPart = Literal["month_of_year", "day_of_week"]


class FeatureParams(_Section):
    windows_days: tuple[int, ...] = (7, 30, 90)
    half_life_days: float = Field(21, gt=0)
    session_gap_minutes: float = Field(30, gt=0)
    engagement_weights: dict[str, float] = Field(
        default_factory=lambda: dict(DEFAULT_ENGAGEMENT_WEIGHTS)
    )
    engagement_half_points: float = Field(10, gt=0)
    persona_min_fit: float = Field(0.5, ge=0, le=1)
    first_snapshot: date = date(2025, 4, 1)
    last_snapshot: date | None = None
    data_end: datetime | None = None
    horizon_days: int = Field(60, gt=0)
    target_stage: Literal["sql", "customer"] = "sql"
    # Funnel state at T from the stages table (features/funnel.py): MQL, contact, disqualified.
    funnel_state: bool = True
    # How often a snapshot is taken from first_snapshot on: a five-month log needs weeks.
    snapshot_every: Literal["month", "quarter", "week", "day"] = "month"
    # Leads older than this at T are left out of T's snapshot (null: every open lead). A log of
    # many years would otherwise carry every never-converted lead into every snapshot.
    max_lead_age_days: int | None = Field(None, gt=0)
    # Event types the mapping left in the source's words (features/event_families.py): those
    # with at least `family_min_events` events get a feature family each, the rest pool into
    # one "other" family. null: found by `leadscore validate` (data/interim/event_families.json).
    event_families: tuple[str, ...] | None = None
    family_min_events: int = Field(100, ge=1)
    # Calendar features of T (features/calendar.py): where in the year (or week) a snapshot
    # falls, for a process whose rate moves with the season. Empty: none (the default table).
    calendar: tuple[CalendarPart, ...] = ()

    @field_validator("calendar")
    @classmethod
    def _calendar_distinct(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if len(set(value)) != len(value):
            raise ValueError(f"calendar parts {list(value)} repeat a value")
        return value

    @field_validator("windows_days")
    @classmethod
    def _windows_increasing(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        # Column names carry the window (`n_events_30d`); duplicates would collide.
        if not value:
            raise ValueError("give at least one window, e.g. [7, 30, 90]")
        if any(w <= 0 for w in value) or list(value) != sorted(set(value)):
            raise ValueError(f"windows must be positive and strictly increasing, got {list(value)}")
        return value


class LightGBMParams(_Section):
    n_estimators: int = Field(2000, gt=0)
    learning_rate: float = Field(0.03, gt=0)
    num_leaves: int = Field(31, ge=2)
    min_child_samples: int = Field(40, ge=1)
    subsample: float = Field(0.8, gt=0, le=1)
    subsample_freq: int = Field(1, ge=0)
    colsample_bytree: float = Field(0.8, gt=0, le=1)
    reg_lambda: float = Field(1.0, ge=0)
    early_stopping_rounds: int = Field(100, gt=0)
    # What early stopping watches on the validation snapshots. `binary_logloss` also counts the
    # gap between the training and validation base rates, which calibration closes afterwards
    # anyway; when the rate moves (a real log), `auc` stops on ranking alone.
    early_stopping_metric: Literal["binary_logloss", "auc"] = "binary_logloss"
    # LightGBM's own encoding of a categorical split (its defaults): `cat_smooth` shrinks each
    # level's gradient ratio towards the mean, `min_data_per_group` refuses levels with fewer rows,
    # so a high-cardinality column cannot split on a handful of leads. `--tune` searches both.
    cat_smooth: float = Field(10.0, ge=0)
    min_data_per_group: int = Field(100, ge=1)


class LogisticParams(_Section):
    C: float = Field(1.0, gt=0)
    max_iter: int = Field(2000, gt=0)


class CandidateParams(_Section):
    """The models `train-table --tune` compares inside every outer fold (models/candidates.py).

    `logistic` is a regularised logistic regression on a basis built for tables: numbers clipped
    to their central range and expanded into a linear spline (hinges at quantile knots) plus a
    missing flag, categories one-hot with levels rarer than `rare_min_count` pooled, and (tried
    both ways) pairwise products of the numbers most correlated with the label. `blend` stacks
    the LightGBM and logistic log-odds with non-negative weights fitted on inner out-of-fold
    predictions. The choice among them uses the inner folds only."""

    models: tuple[Literal["lightgbm", "logistic", "blend"], ...] = (
        "lightgbm",
        "logistic",
        "blend",
    )
    # AUC: every candidate is calibrated afterwards on its own out-of-fold scores, so what they
    # differ in is ranking; log_loss: their uncalibrated inner log loss.
    selection: Literal["auc", "log_loss"] = "auc"
    C_grid: tuple[float, ...] = Field((0.01, 0.1, 1.0), min_length=1)
    spline_knots: int = Field(4, ge=0)
    clip_quantile: float = Field(0.005, ge=0, lt=0.5)
    rare_min_count: int = Field(20, ge=1)
    # Pairwise products of (at most) this many numbers; 0: never. Tried with and without.
    interaction_features: int = Field(8, ge=0)
    max_iter: int = Field(500, gt=0)

    @field_validator("models")
    @classmethod
    def _models_usable(
        cls, value: tuple[str, ...]
    ) -> tuple[Literal["lightgbm", "logistic", "blend"], ...]:
        if not value or len(set(value)) != len(value):
            raise ValueError(f"list each candidate once, at least one, got {list(value)}")
        if "blend" in value and not {"lightgbm", "logistic"} <= set(value):
            raise ValueError("blend needs both lightgbm and logistic among the candidates")
        return value  # type: ignore[return-value]

    @field_validator("C_grid")
    @classmethod
    def _positive(cls, value: tuple[float, ...]) -> tuple[float, ...]:
        if any(c <= 0 for c in value):
            raise ValueError(f"C values must be positive, got {list(value)}")
        return value


class LeakageParams(BaseModel):
    """Audit thresholds of a flat table's leakage check (mapping file, `leakage:` section;
    models/leakage.py runs the audit)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_auc: float = Field(0.95, gt=0.5, le=1.0)
    # |missing rate among positives - among negatives| at or above this is flagged.
    max_missing_gap: float = Field(0.3, gt=0.0, le=1.0)
    # The AUC over filled rows is judged only when at least this share of rows is filled.
    min_present_share: float = Field(0.1, gt=0.0, le=1.0)
    folds: int = Field(5, ge=2)
    # Columns a person checked and keeps (known before contact): still reported, never refused.
    reviewed: tuple[str, ...] = ()


class PointsParams(_Section):
    per_event: dict[str, float] = Field(default_factory=dict)
    # Points per unit of any other feature (funnel flags are 0/1): marketing-automation tools
    # score lifecycle stage too, so the points baseline sees the funnel state the model sees.
    per_feature: dict[str, float] = Field(default_factory=dict)


class TrainParams(_Section):
    """`monotone` maps feature-name patterns (fnmatch, first match wins) to a direction the
    score must respect: 1 = more of it never lowers the score, -1 = never raises it."""

    seed: int = 42
    monotone: dict[str, Literal[-1, 0, 1]] = Field(default_factory=dict)
    min_positives: int = Field(50, ge=1)
    validation_snapshots: int = Field(1, ge=1)
    # The latest snapshots held out for evaluation: one (the default) is the month a monthly
    # project ships; a quarterly log may test on a whole year (four), and more rows make the
    # test AUC less of a coin toss on a small log. Validation ends before the first of them.
    test_snapshots: int = Field(1, ge=1)
    calibration: Literal["auto", "isotonic", "sigmoid"] = "auto"
    # Later validation snapshots count more in calibration (models/recency.py); null: equal.
    calibration_half_life_snapshots: float | None = Field(None, gt=0)
    # Isotonic calibration with ties broken (models/calibration_curves.py `strict_isotonic`):
    # its steps become a strictly increasing line through their centres, so calibration never
    # gives two leads the model ranked apart the same probability. false: sklearn's steps.
    calibration_strict: bool = False
    # Candidate training windows (models/window.py): each N trains on the latest N training
    # snapshots only (0: all of them), and the one whose model ranks the validation snapshots
    # best is kept. A long log whose process changed learns from its recent years. Empty: one
    # fit on every training snapshot, as before.
    window_snapshots: tuple[int, ...] = ()
    lightgbm: LightGBMParams = LightGBMParams()
    logistic: LogisticParams = LogisticParams()
    points: PointsParams = PointsParams()
    # A file (CSV or Parquet, a `lead_id` column) of leads whose rows train, evaluate and
    # register drop from every snapshot before the split: the desk's duplicates, written by
    # `leadscore db closes --reason duplicate --out FILE` (models/exclusions.py says why only
    # those). null: nothing is dropped. Set, the file must exist; list it in dvc.yaml's train
    # deps too, or a new export will not retrain (docs/managers.md).
    exclude_leads: Path | None = None

    @field_validator("window_snapshots")
    @classmethod
    def _windows_distinct(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        if any(n < 0 for n in value):
            raise ValueError("a training window is a number of snapshots >= 0 (0: all of them)")
        if len(set(value)) != len(value):
            raise ValueError(f"training windows {list(value)} repeat a value")
        return value


class EvaluateParams(_Section):
    n_bins: int = Field(10, ge=2)


class RegistryParams(_Section):
    model_name: str = "lead-propensity"
    experiment: str = "leadscore"
    # No downward ratchet (models/promotion_noise.py): the challenger is refused when the paired
    # bootstrap interval of its AUC minus the champion's, or minus the best version registered
    # in the last `best_of_months` months, lies wholly below 0 on the same test rows.
    auc_interval_level: float = Field(0.95, gt=0, lt=1)
    auc_bootstrap_rounds: int = Field(1000, ge=100)
    best_of_months: int = Field(6, ge=0)  # 0: compare with the champion only
    max_ece: float = Field(0.03, gt=0)
    # Stability on today's open leads: a challenger whose scores move further than this from
    # the champion's (PSI), or that changes the MQL count at the agreement's threshold by more
    # than this fraction, is promoted only with `leadscore register --accept-shift "reason"`.
    max_score_psi: float = Field(0.25, gt=0)
    max_mql_volume_change: float = Field(0.5, gt=0)


class DriftParams(_Section):
    """Population stability of today's open leads against the model's training reference."""

    bins: int = Field(10, ge=2)  # decile edges for numeric features and the score
    top_categories: int = Field(10, ge=1)  # categorical values kept; the rest is `other`
    warn_psi: float = Field(0.1, gt=0)
    alert_psi: float = Field(0.25, gt=0)
    epsilon: float = Field(1e-4, gt=0, lt=0.01)  # share floor for empty bins
    cells: tuple[str, ...] = ("channel", "persona")  # drift per cell of these columns
    min_cell_rows: int = Field(200, ge=1)  # smaller cells measure noise, not drift
    # Realised calibration of stored scores one horizon on: probability bands and the interval.
    calibration_bands: int = Field(5, ge=1)
    calibration_level: float = Field(0.9, gt=0, lt=1)


class DailyParams(_Section):
    """`leadscore daily`: the day-by-day hand-off loop (daily/, pipeline/daily_cli.py)."""

    # A handed-over or nurtured lead "returns" when it is back on the site after at least this
    # many days without any on-site event.
    quiet_days: float = Field(14, gt=0)
    # Width of the projected month-end interval (equal-tailed, on the exact count distribution).
    interval_level: float = Field(0.9, gt=0, lt=1)
    # Where the hand-off is POSTed (signed); null: no delivery. Env LEADSCORE_WEBHOOK_URL wins.
    webhook_url: str | None = None


# The hand-off's signature headers (delivery/signature_formats.py, docs/operator.md "Delivery").
SignatureFormat = Literal["leadscore", "standard-webhooks"]


class DeliveryParams(_Section):
    """Webhook delivery of the hand-off (delivery/): how hard one run tries before leaving an
    item pending for the next run or `leadscore deliver`. Nothing is ever dropped."""

    timeout_s: float = Field(10, gt=0)  # per POST (connect + read)
    attempts_per_run: int = Field(3, ge=1)  # tries of one item within one run
    backoff_base_s: float = Field(1, ge=0)  # wait between tries: base x 2^(n-1) ...
    backoff_cap_s: float = Field(30, ge=0)  # ... capped here (Retry-After too)
    retry_base_s: float = Field(300, ge=0)  # next run's earliest retry: base x 2^(runs-1) ...
    retry_cap_s: float = Field(6 * 3600, ge=0)  # ... capped here (a Retry-After too)
    # One POST in all (connect, send, answer): a receiver trickling bytes cannot hold it longer.
    request_deadline_s: float = Field(30, gt=0)
    max_response_bytes: int = Field(64 * 1024, ge=0)  # of a non-2xx answer, for last_error
    # A sender's hold on an item, renewed before each attempt: deadline + wait + this margin.
    lease_margin_s: float = Field(60, gt=0)
    # `standard-webhooks` (webhook-id/-timestamp/-signature, whsec_ secrets), the default, so a
    # receiver verifies with a Standard Webhooks library it already has; `leadscore`
    # (X-Leadscore-Signature, any secret) keeps the receivers built on the first format working.
    signature_format: SignatureFormat = "standard-webhooks"


class IngestParams(_Section):
    """Events as they happen (`POST /v1/events`, ingest/): how much may wait for re-scoring
    before the service slows senders down, and how the re-scoring worker takes its work."""

    # Events stored but not yet re-scored: past this many, POST /v1/events answers 429 with
    # Retry-After (nothing is dropped; the sender retries). Bounds the lag, not the store.
    max_waiting: int = Field(20_000, ge=1)
    # The Retry-After a 429 carries, in seconds.
    retry_after_s: int = Field(1, ge=1)
    # Most messages in one request (a Segment batch); more is a 413 naming the limit.
    max_batch: int = Field(500, ge=1)
    # Events the worker takes from the store at once (grouped by lead, one transaction).
    worker_batch: int = Field(500, ge=1)
    # Leads whose histories the worker keeps between steps (ingest/history.py): a step then
    # reads only their new events. About 0.25 kB per kept event; 0 reads every history whole.
    history_cache_leads: int = Field(5000, ge=0)
    # How long the worker sleeps when nothing waits, before it looks at the store again (it is
    # woken at once by an accepted event; this catches events written by another process).
    idle_poll_s: float = Field(0.5, gt=0)


class EngineParams(_Section):
    """Where validation, features and batch scoring run. `pandas`: this process, chunk by
    chunk. `dask`: a LocalCluster sized to this machine, or the cluster at `scheduler`; tables
    keyed by lead are hash-partitioned by lead_id into `partitions` parts (None: one part per
    `partition_rows` events, at least one per worker thread)."""

    kind: Literal["pandas", "dask"] = "pandas"
    scheduler: str | None = None
    partitions: int | None = Field(None, ge=1)
    partition_rows: int = Field(2_000_000, ge=1000)
    chunk_rows: int = Field(1_000_000, ge=1000)  # rows read and validated at a time
    workers: int | None = Field(None, ge=1)  # LocalCluster workers (None: sized to the machine)
    memory_limit: str = "auto"  # per LocalCluster worker, Dask syntax ("4GiB"; auto: RAM / workers)

    @field_validator("scheduler")
    @classmethod
    def _scheduler_address(cls, value: str | None) -> str | None:
        if value is not None and "://" not in value:
            raise ValueError(f"{value!r} is not a scheduler address (e.g. tcp://10.0.0.5:8786)")
        return value


class Params(_Section):
    paths: PathParams = PathParams()
    simulate: SimulateParams = SimulateParams()
    features: FeatureParams = FeatureParams()
    train: TrainParams = TrainParams()
    evaluate: EvaluateParams = EvaluateParams()
    registry: RegistryParams = RegistryParams()
    drift: DriftParams = DriftParams()
    daily: DailyParams = DailyParams()
    delivery: DeliveryParams = DeliveryParams()
    engine: EngineParams = EngineParams()
    ingest: IngestParams = IngestParams()


def format_validation_error(source: str, exc: ValidationError) -> str:
    """One line per problem, each naming the dotted key, so the user can find it in the file."""
    lines = [f"{source}: invalid configuration"]
    for err in exc.errors():
        key = ".".join(str(p) for p in err["loc"]) or "(top level)"
        msg = "unknown key (typo?)" if err["type"] == "extra_forbidden" else err["msg"]
        lines.append(f"  {key}: {msg}")
    return "\n".join(lines)


def load_params(path: Path = DEFAULT_PARAMS, missing_ok: bool = False) -> Params:
    """params.yaml as typed params. A missing file is an error naming it: falling back to the
    defaults silently once made `validate --params <typo>` overwrite the project's own data.
    `missing_ok` is for a service that may run outside a project (its model carries its params)."""
    if not Path(path).exists():
        if not missing_ok:
            raise ConfigError(f"{path}: parameters file not found (no such file)")
        return Params()
    raw = read_yaml(path)
    try:
        return Params.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(str(path), exc)) from exc
