"""Run `shopseq benchmark quality` on the synthetic default and on each real sample in the shared data.

    python benchmarks/quality.py                       # everything, params' epochs
    python benchmarks/quality.py --only synthetic --epochs 6
    python benchmarks/quality.py --data ../shared/data --out benchmarks/results

Each data set runs as its own `shopseq benchmark quality` process (so peak memory is per data set)
with a split chosen for its time span (a 3-hour sample cannot hold a 7-day test window). A data set
whose adapter cannot read it yet is skipped with the reason. Writes `<out>/quality.md` (one table,
the skipped data sets, the exact commands) and `<out>/quality.json` (every report).
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from recbole_peer import MODELS as PEER_MODELS  # noqa: E402  (stdlib only at import: no RecBole needed)
from recbole_peer import split_digest  # noqa: E402
from results_paths import portable_json, portable_text  # noqa: E402
from shopseq.benchmarks.quality import BASELINE_ROWS, markdown_table  # noqa: E402
from shopseq.benchmarks.quality_choice import add_choice_and_comparisons  # noqa: E402

# name -> (source, path under the data folder or None, extra options: the split that fits its span)
DATASETS: dict[str, tuple[str, str | None, list[str]]] = {
    "synthetic": ("synthetic", None, []),
    # 300 users of the same shop: small enough for RecBole's peer rows to train in minutes on 2 cores
    "synthetic_300users": ("synthetic", None, ["--max-users", "300"]),
    # 9 days of whole user histories: the last day is test, the day before validation
    "taobao": ("taobao", "taobao_userbehavior", ["--valid-days", "1", "--test-days", "1"]),
    # 2,986 view sessions sampled thinly over five months: a temporal cut leaves no test target
    # on an item seen in training, so leave-last-out
    "diginetica": ("diginetica", "diginetica", ["--split", "leave_last_out"]),
    # three hours of events: only leave-last-out gives each user a test step
    "rees46": ("rees46", "rees46_multi_category_store", ["--split", "leave_last_out"]),
    # years of reviews per user, few per user: leave-last-out as in the SASRec protocol
    "amazon": ("amazon", "amazon_reviews_2018_5core", ["--split", "leave_last_out"]),
    # ordered titles with no timestamps: leave-last-out; 10,000 of its 50,546 users (at 1,000 users
    # the 541 test targets were too few to separate the models); a global --max-users overrides it
    "amazon_games": ("amazon", "amazon_video_games_2018_sequences",
                     ["--split", "leave_last_out", "--max-users", "10000", "--max-targets", "5000"]),
    # a year of non-UK invoices: the last month is test, the month before validation
    "online_retail": (
        "online_retail",
        "online_retail/online_retail_non_uk_2010-12_2011-12.csv.gz",
        ["--valid-days", "30", "--test-days", "30"],
    ),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    parser.add_argument("--only", default=",".join(DATASETS), help="comma-separated data set names")
    parser.add_argument("--epochs", type=int, default=None, help="default: train.epochs in params.yaml")
    parser.add_argument("--families", default="gru,lstm,transformer")
    parser.add_argument("--max-users", type=int, default=None)
    parser.add_argument("--max-targets", type=int, default=None)
    parser.add_argument("--text", default="auto")
    parser.add_argument("--seeds", type=int, default=3, help="training seeds per neural row (mean and spread)")
    parser.add_argument("--timeout", type=float, default=3600.0, help="seconds per data set")
    parser.add_argument("--peer", default=None,
                        help="python of RecBole's own venv: add recbole_sasrec / recbole_gru4rec rows (STACK.md)")
    parser.add_argument("--peer-epochs", type=int, default=None, help="RecBole's maximum epochs (default: the same as shopseq's models got)")
    parser.add_argument("--peer-models", default=",".join(PEER_MODELS),
                        help="comma-separated RecBole rows to train (SASRec alone halves the time)")
    parser.add_argument("--peer-lrs", default=None,
                        help="comma-separated learning rates RecBole chooses from on validation (default: recbole_peer.LR_GRID)")
    parser.add_argument("--peer-only", action="store_true", help="add the peer rows to existing results only")
    args = parser.parse_args()
    if args.peer_only and not args.peer:
        parser.error("--peer-only needs --peer (the python of RecBole's venv)")
    if unknown := set(args.peer_models.split(",")) - set(PEER_MODELS):
        parser.error(f"--peer-models: unknown {', '.join(sorted(unknown))}; choose from {', '.join(PEER_MODELS)}")

    args.data, args.out = args.data.resolve(), args.out.resolve()  # the benchmark runs in the repository root
    shopseq = str(Path(sys.executable).with_name("shopseq"))
    for name in filter(None, args.only.split(",")):
        out = args.out / "quality" / name
        run_dataset(args, name, out, shopseq)
        make_portable(out, args.data)

    # The page collects every data set's latest result, so data sets can be rerun one at a time.
    reports, skipped, commands = [], {}, []
    for name in DATASETS:
        out = args.out / "quality" / name
        if (out / "command.txt").exists():
            commands.extend((out / "command.txt").read_text().strip().splitlines())
        if (out / "quality.json").exists():
            reports.append(json.loads((out / "quality.json").read_text()))
        elif (out / "skipped.txt").exists():
            skipped[name] = (out / "skipped.txt").read_text().strip()
    (args.out / "quality.json").write_text(json.dumps({"reports": reports, "skipped": skipped}, indent=2, default=str))
    (args.out / "quality.md").write_text(render(reports, skipped, commands))
    print(f"wrote {args.out / 'quality.md'} and {args.out / 'quality.json'}")


def run_dataset(args: argparse.Namespace, name: str, out: Path, shopseq: str) -> None:
    """One data set: the benchmark in its own process (or, with --peer-only, RecBole's rows only) into `out`."""
    source, relative, extra = DATASETS[name]
    if args.peer_only:
        if (out / "quality.json").exists() and (out / "split").exists():
            run_peer(args, out)
            refresh_comparisons(out)
        return
    out.mkdir(parents=True, exist_ok=True)
    previous = previous_peer(out)
    for stale in ("quality.json", "quality.md", "skipped.txt"):
        (out / stale).unlink(missing_ok=True)
    command = [shopseq, "--params", str(ROOT / "params.yaml"), "--no-verbose", "benchmark", "quality",
               "--source", source, "--out", str(out), "--families", args.families, "--text", args.text, *extra]
    if relative is not None:
        command += ["--path", str(args.data / relative)]
    for option, value in (("--epochs", args.epochs), ("--max-users", args.max_users), ("--max-targets", args.max_targets),
                          ("--seeds", args.seeds)):
        if value is not None:
            command += [option, str(value)]
    shown = portable_text(shlex.join(["shopseq", *command[1:]]), args.data)
    (out / "command.txt").write_text(shown + "\n")
    print(f"== {name}: {shown}", flush=True)
    started = time.perf_counter()
    try:
        done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=args.timeout)
    except subprocess.TimeoutExpired:
        skip(out, f"did not finish within {args.timeout:.0f} s")
        return
    if done.returncode < 0:
        skip(out, f"stopped by signal {-done.returncode}")
        return
    if done.returncode != 0:
        errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
        lines = errors or done.stderr.strip().splitlines()[-1:]
        skip(out, lines[0].removeprefix("error: ") if lines else f"exit code {done.returncode}")
        return
    if args.peer:
        run_peer(args, out)
    elif previous is not None:
        keep_peer(out, previous)
    refresh_comparisons(out)
    print(markdown_table([json.loads((out / "quality.json").read_text())]), flush=True)
    print(f"   {time.perf_counter() - started:.0f} s", flush=True)


def make_portable(out: Path, data: Path) -> None:
    """Rewrite what a run left in `out` so it names no path of this machine: `$DATA/...`, repository-relative.

    The benchmark records the `--path` it was given, and a failure's reason may quote one; the
    committed files must read the same on every machine, as `command.txt` does.
    """
    for name in ("quality.md", "skipped.txt", "peer_error.txt", "command.txt"):
        if (out / name).exists():
            (out / name).write_text(portable_text((out / name).read_text(), data))
    if (out / "quality.json").exists():
        report = portable_json(json.loads((out / "quality.json").read_text()), data)
        (out / "quality.json").write_text(json.dumps(report, indent=2, default=str))


def _hyperparameters(hp: dict | None) -> str:
    if not hp:
        return "hyperparameters not recorded"
    keys = ("hidden", "layers", "dropout", "lr", "batch_size", "repeat", "patience")
    shown = ", ".join(f"{k} {hp[k]}" for k in keys if k in hp)
    overrides = "; ".join(f"{family}: " + ", ".join(f"{k} {v}" for k, v in values.items())
                          for family, values in (hp.get("family_defaults") or {}).items())
    return shown + (f" ({overrides})" if overrides else "")


def _peer_settings(report: dict) -> list[str]:
    """One sub-line per RecBole row trained under the fair rules: its rate, grid, epochs and times."""
    lines = []
    for row in report["rows"]:
        settings = row.get("settings")
        if not row["model"].startswith("recbole_"):
            continue
        if not settings:  # the `peer` block may already describe a later, fair run of the other model
            lines.append(f"  - {row['model']}: an older run from before the fair rules (no validation, RecBole's "
                         "default rate; its epochs are in its command below)")
            continue
        grid = ", ".join(f"{point['lr']} → {point['valid_ndcg@10']:.4f} ({point['epochs_trained']} epochs)"
                         for point in row.get("lr_grid", []))
        lines.append(f"  - {row['model']}: lr {settings['lr']} chosen on validation NDCG@10 from [{grid}]; "
                     f"best epoch {row['best_epoch']} of {row['epochs_trained']} (at most {settings['max_epochs']}, "
                     f"patience {settings['patience']}); {row['train_seconds_to_best']:.0f} s to the best epoch, "
                     f"{row['train_seconds']:.0f} s in total")
    return lines


def run_peer(args: argparse.Namespace, out: Path) -> None:
    """Add RecBole's rows to `out/quality.json` (its own venv), then redraw `out/quality.md`."""
    command = [args.peer, str(ROOT / "benchmarks" / "recbole_peer.py"), "--out", str(out)]
    if args.peer_epochs:  # default: the same maximum epochs (and patience) the benchmark gave shopseq's models
        command += ["--epochs", str(args.peer_epochs)]
    if args.peer_models != ",".join(PEER_MODELS):
        command += ["--models", args.peer_models]
    if args.peer_lrs:
        command += ["--lrs", args.peer_lrs]
    shown = "$RECBOLE_PYTHON " + portable_text(shlex.join(command[1:]))  # unquoted: a variable to expand
    print(f"   peer: {shown}", flush=True)
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=args.timeout)
    if done.returncode != 0:
        reason = (done.stderr.strip().splitlines() or [f"exit code {done.returncode}"])[-1]
        (out / "peer_error.txt").write_text(reason + "\n")
        print(f"   peer failed: {reason}", flush=True)
        return
    lines = [*(out / "command.txt").read_text().splitlines(), shown]
    (out / "command.txt").write_text("\n".join(current_commands(lines)) + "\n")
    (out / "quality.md").write_text(markdown_table([json.loads((out / "quality.json").read_text())]))


def current_commands(lines: list[str]) -> list[str]:
    """The command lines that made rows still in the report: a peer line goes once later lines retrained all its models.

    SASRec, then GRU4Rec alone keeps both lines; an earlier run of both goes once each has been rerun.
    """
    current = []
    for k, line in enumerate(lines):
        later = [_peer_models(after) for after in lines[k + 1:] if "recbole_peer.py" in after]
        if "recbole_peer.py" not in line or not _peer_models(line) <= set().union(*later):
            current.append(line)
    return current


def _peer_models(command: str) -> set[str]:
    """The RecBole rows a recorded `recbole_peer.py` command line trained (all without --models)."""
    words = command.split()
    return set(words[words.index("--models") + 1].split(",")) if "--models" in words else set(PEER_MODELS)


def previous_peer(out: Path) -> tuple[dict, list[dict], str, list[str]] | None:
    """RecBole's rows from the last run in `out`: its block, rows, split digest and command line."""
    report_file, split = out / "quality.json", out / "split"
    if not report_file.exists():
        return None
    report = json.loads(report_file.read_text())
    rows = [row for row in report["rows"] if row["model"] in PEER_MODELS]
    peer = report.get("peer", {})
    # The recorded digest is enough: split/ is not committed, so a fresh clone has only the digest.
    if not rows or not (peer.get("split_sha256") or split.exists()):
        return None
    commands = [line for line in (out / "command.txt").read_text().splitlines() if "recbole_peer.py" in line]
    return peer, rows, peer.get("split_sha256") or split_digest(split), commands


def keep_peer(out: Path, previous: tuple[dict, list[dict], str, list[str]]) -> None:
    """Put the previous peer rows back when the rerun wrote the identical split (RecBole takes long)."""
    peer, rows, digest, commands = previous
    if split_digest(out / "split") != digest:
        print("   peer rows dropped: the split changed since RecBole ran; rerun with --peer", flush=True)
        return
    report = json.loads((out / "quality.json").read_text())
    report["rows"] += rows
    report["peer"] = {**peer, "split_sha256": digest}
    (out / "quality.json").write_text(json.dumps(report, indent=2, default=str))
    (out / "quality.md").write_text(markdown_table([report]))
    (out / "command.txt").write_text("\n".join([*(out / "command.txt").read_text().splitlines(), *commands]) + "\n")
    print(f"   kept {len(rows)} peer rows: the split is unchanged since RecBole ran", flush=True)


def refresh_comparisons(out: Path) -> None:
    """Recompute the shopseq row and the comparisons once peer rows (and their per-target values) are in."""
    report_file = out / "quality.json"
    report = json.loads(report_file.read_text())
    if "seeds" not in report:  # written before the validation-chosen row existed: nothing to compare per target
        return
    add_choice_and_comparisons(report, out, BASELINE_ROWS, report["seeds"][0])
    report_file.write_text(json.dumps(report, indent=2, default=str))
    (out / "quality.md").write_text(markdown_table([report]))


def skip(out: Path, reason: str) -> None:
    """Record why a data set has no result (an adapter that cannot read it yet, a timeout)."""
    (out / "skipped.txt").write_text(reason + "\n")
    print(f"   skipped: {reason}", flush=True)


def render(reports: list[dict], skipped: dict[str, str], commands: list[str]) -> str:
    """The committed results page: the table, per-data-set split facts, skipped sets, commands."""
    lines = ["# Quality benchmark", "",
             "Full-ranking metrics on each data set's test targets (the same targets for every row).",
             "`train s` is fitting only (item text is embedded once, before the +text rows); `peak MB` is",
             "the rise of resident memory while the row fitted and scored. `NDCG@10 rare`: targets whose",
             "item has at most 5 training interactions; `NDCG@10 known history`: targets whose history holds",
             "at least one training item, the only rows RecBole can score (its other rows count as misses",
             "in the main columns). RecBole rows are kept across reruns while the split is byte-identical.",
             "Models train with `train.defaults` (and `train.family_defaults`) for up to the given epochs,",
             "keeping the best validation epoch and stopping after `train.patience` epochs without a",
             "better one (no Optuna); each data set's line below says which settings its rows used.",
             "`<model>+<baseline>` rows are that trained model blended with the neighbourhood baseline and",
             "weight chosen on validation (`train.blend`); they appear when the blend beat the model alone",
             "on validation, and their time includes the model's.",
             "**shopseq** is the row the pipeline would deploy: the trained row (family, item text, blend) with",
             "the best validation NDCG@10 (`valid NDCG@10`); test figures take no part in that choice. A",
             "trained row is the mean over its training seeds (`± std`, sample standard deviation). The",
             "second table is a paired bootstrap over the same test targets (2,000 resamples): shopseq minus",
             "the best simple baseline on validation, and minus each peer row with per-target values;",
             "`beats` only where the 95% interval excludes zero. `leaky split` marks leave-last-out data",
             "sets: training holds other users' events from after a held-out target, as in published",
             "protocols, so those figures are not what a model deployed at a date would score.",
             "Times come from a 2-core CPU shared with other jobs: indicative only.",
             "Rerun one data set with `python benchmarks/quality.py --only NAME [options]`; this page collects",
             "the latest result of each.", "",
             markdown_table(reports) if reports else "(no data set finished)", ""]
    for report in reports:
        split = report["split"]
        lines.append(
            f"- {report['dataset']}: {split['kind']} split, {split['train_sequences']} training sequences, "
            f"{split['items']} items, {split['test_targets_evaluated']} test targets "
            f"({split['rare_targets_evaluated']} rare), up to {report['epochs']} epochs, "
            + ("no item text" if report["embed_seconds"] is None else f"item text embedded in {report['embed_seconds']} s")
            + f", wall {report['wall_seconds']} s; {_hyperparameters(report.get('hyperparameters'))}"
            + (f"; RecBole {report['peer']['epochs']} epochs" if report.get("peer") else "")
            + (f"; seeds {report['seeds']}" if report.get("seeds") else "; one seed (results from before seeds were recorded)")
            + ("; **leaky split**" if report.get("leaky_split", report["split"]["kind"] == "leave_last_out") else "")
        )
        lines.extend(_peer_settings(report))
    if skipped:
        lines += ["", "Skipped:"] + [f"- {name}: {reason}" for name, reason in skipped.items()]
    lines += ["", "Commands (`$DATA` = the shared data folder):", "", "```"] + commands + ["```", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
