"""The `shopseq` command: one subcommand per operation, the same words as params and dvc.yaml.

Heavy libraries are imported inside each command so that `shopseq --help` answers at once.
Errors a user can cause print one readable line plus a hint; `--debug` shows the traceback.
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
from pathlib import Path
from typing import Optional

import typer

from shopseq.config import SOURCES, ConfigError, load_params
from shopseq.stages import PIPELINE as STAGES
from shopseq.suggest import did_you_mean


# Plain (click-style) help: Typer 0.29's rich help labels every flag, --help included, `<bool>`
# as if it took a value; the plain layout shows flags bare and typed options as `--port <int>`.
HELP_STYLE = {"rich_markup_mode": None, "no_args_is_help": True}
app = typer.Typer(
    help="shopseq: governed next-item models from e-commerce behaviour logs.",
    pretty_exceptions_enable=False,
    add_completion=False,
    **HELP_STYLE,
)
registry_app = typer.Typer(help="Model registry operations (MLflow aliases).", **HELP_STYLE)
app.add_typer(registry_app, name="registry")
benchmark_app = typer.Typer(help="Measure quality and speed; each writes one JSON report.", **HELP_STYLE)
app.add_typer(benchmark_app, name="benchmark")

_state = {"debug": False, "params": "params.yaml"}


class UserError(Exception):
    """An error the user can fix; printed as one line with a hint."""

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.hint = hint


@app.callback()
def _main(
    params: Path = typer.Option(Path("params.yaml"), help="The params file to read."),
    debug: bool = typer.Option(False, "--debug", help="Show full tracebacks."),
    verbose: bool = typer.Option(True, help="Log progress lines to stderr."),
) -> None:
    _state["debug"] = debug
    _state["params"] = str(params)
    for name, value in {
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "GX_ANALYTICS_ENABLED": "false",
        "DVC_NO_ANALYTICS": "1",
        "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
    }.items():
        os.environ.setdefault(name, value)
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    for noisy in ("alembic", "urllib3", "mlflow.store", "httpx", "great_expectations"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _params():
    return load_params(_state["params"])


@app.command("run")
def run_stage(stage: str = typer.Argument(..., help=f"One of: {', '.join(STAGES)}.")) -> None:
    """Run one pipeline stage outside Airflow (the dvc.yaml cmds call exactly this)."""
    if stage not in STAGES:
        raise UserError(f"unknown stage {stage!r}{did_you_mean(stage, STAGES)}", hint=f"choose one of: {', '.join(STAGES)}")
    params = _params()
    if stage == "train" and params.train.processes > 1 and "WORLD_SIZE" not in os.environ:
        from shopseq.training.distributed import run_under_torchrun

        run_under_torchrun(params.train.processes, ["--params", _state["params"], "run", "train"])
        return
    module = importlib.import_module(f"shopseq.stages.{stage}")
    module.run(params)


@app.command("check-data")
def check_data(
    source: str = typer.Option(..., help=f"Source format: {', '.join(SOURCES)}."),
    path: Path = typer.Option(..., help="File or directory holding the data (.gz is read transparently)."),
    out: Path = typer.Option(..., help="Directory for summary.json, quarantine files and Data Docs."),
) -> None:
    """Ingest and validate one data set on its own; exit 1 on a table-level failure."""
    from shopseq.validation.check import check_data as run_check
    from shopseq.validation.check import describe_counts

    params = _params()
    if source not in SOURCES:
        raise UserError(f"unknown --source {source!r}{did_you_mean(source, SOURCES)}", hint=f"one of: {', '.join(SOURCES)}")
    if not path.exists():
        raise UserError(
            f"--path {path} does not exist (relative paths start at {Path.cwd()})",
            hint=f"pass --path the file or directory that holds the {source} data; check-data reads it, nothing builds it",
        )
    summary = run_check(source, path, out, params.ingest, params.validate, params.base.seed)
    typer.echo(describe_counts(summary, source))
    typer.echo(f"wrote {out / 'summary.json'}")
    if not summary["passed"]:
        first = next((e for t in summary["tables"].values() for e in t["errors"]), "validation failed")
        raise UserError(first, hint=f"see {out / 'summary.json'} and the Data Docs under {out}")


@app.command("demo")
def demo(
    project: Path = typer.Option(Path("."), help="The shopseq project to run in (holds params.yaml, dags/)."),
    serve: bool = typer.Option(False, "--serve", help="Only start the demo's Airflow for its UI; Ctrl-C stops it."),
    cluster: bool = typer.Option(
        False,
        "--cluster",
        help="Run it on a cluster brought up here and torn down after: PostgreSQL, Redis, an MLflow server, "
        "Airflow on Celery with two workers (reports/cluster_demo_summary.json).",
    ),
) -> None:
    """Run the main job through a local Airflow: retrain, approve as demo-approver, downstream DAGs."""
    from shopseq.ops.airflow_local import AirflowError, LocalAirflow
    from shopseq.ops.cluster.services import ServiceError
    from shopseq.ops.demo import format_summary, run_demo
    from shopseq.ops.demo import serve as serve_airflow
    from shopseq.ops.ports import PortError

    try:
        if serve:
            serve_airflow(project)
            return
        if cluster:
            from shopseq.ops.cluster.demo import run_cluster_demo

            summary = run_cluster_demo(project)
        else:
            summary = run_demo(project)
    except PortError as error:
        raise UserError(str(error), hint="nothing was started; the demo checks its ports first") from error
    except ServiceError as error:
        raise UserError(str(error), hint="the cluster needs PostgreSQL and Redis (see docs/cluster.md)") from error
    except AirflowError as error:
        airflow_log = LocalAirflow(project=project.resolve()).log_file
        hint = (
            f"Airflow's logs are in {airflow_log.parent} (standalone.log, scheduler.log, ...)" if airflow_log.exists()
            else "Airflow had not started, so it wrote no log yet; rerun with --debug for the traceback"
        )
        raise UserError(str(error), hint=hint) from error
    typer.echo(format_summary(summary))
    failed = [dag for dag, state in summary["dag_runs"].items() if state != "success"]
    if failed:
        raise UserError(
            f"{', '.join(failed)} did not succeed",
            hint="the task logs are under airflow/logs/ (or in the Airflow UI: airflow standalone)",
        )


@app.command("report")
def report(
    out: Optional[Path] = typer.Option(None, help="Where to write the page (default: <paths.reports>/report.html)."),
    mlflow: bool = typer.Option(
        True, "--mlflow/--no-mlflow", help="Ask MLflow for the trial runs and the champion's params (lineage diff)."
    ),
) -> None:
    """Write this run's report: one static HTML page (data, validation, metrics vs champion, training, gate, lineage)."""
    from shopseq.report import build_report

    path = build_report(_params(), out, use_mlflow=mlflow)
    typer.echo(f"wrote {path}")


@registry_app.command("register")
def registry_register() -> None:
    """Register the gated candidate as a new model version with alias `challenger`."""
    from shopseq.registry import register_candidate

    params = _params()
    version = register_candidate(params.base, params.registry, params.paths.candidate, params.paths.reports)
    typer.echo(f"registered version {version} as challenger")


@registry_app.command("promote")
def registry_promote(
    version: Optional[str] = typer.Option(None, help="Version to promote (default: the challenger)."),
    approved_by: str = typer.Option(..., help="Who approved the promotion."),
    reason: str = typer.Option("", help="Why."),
) -> None:
    """Move alias `champion` to a version, recording who approved it, when and why."""
    from shopseq.registry import promote

    params = _params()
    promoted = promote(params.base, params.registry, version=version, approved_by=approved_by, reason=reason)
    typer.echo(f"version {promoted} is now champion")


@registry_app.command("reject")
def registry_reject(
    version: str = typer.Option(..., help="The version to reject."),
    rejected_by: str = typer.Option(..., help="Who rejected it."),
    reason: str = typer.Option("", help="Why."),
) -> None:
    """Record a rejection on a version; the champion does not move."""
    from shopseq.registry import reject

    params = _params()
    reject(params.base, params.registry, version=version, rejected_by=rejected_by, reason=reason)
    typer.echo(f"version {version} rejected")


@registry_app.command("rollback")
def registry_rollback(
    by: str = typer.Option(..., help="Who rolls back."),
    reason: str = typer.Option("", help="Why."),
) -> None:
    """Point `champion` back at the version the current champion replaced."""
    from shopseq.registry import rollback_champion

    params = _params()
    version = rollback_champion(params.base, params.registry, by=by, reason=reason)
    typer.echo(f"version {version} is champion again")


@registry_app.command("show")
def registry_show() -> None:
    """Show the champion and challenger versions with their tags."""
    import json

    from shopseq.registry import describe

    params = _params()
    typer.echo(json.dumps(describe(params.base, params.registry), indent=2, default=str))


@app.command("versions")
def versions_command(
    record: bool = typer.Option(
        False, "--record", help="First record the workspace's data as a data version (git tag + dvc push)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """List the data versions: date, row counts, the model versions trained on each and their gate results."""
    import json

    from shopseq.ops import versions
    from shopseq.registry import versions_for_data

    params = _params()
    if record:
        recorded = versions.snapshot(Path.cwd(), params)
        typer.echo(f"recorded data version {recorded.name} (tag {recorded.tag})")
    by_data = versions_for_data(params.base, params.registry)
    rows = [
        {
            "data_version": version.name,
            "created_at": version.created_at,
            "rows": version.rows,
            "models": by_data.get(version.name, []),
        }
        for version in versions.list_versions(Path.cwd())
    ]
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        typer.echo("no data versions yet: a retrain run records one after its gate (or `shopseq versions --record`)")
        return
    for row in rows:
        counts = ", ".join(f"{key} {value}" for key, value in row["rows"].items())
        typer.echo(f"{row['data_version']}  {row['created_at']}  {counts}")
        for model in row["models"] or [{"version": None}]:
            if model["version"] is None:
                typer.echo("    no model registered (gate failed or not run)")
                continue
            state = ", ".join(model["aliases"]) or (
                f"rejected by {model['rejected_by']}" if model["rejected_by"]
                else f"was promoted by {model['promoted_by']}" if model["promoted_by"] else "registered"
            )
            gate = "gate passed" if model["gate_passed"] else "gate failed"
            typer.echo(f"    model version {model['version']}: {gate}; {state}")


@app.command("rollback")
def rollback_command(
    data_version: str = typer.Option(..., "--data-version", help="The data version to restore (see `shopseq versions`)."),
    by: Optional[str] = typer.Option(
        None, help="Who rolls back, kept in the audit record (default: your login name on this machine)."
    ),
    reason: str = typer.Option("", help="Why (kept in the audit record)."),
) -> None:
    """Restore a data version byte for byte and make its model champion (retrain only if none was registered)."""
    import json

    from shopseq.ops.rollback import rollback_to

    audit = rollback_to(Path.cwd(), _params(), data_version, by=by or login_name(), reason=reason)
    typer.echo(json.dumps(audit, indent=2))


@benchmark_app.command("quality")
def benchmark_quality(
    source: str = typer.Option(..., help=f"Source format: {', '.join(SOURCES)}."),
    path: Optional[Path] = typer.Option(None, help="File or directory holding the data (not for synthetic)."),
    out: Path = typer.Option(..., help="Directory for quality.json and quality.md."),
    epochs: Optional[int] = typer.Option(None, help="Training epochs per model (default: train.epochs)."),
    families: str = typer.Option("gru,lstm,transformer", help="Model families, comma-separated ('' for none)."),
    baselines: str = typer.Option(
        "popularity,recent_popularity,markov,item_knn,session_knn", help="Baselines, comma-separated."
    ),
    text: str = typer.Option("auto", help="Item text vectors: auto (with and without when items have text), on, off."),
    profile: bool = typer.Option(False, help="Also train each family with the user profile input (+profile rows)."),
    max_users: Optional[int] = typer.Option(None, help="Sample this many users before splitting (fits 2 cores)."),
    max_targets: Optional[int] = typer.Option(None, help="Test targets scored (default: evaluate.max_targets)."),
    split: Optional[str] = typer.Option(None, help="temporal | leave_last_out (default: sequences.split)."),
    valid_days: Optional[int] = typer.Option(None, help="Temporal split: validation days (default: sequences.valid_days)."),
    test_days: Optional[int] = typer.Option(None, help="Temporal split: test days (default: sequences.test_days)."),
    seeds: int = typer.Option(1, min=1, help="Train each model with this many seeds (base.seed, +1, ...): mean and spread."),
) -> None:
    """Baselines and model families on one data set, one split, the same test targets."""
    from shopseq.benchmarks.quality import QualityOptions, markdown_table, run_quality

    if split is not None and split not in ("temporal", "leave_last_out"):
        raise UserError(f"unknown split {split!r}", hint="use temporal or leave_last_out")
    options = QualityOptions(
        epochs=epochs,
        families=tuple(f for f in families.split(",") if f),
        baselines=tuple(b for b in baselines.split(",") if b),
        text=text,
        profile=profile,
        max_users=max_users,
        max_targets=max_targets,
        split=split,
        valid_days=valid_days,
        test_days=test_days,
        seeds=seeds,
    )
    report = run_quality(source, path, out, _params(), options)
    typer.echo(markdown_table([report]), nl=False)
    typer.echo(f"wrote {out / 'quality.json'} and {out / 'quality.md'}")


@benchmark_app.command("volume")
def benchmark_volume(
    source: str = typer.Option(..., help="Source format of SAMPLE (taobao, rees46)."),
    path: Path = typer.Option(..., help="The real sample to grow (its published layout; .gz read transparently)."),
    events: str = typer.Option("1000000,10000000", help="Sizes to grow the sample to, comma-separated."),
    engine: str = typer.Option("embedded", help="base.engine for the run: embedded | spark."),
    out: Path = typer.Option(..., help="Directory for volume.json (and the grown data under work/)."),
    stages: str = typer.Option("ingest,validate,sequences", help="Stages to run, in order, comma-separated."),
    src: Optional[Path] = typer.Option(None, help="Run the stages with the shopseq package in this src/ (older code, side by side)."),
    keep_data: bool = typer.Option(False, help="Keep each size's grown data and outputs under OUT/work/."),
    embeddings: Optional[Path] = typer.Option(None, help="The embed stage's output for SAMPLE (its catalogue): needed to time profiles."),
) -> None:
    """Grow a real sample to each size in its published layout and time each stage on it."""
    from shopseq.benchmarks.volume import run_volume

    try:
        sizes = [int(size.replace("_", "")) for size in events.split(",") if size]
    except ValueError as error:
        raise UserError(f"--events {events!r} is not a comma-separated list of whole numbers", hint="e.g. 1000000,10000000") from error
    result = run_volume(
        source, path, sizes, engine, out, Path(_state["params"]), tuple(s for s in stages.split(",") if s), src, keep_data,
        embeddings,
    )
    for row in result["rows"]:
        typer.echo(f"{row['events']:>12,} {row['engine']:<9} {row['stage']:<10} {row['seconds']:>8.1f} s {row['peak_mb']:>9,.0f} MB")
    typer.echo(f"wrote {out / 'volume.json'}")


@benchmark_app.command("embed")
def benchmark_embed(
    texts: Path = typer.Option(..., help="One text per line, or .jsonl with a 'text' field."),
    out: Path = typer.Option(..., help="Directory for embed.json and embed.md."),
    threads: int = typer.Option(2, help="torch CPU threads for every path."),
    seed_style_max: int = typer.Option(200, help="Texts the slow seed-style path is timed on."),
    max_texts: Optional[int] = typer.Option(None, help="Use only the first N texts."),
    device: str = typer.Option("cpu", help="cpu, cuda or auto."),
    candidates: str = typer.Option("batch_32,int8_dynamic,onnx,onnx_int8,onnx_int8_matmul,bf16", help="Candidate paths for 'fastest', comma-separated."),
) -> None:
    """Embedding paths side by side on the same texts and model: texts/s, peak memory, cosine."""
    from shopseq.benchmarks.embed import EmbedBenchOptions, markdown_table, run_embed_benchmark

    options = EmbedBenchOptions(
        threads=threads,
        seed_style_max=seed_style_max,
        max_texts=max_texts,
        device=device,
        candidates=tuple(c for c in candidates.split(",") if c),
    )
    report = run_embed_benchmark(texts, out, _params(), options)
    typer.echo(markdown_table(report), nl=False)
    typer.echo(f"wrote {out / 'embed.json'} and {out / 'embed.md'}")


@benchmark_app.command("serve")
def benchmark_serve(
    out: Path = typer.Option(..., help="Directory for serve.json and serve.md."),
    rates: str = typer.Option("10,50,200", help="Open-loop request rates (requests/s), comma-separated."),
    seconds: float = typer.Option(10.0, help="How long each rate is driven."),
    k: int = typer.Option(20, help="K of every request."),
    registry: str = typer.Option(
        "auto",
        help="project: serve the project registry's champion (after `make demo`); throwaway: register "
        "models/candidate as champion of a temporary registry; auto: project when it has a champion, else throwaway.",
    ),
) -> None:
    """Latency of `shopseq serve` on loopback under open-loop load (needs data/validated and a model).

    The service runs in a subprocess on a free loopback port; requests are top-K for known users of
    the validated events (4 in 5) and ad-hoc sequences of validated catalogue items (1 in 5).
    """
    from shopseq.benchmarks.serve import ServeBenchOptions, markdown_table, run_serve_benchmark

    if registry not in ("auto", "project", "throwaway"):
        raise UserError(f"unknown registry choice {registry!r}", hint="use auto, project or throwaway")
    options = ServeBenchOptions(
        rates=tuple(float(r) for r in rates.split(",") if r), seconds=seconds, k=k, registry=registry
    )
    report = run_serve_benchmark(out, _params(), options, params_file=Path(_state["params"]))
    typer.echo(markdown_table(report), nl=False)
    typer.echo(f"wrote {out / 'serve.json'} and {out / 'serve.md'}")


@benchmark_app.command("catalogue")
def benchmark_catalogue(
    sizes: str = typer.Option("50000,200000,1000000,4000000", help="Catalogue sizes (items), comma-separated."),
    loss: str = typer.Option("full,sampled", help="Losses to train with: full, sampled (comma-separated)."),
    out: Path = typer.Option(..., help="Directory for catalogue.json and catalogue.md."),
    steps: int = typer.Option(10, help="Timed training steps per row (after 3 warm-up steps); the row shows their median."),
    memory_limit_mb: int = typer.Option(12000, help="Data-size limit of each measuring process; above it: out_of_memory."),
    serve_seconds: float = typer.Option(10.0, help="Seconds of open-loop serving load per size."),
    score_users: int = typer.Option(1000, help="Histories batch-scored per size."),
    serve_index: Optional[str] = typer.Option(
        None, help="exact, approximate or auto (default: serve.index); the other index settings come from serve."),
) -> None:
    """Training step time, peak memory, scoring and serving cost as the catalogue grows (synthetic data)."""
    from shopseq.benchmarks.catalogue import CatalogueBenchOptions, markdown_table, run_catalogue_benchmark

    serve = _params().serve
    try:
        options = CatalogueBenchOptions(
            sizes=tuple(int(size) for size in sizes.split(",") if size.strip()),
            losses=tuple(name.strip() for name in loss.split(",") if name.strip()),
            steps=steps, memory_limit_mb=memory_limit_mb, serve_seconds=serve_seconds, score_users=score_users,
            serve_index=serve_index or serve.index, index_above=serve.index_above, index_lists=serve.index_lists,
            index_probes=serve.index_probes, index_candidates=serve.index_candidates,
            index_tail_sample=serve.index_tail_sample,
        )
    except ValueError as error:
        raise UserError(f"benchmark catalogue: {error}", hint="e.g. --sizes 50000,1000000 --loss full,sampled") from error
    report = run_catalogue_benchmark(out, options)
    typer.echo(markdown_table(report), nl=False)
    typer.echo(f"wrote {out / 'catalogue.json'} and {out / 'catalogue.md'}")


@benchmark_app.command("index-recall")
def benchmark_index_recall(
    source: str = typer.Option(..., help=f"Source format: {', '.join(SOURCES)}."),
    path: Optional[Path] = typer.Option(None, help="File or directory holding the data (not for synthetic)."),
    out: Path = typer.Option(..., help="Directory for index_recall.json."),
    epochs: int = typer.Option(2, help="Training epochs of the GRU whose item vectors are indexed."),
    valid_days: Optional[int] = typer.Option(None, help="Temporal split: validation days (default: sequences.valid_days)."),
    test_days: Optional[int] = typer.Option(None, help="Temporal split: test days (default: sequences.test_days)."),
) -> None:
    """Recall of the approximate serving index (serve.index_*) against exact top-K, on a model trained on real data."""
    from dataclasses import replace

    from shopseq.benchmarks.index_recall import run_index_recall

    params = _params()
    overrides = {"valid_days": valid_days, "test_days": test_days}
    params = replace(params, sequences=replace(params.sequences, **{k: v for k, v in overrides.items() if v is not None}))
    import json

    report = run_index_recall(source, path, out, params, epochs)
    typer.echo(json.dumps(report, indent=2))
    typer.echo(f"wrote {out / 'index_recall.json'}")


@benchmark_app.command("forecast")
def benchmark_forecast(
    series: Path = typer.Option(..., help="CSV with columns id,date,value (one row per series and day)."),
    horizon: int = typer.Option(..., help="Days forecast from each backtest origin."),
    out: Path = typer.Option(..., help="Directory for forecast.json and forecast.md."),
    origins: Optional[int] = typer.Option(None, help="Backtest origins (default: forecast.backtest_origins)."),
    season: Optional[int] = typer.Option(None, help="Season length in days (default: forecast.season)."),
) -> None:
    """The forecast model vs seasonal naive, exponential smoothing and a plain global LightGBM."""
    from shopseq.benchmarks.forecast import ForecastBenchOptions, markdown_table, run_forecast_benchmark

    params = _params()
    options = ForecastBenchOptions(
        horizon=horizon,
        origins=origins or params.forecast.backtest_origins,
        season=season or params.forecast.season,
    )
    report = run_forecast_benchmark(series, out, params.forecast, options, seed=params.base.seed)
    typer.echo(markdown_table(report), nl=False)
    typer.echo(f"wrote {out / 'forecast.json'} and {out / 'forecast.md'}")


@app.command("serve")
def serve(
    host: Optional[str] = typer.Option(None, help="Interface to bind (default: serve.host)."),
    port: Optional[int] = typer.Option(None, help="Port to listen on (default: serve.port)."),
    openapi: Optional[Path] = typer.Option(None, help="Write the OpenAPI schema (JSON) to this file and exit."),
    access_log: bool = typer.Option(False, "--access-log", help="Log every request."),
) -> None:
    """Serve the registry champion over HTTP: POST /recommend, GET /health; follows the champion alias."""
    import json

    from shopseq.serving.app import create_app

    params = _params()
    app = create_app(params)
    if openapi is not None:
        openapi.parent.mkdir(parents=True, exist_ok=True)
        openapi.write_text(json.dumps(app.openapi(), indent=2) + "\n")
        typer.echo(f"wrote {openapi}")
        return
    from shopseq.serving.champion import champion_version

    events = Path(params.paths.validated) / "events.parquet"
    if not events.exists():
        raise UserError(f"{events} not found: the service reads user histories from it", hint="run `dvc repro` or `make demo` first")
    if champion_version(params) is None:
        raise UserError(
            f"{params.registry.model_name} has no champion in the registry",
            hint="promote a version first: `shopseq registry promote --approved-by NAME` (or run `make demo`)",
        )
    import uvicorn

    uvicorn.run(
        app, host=host or params.serve.host, port=port or params.serve.port, access_log=access_log, log_level="info"
    )


def login_name() -> str:
    """The OS user running the command, for audit records; a UserError when the OS cannot say."""
    import getpass

    try:
        name = getpass.getuser()
    except (KeyError, OSError):  # no USER/LOGNAME and no passwd entry (some containers)
        name = ""
    if not name:
        raise UserError("cannot tell who you are for the audit record", hint="pass --by NAME")
    return name


def error_hint(error: BaseException) -> str:
    """What to try next for an error: its own hint when it has one, else one by kind."""
    if getattr(error, "hint", ""):
        return error.hint
    if isinstance(error, ConfigError):
        return f"check {_state['params']} (or pass another file with --params)"
    if isinstance(error, FileNotFoundError):
        return "check the path, or run the stage that writes it (`dvc repro`, `make demo`); --debug shows the traceback"
    if isinstance(error, (ValueError, OSError)):
        return "check the input named above; rerun with --debug for the traceback"
    return "this looks like a bug: rerun with --debug and report the traceback"


def one_line(error: BaseException) -> str:
    """The error's message on one line (multi-line messages are joined), with its kind when it says nothing."""
    message = " ".join(str(error).split())
    return message or type(error).__name__


def main() -> None:
    """Entry point: run the Typer app; any error becomes one line plus a hint (a traceback with --debug)."""
    try:
        app()
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        sys.exit(130)
    except Exception as error:  # the CLI's last line of defence: one line, not a traceback
        if _state["debug"]:
            raise
        expected = isinstance(error, (UserError, ConfigError, FileNotFoundError, ValueError, OSError))
        prefix = "error" if expected else f"error ({type(error).__name__})"
        typer.secho(f"{prefix}: {one_line(error)}", fg="red", err=True)
        typer.echo(f"hint: {error_hint(error)}", err=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
