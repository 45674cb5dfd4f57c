"""Run the bad-input corpus through `check-data` and tabulate what happened to every case.

    python benchmarks/bad_inputs.py                       # writes benchmarks/results/bad_inputs.md
    python benchmarks/bad_inputs.py --huge 100000 --out /tmp/bad_inputs.md

The corpus is `tests/bad_inputs/generate.py` (the same cases `tests/bad_inputs/` asserts on),
written to a temporary directory. Each row of the table: the kind of input, the adapter, what
happened (the error's message, or the quarantine reasons with counts), rows in / accepted /
quarantined (all tables), and rows lost: data rows in the events file minus the events table's
`rows_in`, plus any table where rows in != accepted + quarantined. It must be 0 everywhere.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
GENERATOR = ROOT / "tests" / "bad_inputs" / "generate.py"


def load_generator():
    """The corpus generator module (by file: `bad_inputs` here would be this script itself)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("bad_input_corpus", GENERATOR)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while building Case
    spec.loader.exec_module(module)
    return module


def run_case(case, params, out: Path) -> dict:
    """One case through the library call behind `shopseq check-data`: its row of the table."""
    from shopseq.data.adapters import FormatError
    from shopseq.validation.check import check_data

    started = time.perf_counter()
    row = {"kind": case.kind, "adapter": case.source, "expected": case.expect}
    try:
        summary = check_data(case.source, case.path, out, params.ingest, params.validate, params.base.seed)
    except FormatError as error:
        message = str(error).replace(str(case.path), "<file>")
        row.update(happened=f"error: {message[:150]}", rows_in="-", accepted="-", quarantined="-", lost=0)
    else:
        lost = sum(
            abs(t["rows_in"] - t["rows_accepted"] - t["rows_quarantined"]) for t in summary["tables"].values()
        )
        if case.data_rows is not None:
            lost += case.data_rows - summary["tables"]["events"]["rows_in"]
        if summary["passed"]:
            reasons = ", ".join(f"{r} {n}" for r, n in summary["quarantine_reasons"].items())
            happened = f"quarantined: {reasons}" if reasons else "accepted"
            notes = summary["ingest"]["notes"]
            counted = ", ".join(f"{note} {notes.get(note, 0)}" for note in case.notes)
            happened += f"; counted: {counted}" if counted else ""
        else:
            happened = "exit 1: " + summary["errors"][0].replace(f"{case.path}: ", "<file>: ")[:150]
        row.update(
            happened=happened,
            rows_in=summary["rows_in"],
            accepted=summary["rows_accepted"],
            quarantined=summary["rows_quarantined"],
            lost=lost,
        )
    row["seconds"] = time.perf_counter() - started
    return row


def to_markdown(rows: list[dict], command: str) -> str:
    header = "| kind of input | adapter | what happened | rows in | accepted | quarantined | rows lost |"
    lines = [header, "|---|---|---|---:|---:|---:|---:|"]
    for r in rows:
        happened = r["happened"].replace("|", "\\|").replace("\n", " ")
        lines.append(
            f"| {r['kind']} | {r['adapter']} | {happened} | {r['rows_in']} | {r['accepted']} | "
            f"{r['quarantined']} | {r['lost']} |"
        )
    total_lost = sum(r["lost"] for r in rows)
    slowest = max(rows, key=lambda r: r["seconds"])
    return (
        "# Bad-input corpus through `shopseq check-data`\n\n"
        f"Command: `{command}`\n\n"
        "Rows in / accepted / quarantined are over all tables (events, items, reviews); rows lost counts "
        "data rows of the events file missing from the events table plus any table whose rows in != "
        "accepted + quarantined. Errors are raised before anything is written (check-data exits 1 with "
        "that one line); `exit 1:` rows wrote summary.json with passed=false.\n\n"
        + "\n".join(lines)
        + f"\n\n{len(rows)} cases; rows lost in total: {total_lost}. Slowest case: {slowest['kind']} "
        f"({slowest['adapter']}) {slowest['seconds']:.1f} s including Great Expectations and Data Docs "
        "(measured on a shared 2-core machine under load from other work: an upper bound).\n"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--huge", type=int, default=1_000_000, help="events of the one huge user (0: skip)")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "bad_inputs.md")
    args = parser.parse_args()

    import logging

    logging.basicConfig(level=logging.WARNING)
    corpus = load_generator()

    from shopseq.config import Params, from_dict

    params = from_dict(Params, {"validate": {"min_rows": corpus.MIN_ROWS}})
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        cases = corpus.build_corpus(Path(tmp) / "corpus", huge_user_events=args.huge)
        for k, case in enumerate(cases, start=1):
            rows.append(run_case(case, params, Path(tmp) / "out" / case.id))
            print(
                f"[{k}/{len(cases)}] {case.id}: {rows[-1]['happened'][:90]} (lost {rows[-1]['lost']})",
                flush=True,
            )
    command = "python benchmarks/bad_inputs.py " + shlex.join(sys.argv[1:])
    text = to_markdown(rows, command.strip())
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(text)
    if any(r["lost"] for r in rows):
        raise SystemExit("rows were lost: see the table")


if __name__ == "__main__":
    main()
