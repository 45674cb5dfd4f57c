"""Build daily demand series and run `shopseq benchmark forecast` on each: 14-day horizon, 4 origins.

    python benchmarks/forecast.py                  # every data set
    python benchmarks/forecast.py --only synthetic

Data sets, intermittent (most item-days sell nothing) and dense (most days sell something):
- `synthetic` (intermittent): the default synthetic shop of params.yaml (same generator, seed and
  settings) but drawn over `--synthetic-days` days (default 112): the default 63 days are too
  short for four 14-day origins after two weeks of history. Units bought per item and UTC day.
- `synthetic_category` (dense): the same shop's units per category and UTC day.
- `online_retail` (intermittent): UCI Online Retail, the non-UK line items in ../shared/data
  (cancellations and returns dropped); Quantity summed per StockCode and day for the `--top`
  items by total quantity.
- `online_retail_daily` (dense): UCI Online Retail II's invoice aggregates in ../shared/data,
  2009-12-01 .. 2011-12-09: per day, UK and non-UK invoices, units and revenue (6 series; the
  shop sends nothing on Saturdays, a weekly closing day).
The UCI sets are skipped, with the reason printed, when the shared data is absent.

Writes `<out>/<name>/forecast.json|md`, the command as `<out>/<name>/command.txt`, and
`<out>/forecast.md` combining every data set run so far. The series themselves go to
`benchmarks/data/forecast/<name>/series.csv` (git-ignored: one of them is derived from the shared
UCI data, which is not ours to publish, and both are rebuilt by this script).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SERIES_DIR = ROOT / "benchmarks" / "data" / "forecast"
sys.path.insert(0, str(ROOT / "src"))

# The shared data samples sit beside the checkout; they are read, never copied into the repo.
ONLINE_RETAIL = ROOT.parent / "shared" / "data" / "online_retail" / "online_retail_non_uk_2010-12_2011-12.csv.gz"
ONLINE_RETAIL_II = ROOT.parent / "shared" / "data" / "online_retail" / "online_retail_ii_invoice_level_2009-12_2011-12.csv.gz"
KINDS = {"synthetic": "intermittent", "synthetic_category": "dense", "online_retail": "intermittent", "online_retail_daily": "dense"}


def synthetic_series(path: Path, days: int, by_category: bool = False) -> str:
    """Daily units per item (or per category) of the default synthetic shop drawn over `days` days."""
    from shopseq.config import load_params
    from shopseq.data.synthetic import generate_shop
    from shopseq.downstream.forecast import daily_demand

    params = load_params(ROOT / "params.yaml")
    shop = generate_shop(dataclasses.replace(params.ingest.synthetic, days=days, until=None), params.base.seed)
    demand = daily_demand(shop.events)
    if by_category:
        category = shop.items.assign(item_id=shop.items["item_id"].astype(str)).set_index("item_id")["category"]
        demand = demand.assign(item_id=demand["item_id"].map(category)).groupby(["item_id", "date"], as_index=False)["demand"].sum()
    demand = demand.rename(columns={"item_id": "id", "demand": "value"})
    path.parent.mkdir(parents=True, exist_ok=True)
    demand[["id", "date", "value"]].to_csv(path, index=False, date_format="%Y-%m-%d")
    what = "units per category and day" if by_category else "units per item and day"
    return f"default synthetic shop over {days} days, seed {params.base.seed}: {what}"


def online_retail_daily_series(path: Path) -> str | None:
    """UK and non-UK invoices, units and revenue per day of Online Retail II; None when absent."""
    import pandas as pd

    if not ONLINE_RETAIL_II.is_file():
        return None
    invoices = pd.read_csv(ONLINE_RETAIL_II)
    invoices = invoices[(invoices["total_quantity"] > 0) & (invoices["total_price"] > 0)]  # returns and cancellations out
    invoices["date"] = pd.to_datetime(invoices["invoice_date"], format="%m/%d/%y %H:%M").dt.normalize()
    invoices["market"] = invoices["domestic_sale"].map({True: "uk", False: "non_uk"})
    daily = invoices.groupby(["market", "date"]).agg(invoices=("invoice_id", "size"), units=("total_quantity", "sum"), revenue=("total_price", "sum"))
    long = daily.stack().rename("value").reset_index()
    long["id"] = long["market"] + "_" + long["level_2"]
    path.parent.mkdir(parents=True, exist_ok=True)
    long[["id", "date", "value"]].to_csv(path, index=False, date_format="%Y-%m-%d")
    return "UCI Online Retail II invoice aggregates: UK and non-UK invoices, units and revenue per day (returns dropped)"


def online_retail_series(path: Path, top: int) -> str | None:
    """Quantity per StockCode and day for the `top` items; None when the sample is absent."""
    import pandas as pd

    if not ONLINE_RETAIL.is_file():
        return None
    lines = pd.read_csv(ONLINE_RETAIL, dtype={"InvoiceNo": str, "StockCode": str})
    lines = lines[~lines["InvoiceNo"].str.startswith("C") & (lines["Quantity"] > 0)]
    lines["date"] = pd.to_datetime(lines["InvoiceDate"], format="%m/%d/%Y %H:%M").dt.normalize()
    best = lines.groupby("StockCode")["Quantity"].sum().nlargest(top).index
    daily = lines[lines["StockCode"].isin(best)].groupby(["StockCode", "date"], as_index=False)["Quantity"].sum()
    daily.columns = ["id", "date", "value"]
    path.parent.mkdir(parents=True, exist_ok=True)
    daily.to_csv(path, index=False, date_format="%Y-%m-%d")
    return f"UCI Online Retail non-UK line items, top {top} StockCodes by quantity"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "forecast")
    parser.add_argument("--horizon", type=int, default=14)
    parser.add_argument("--origins", type=int, default=4)
    parser.add_argument("--synthetic-days", type=int, default=112)
    parser.add_argument("--top", type=int, default=50)
    parser.add_argument("--only", choices=list(KINDS), default=None)
    args = parser.parse_args()
    args.out = args.out.resolve()  # the CLI runs from the repository root; dvc runs this from benchmarks/

    sets = {
        "synthetic": lambda p: synthetic_series(p, args.synthetic_days),
        "synthetic_category": lambda p: synthetic_series(p, args.synthetic_days, by_category=True),
        "online_retail": lambda p: online_retail_series(p, args.top),
        "online_retail_daily": online_retail_daily_series,
    }
    for name, build in sets.items():
        if args.only and name != args.only:
            continue
        series = SERIES_DIR / name / "series.csv"
        described = build(series)
        if described is None:
            print(f"skipping {name}: {ONLINE_RETAIL.parent} has not its file (the shared data sits beside the checkout)")
            continue
        command = [
            sys.executable, "-m", "shopseq.cli", "benchmark", "forecast", "--series", _rel(series),
            "--horizon", str(args.horizon), "--origins", str(args.origins), "--out", _rel(args.out / name),
        ]
        start = time.time()
        subprocess.run(command, cwd=ROOT, env={**os.environ, "OMP_NUM_THREADS": "1"}, check=True)
        (args.out / name / "about.txt").write_text(described + "\n")
        (args.out / name / "command.txt").write_text(
            f"OMP_NUM_THREADS=1 shopseq {shlex.join(command[3:])}\n# via: python benchmarks/forecast.py "
            f"{shlex.join(sys.argv[1:])}\n# wall {time.time() - start:.0f} s, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
            "shared 2-core machine (timings skewed by other jobs)\n"
        )
    print(combine(args.out, list(sets)))


READING = """\
Every method is scored on the same statistic, its point forecast, which is a mean for every
method (the model's too): WAPE pools |error| / units sold over every series, day and origin (per
origin in the "by origin" line); MASE and RMSSE average per series (RMSSE: squared error over the
mean squared one-day change, the M5 competition's measure). "WAPE of horizon total" scores each
series' total over the horizon. Pinball is the model's quantile loss averaged over the levels
0.1, 0.25, 0.5, 0.75 and 0.9, divided by mean demand (the other methods give no quantiles).
`global_gbm` is mlforecast's standard recipe with default LightGBM (lags 1, 7, 14, rolling means
of 7 and 28 days, day of week; squared error, recursive); `tweedie_gbm` the M5 winners' recipe
(Tweedie LightGBM, lags and rolling means); `zero` forecasts nothing. On intermittent item-day
demand WAPE rewards forecasting 0 (the all-zero row scores exactly 1.0 and a mean forecast
scores above it): read RMSSE and the horizon totals there. The model chooses its treatment on
holdout windows before each origin; the line "Chosen on the holdouts" lists it per origin.
"""


def summary_table(out: Path, names: list[str]) -> str:
    """One line per data set: kind, the model's WAPE, RMSSE and horizon-total WAPE beside the peers'."""
    import json

    lines = [
        "| data | kind | WAPE: model / seasonal naive / global_gbm / tweedie_gbm / exp smoothing / zero | RMSSE: model / best other | horizon-total WAPE: model / best other | 80% band coverage |",
        "|---|---|---|---|---|---:|",
    ]
    for name in names:
        path = out / name / "forecast.json"
        if not path.is_file():
            continue
        report = json.loads(path.read_text())
        rows = {row["method"]: row for row in report["rows"]}
        methods = ("model", "seasonal_naive", "global_gbm", "tweedie_gbm", "exp_smoothing", "zero")
        wapes = " / ".join(_num(rows.get(m, {}).get("wape")) for m in methods)  # a file from before a method existed: n/a
        cells = [f"{name}", KINDS[name], wapes]
        for key in ("rmsse", "wape_total"):
            best = min((r for m, r in rows.items() if m != "model" and r.get(key) is not None), key=lambda r: r[key])
            cells.append(f"{_num(rows['model'].get(key))} / {_num(best[key])} ({best['method']})")
        cells.append(_num(report["interval_coverage"]))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _num(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def combine(out: Path, names: list[str]) -> str:
    """Write `out/forecast.md` from every data set's results so far; return its text."""
    sections = [
        f"## {name}\n\n{(out / name / 'about.txt').read_text().strip()}.\n\n{(out / name / 'forecast.md').read_text()}"
        f"\n```\n{(out / name / 'command.txt').read_text()}```\n"
        for name in names
        if (out / name / "forecast.md").is_file()
    ]
    out.mkdir(parents=True, exist_ok=True)
    (out / "forecast.md").write_text("# Forecast benchmark\n\n" + READING + "\n" + summary_table(out, names) + "\n" + "\n".join(sections))
    return (out / "forecast.md").read_text()


def _rel(path: Path) -> str:
    return str(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path)


if __name__ == "__main__":
    main()
