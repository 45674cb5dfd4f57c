"""Measure the audiences' offline check (and the profiles' targets) on the synthetic shop and the Taobao sample.

    python benchmarks/audiences.py                          # both data sets
    python benchmarks/audiences.py --only taobao --epochs 1
    python benchmarks/audiences.py --data ../shared/data --out benchmarks/results/audiences

For each data set: the pipeline's own adapter and validation, a GRU next-item model trained on
the sequences split's training part only (so it never saw the held-out days), then
`plan_audiences` exactly as the audiences stage runs it (category audiences + campaigns, each
chosen as of the holdout start and judged on the held-out days). On synthetic data it also
reports the price-sensitivity Spearman and the churn model's temporal evaluation. A data set
whose files are absent is skipped with the reason. Writes `<out>/<name>.json` per data set, and
`<out>/audiences.json` and `<out>/audiences.md` over the latest result of each. Timings come from a shared 2-core machine: indicative only.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from shopseq import schema as s
from shopseq.config import Campaign, load_params

log = logging.getLogger("benchmarks.audiences")

# name -> (source, path under the data folder or None, audience overrides, sequence split overrides)
DATASETS = {
    "synthetic": ("synthetic", None, {}, {}),
    # nine days of whole histories: two held-out days, a three-day "recent" window
    "taobao": (
        "taobao",
        "taobao_userbehavior",
        {"holdout_days": 2, "recent_days": 3, "half_life_days": 2.0, "top_users": 50},
        {"valid_days": 1, "test_days": 1},
    ),
}


def run_dataset(name: str, data: Path, epochs: int) -> dict:
    """Load, validate, train a GRU on the training part, then plan and check every audience."""
    from shopseq.benchmarks.quality import train_model, validated
    from shopseq.data.sources import load_source
    from shopseq.downstream.audience_scoring import top_categories
    from shopseq.downstream.audiences import plan_audiences

    source, relative, audience_overrides, split_overrides = DATASETS[name]
    path = None if relative is None else data / relative
    if path is not None and not path.exists():
        return {"dataset": name, "skipped": f"{path} is absent"}
    params = load_params(ROOT / "params.yaml")
    started = time.perf_counter()
    events, items, reviews = load_source(source, path, params.ingest, params.base.seed)
    truth = None
    if source == "synthetic":
        from shopseq.data.synthetic import generate_shop

        truth = generate_shop(params.ingest.synthetic, params.base.seed).users_truth
    events, items, _ = validated(events, items, reviews, params)
    events, items = s.conform(events, s.EVENTS), s.conform(items, s.ITEMS)
    config = replace(params.audiences, **audience_overrides)
    if source != "synthetic":  # the default campaigns name synthetic categories: target the busiest one
        busiest = top_categories(events, items, 1)[0]
        config = replace(config, campaigns=[
            Campaign(name=f"{objective}_{busiest}", objective=objective, category=busiest, size=config.top_users)
            for objective in ("acquisition", "retention", "discount")
        ])

    from shopseq.sequences.split import split_sequences

    split = split_sequences(events, replace(params.sequences, **split_overrides))
    trained = time.perf_counter()
    recommender = train_model("gru", split, None, epochs, params).recommender
    train_seconds = time.perf_counter() - trained
    planned = time.perf_counter()
    result = plan_audiences(recommender, events, items, config, params.profiles, seed=params.base.seed)
    report = {
        "dataset": name,
        "events": len(events),
        "users": int(events[s.USER_ID].nunique()),
        "epochs": epochs,
        "train_seconds": round(train_seconds, 1),
        "audience_seconds": round(time.perf_counter() - planned, 1),
        "audiences": result.metrics,
    }
    if truth is not None:
        report["profiles"] = profile_targets(events, items, truth, params)
        report["profiles"]["churn"]["with_sequence_state"] = churn_with_sequence_state(events, items, params, epochs)
        report["audiences"]["offline_check"]["oracle_ceiling"] = audience_ceiling(events, items, truth, params, config)
    report["wall_seconds"] = round(time.perf_counter() - started, 1)
    return report


def profile_targets(events, items, truth, params) -> dict:
    """Price-sensitivity Spearman against the generator's truth and the churn model's temporal check."""
    from shopseq.profiles.build import behaviour_features, price_sensitivity_spearman
    from shopseq.profiles.churn import churn_risk, truth_auc
    from shopseq.profiles.features import end_of_data

    end = end_of_data(events)
    features = behaviour_features(events, items, end, params.profiles)[0].rename_axis(s.USER_ID).reset_index()
    features[s.USER_ID] = features[s.USER_ID].astype("string")
    rho = {}
    for column in ("price_sensitivity", "price_conversion_slope", "price_choice_score"):
        value, n = price_sensitivity_spearman(features.assign(price_sensitivity=features[column]), truth)
        rho[column] = None if value is None else round(value, 4)
    rho.update(oracle_spearman(events, items, truth, params))
    risk, churn = churn_risk(events, items, end, params.profiles, params.base.seed)
    if risk is not None:
        auc, _ = truth_auc(risk, truth)
        churn["truth_auc"] = None if auc is None else round(auc, 4)
    return {"price_sensitivity_spearman": rho, "users": n,
            "churn": {k: v for k, v in churn.items() if k != "reliability"}}


SEQUENCE_STATE_COMPONENTS = 8


def churn_with_sequence_state(events, items, params, epochs: int) -> dict:
    """The churn check again with the next-item model's state of each user as extra features.

    A GRU trained only on events before the churn check's training cut (so no label window leaks
    into it) encodes each user's history before a cut; its last hidden state, reduced to
    SEQUENCE_STATE_COMPONENTS principal components fitted at the training cut, joins the
    behaviour features. Same cuts, labels and classifier as the profiles' churn model, so the
    AUC difference is what the state adds.
    """
    import numpy as np
    import pandas as pd
    import torch
    from sklearn.decomposition import PCA

    from shopseq.benchmarks.quality import train_model
    from shopseq.profiles.build import behaviour_features
    from shopseq.profiles.churn import churn_cuts, evaluate_churn
    from shopseq.profiles.features import end_of_data
    from shopseq.sequences.models import pad_batch
    from shopseq.sequences.split import collapse_steps, split_sequences

    end = end_of_data(events)
    days = params.profiles.churn_days
    train_cut, _ = churn_cuts(end, days)
    split = split_sequences(events[events[s.TS] < train_cut], params.sequences)
    recommender = train_model("gru", split, None, epochs, params).recommender
    model = recommender.model.eval()
    steps = collapse_steps(events)
    reducer: list[PCA] = []

    @torch.inference_mode()
    def states(as_of: pd.Timestamp) -> pd.DataFrame:
        histories = steps[steps[s.TS] < as_of].groupby(s.USER_ID)[s.ITEM_ID].agg(lambda items: [str(i) for i in items])
        chunks = []
        for start in range(0, len(histories), 512):
            seq, lengths = pad_batch([recommender.encode(h) for h in histories.iloc[start:start + 512]], model.config.max_len)
            chunks.append(model.last_states(seq, lengths).numpy())  # (B, H)
        vectors = np.concatenate(chunks)
        if not reducer:  # fitted once, at the first (training) cut
            reducer.append(PCA(SEQUENCE_STATE_COMPONENTS, random_state=params.base.seed).fit(vectors))
        columns = [f"sequence_state_{i}" for i in range(SEQUENCE_STATE_COMPONENTS)]
        return pd.DataFrame(reducer[0].transform(vectors), index=histories.index.astype(str), columns=columns)

    def build(as_of: pd.Timestamp) -> pd.DataFrame:
        features = behaviour_features(events, items, as_of, params.profiles)[0]
        return features.set_axis(features.index.astype(str)).join(states(as_of))

    metrics, _ = evaluate_churn(events, build, end, days, params.base.seed)
    return {"auc": metrics["model"]["auc"], "brier": metrics["model"]["brier"], "n_test": metrics["n_test"],
            "components": SEQUENCE_STATE_COMPONENTS, "gru_trained_before": train_cut.isoformat()}


def oracle_spearman(events, items, truth, params) -> dict:
    """Ceilings for a behavioural price-sensitivity score on the synthetic shop.

    The posterior mean of each user's true sensitivity under the generator's own models and its
    Beta(2, 2) prior: carts, P(cart | view) = min(0.1 exp(-2.2 s x), 0.5) with x the log price
    relative to the category median; and, added to that, the free choices (`free_choices`) under
    the generator's tilt exp(-1.5 s x), around the population's mean sensitivity 0.5. What an
    estimator that knew the generator's constants could reach from the same evidence.
    """
    import numpy as np
    import pandas as pd
    from scipy.stats import spearmanr

    from shopseq.profiles import features as f
    from shopseq.profiles.price import choice_evidence

    prepared = f.prepare_events(events, items, pd.Timedelta(minutes=params.profiles.session_gap_minutes))
    medians = f.category_median_prices(items, prepared)
    log_relative = np.log(prepared[f.UNIT_PRICE] / prepared[s.CATEGORY].map(medians).astype("float64"))
    priced = prepared.assign(log_relative=log_relative)
    views = f.view_conversions(priced)
    evidence = choice_evidence(f.free_choices(priced))
    grid = np.linspace(0.0, 1.0, 101)  # (G,)
    p = np.minimum(0.1 * np.exp(-2.2 * np.outer(views["x"], grid)), 0.5)  # (V, G)
    y = views["carted"].to_numpy()[:, None]
    codes, users = pd.factorize(views[s.USER_ID])
    loglik = np.zeros((len(users), len(grid)))
    np.add.at(loglik, codes, y * np.log(p) + (1 - y) * np.log1p(-p))
    tilt = 1.5 * (grid - 0.5)  # (G,)
    r = evidence["R"].reindex(users, fill_value=0.0).to_numpy()[:, None]
    v = evidence["V"].reindex(users, fill_value=0.0).to_numpy()[:, None]
    log_prior = np.log(np.clip(grid * (1 - grid), 1e-9, None))
    truth = truth.assign(**{s.USER_ID: truth[s.USER_ID].astype(str)}).set_index(s.USER_ID)
    out = {}
    for name, total in (("oracle_cart_model", loglik), ("oracle_cart_and_choice_model", loglik + r * tilt - 0.5 * v * tilt**2)):
        posterior = np.exp(total + log_prior - (total + log_prior).max(axis=1, keepdims=True))
        mean = pd.Series(posterior @ grid / posterior.sum(axis=1), index=users.astype(str))
        merged = truth.join(mean.rename("oracle"), how="inner")
        out[name] = round(float(spearmanr(merged["oracle"], merged["price_sensitivity"]).statistic), 4)
    return out


def audience_ceiling(events, items, truth, params, config) -> dict | None:
    """An approximate ceiling for the category audiences' precision on the synthetic shop.

    Ranks users as the check does (history before the holdout start, top `top_users` per
    category) but by what the generator knows and behaviour only hints at: each user's session
    rate, churn day and category preference, P(touch c) = 1 - exp(-sessions in the holdout x
    (1 - (1 - preference_c)^3)). Redraws the users with the generator's own seeded steps and
    checks them against the truth table; None when they differ (the generator changed).
    """
    import numpy as np
    import pandas as pd

    from shopseq.data import synthetic as syn
    from shopseq.downstream.audience_scoring import (
        category_targets,
        outcomes,
        top_categories,
    )
    from shopseq.profiles.features import end_of_data

    shop = params.ingest.synthetic
    rng = np.random.default_rng(params.base.seed)
    categories = list(syn.CATALOGUE)[: shop.n_categories]
    drawn = syn._draw_items(shop, categories, rng)
    syn._draw_related(drawn, shop.related_items, len(categories), rng)
    users = syn._draw_users(shop, len(categories), rng).set_index("user_id")
    if not np.allclose(users["price_sensitivity"].to_numpy(), truth["price_sensitivity"].to_numpy()):
        return None
    cutoff = end_of_data(events) - pd.Timedelta(days=config.holdout_days)
    begin = pd.Timestamp(shop.start, tz="UTC")
    start_day, end_day = (cutoff - begin) / pd.Timedelta(days=1), (end_of_data(events) - begin) / pd.Timedelta(days=1)
    eligible = sorted(events.loc[events[s.TS] < cutoff, s.USER_ID].astype(str).unique())
    known = users.reindex(eligible)
    low = np.maximum(known["start_day"], start_day)
    high = np.minimum(np.minimum(known["churn_day"], shop.days), end_day)
    sessions = (known["activity"] * np.clip(high - low, 0.0, None) / 7.0).to_numpy()  # (U,)
    preference = np.stack(known["preference"].to_numpy())  # (U, C)
    chosen = top_categories(events[events[s.TS] < cutoff], items, config.max_categories)
    hits = outcomes(events, category_targets(items, chosen), cutoff, config.holdout_days, config.outcome)
    k = min(config.top_users, len(eligible))
    precisions = []
    for category in chosen:
        p = 1.0 - np.exp(-sessions * (1.0 - (1.0 - preference[:, categories.index(category)]) ** 3))  # (U,)
        top = np.array(eligible)[np.argsort(-p, kind="stable")[:k]]
        precisions.append(float(np.mean([(u, category) in hits for u in top])))
    return {"precision": round(float(np.mean(precisions)), 4), "k": k,
            "ranked_by": "generator's hidden session rate, churn day and category preference"}


def markdown(reports: list[dict]) -> str:
    lines = [
        "# Audiences benchmark",
        "",
        "Each audience is chosen as of the holdout start from earlier events only and judged on the held-out",
        "days. precision = share of the audience that did what the campaign wants; heuristic = the better of",
        "recent viewers / recent buyers of the target (retention: the longest-inactive buyers).",
        "",
        "| dataset | audience | objective | k | precision | heuristic | heuristic precision | lift vs heuristic | lift vs random |",
        "|---|---|---|---:|---:|---|---:|---:|---:|",
    ]
    for report in reports:
        if "skipped" in report:
            lines.append(f"| {report['dataset']} | skipped: {report['skipped']} ||||||||")
            continue
        metrics = report["audiences"]
        rows = [("categories (mean)", "acquisition", metrics["offline_check"])]
        rows += [(n, m.get("objective"), m.get("offline_check", m)) for n, m in metrics["campaigns"].items()]
        rows += [(f"{n} lookalikes", "lookalike", m["offline_check"]) for n, m in metrics["lookalikes"].items()
                 if "offline_check" in m]
        for audience, objective, check in rows:
            if "skipped" in check:
                lines.append(f"| {report['dataset']} | {audience} | {objective} | skipped: {check['skipped']} ||||||")
                continue
            best = check.get("best_heuristic")
            k = check.get("k", check.get("audience_size"))
            lines.append(
                f"| {report['dataset']} | {audience} | {objective} | {k} | {check['precision']['model']:.3f} | {best} | "
                f"{check['precision'][best]:.3f} | {_f(check.get('lift_over_heuristic'))} | {_f(check.get('lift_over_random'))} |"
            )
    for report in reports:
        check = report.get("audiences", {}).get("offline_check")
        if check:
            lines += ["", (
                f"What the model adds ({report['dataset']}): ranked by the next-item model's raw category "
                f"propensity alone, the category audiences reach precision {check['precision']['propensity_only']:.3f}; "
                f"the blend is {_f(check.get('lift_over_propensity_only'))} that."
            )]
            ceiling = check.get("oracle_ceiling")
            if ceiling:
                best = check["precision"][check["best_heuristic"]]
                lines += ["", (
                    f"Ceiling ({report['dataset']}): ranked by the {ceiling['ranked_by']}, the category audiences "
                    f"would reach precision {ceiling['precision']:.3f}, {_f(ceiling['precision'] / best)} the heuristic."
                )]
    for report in reports:
        if "profiles" in report:
            p = report["profiles"]
            churn = p["churn"]
            model, rule = churn.get("model", {}), churn.get("recency_rule", {})
            lines += ["", (
                f"Profiles ({report['dataset']}): price-sensitivity Spearman vs truth "
                f"{p['price_sensitivity_spearman']} over {p['users']} users; churn AUC {model.get('auc')} "
                f"(recency rule {rule.get('auc')}), Brier {model.get('brier')} (rule {rule.get('brier')}), "
                f"AUC vs the generator's churn flag {churn.get('truth_auc')}."
            )]
            if state := churn.get("with_sequence_state"):
                lines += ["", (
                    f"Churn with the next-item model's state ({report['dataset']}): a GRU trained before the "
                    f"training cut, its last hidden state in {state['components']} principal components added "
                    f"to the features: AUC {state['auc']}, Brier {state['brier']} (without: {model.get('auc')}, "
                    f"{model.get('brier')}), so the profiles' churn model "
                    + ("leaves it out." if state["auc"] <= (model.get("auc") or 0) else "would gain from it.")
                )]
    return "\n".join(lines) + "\n"


def _f(value) -> str:
    return "–" if value is None else f"{value:.2f}x"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "audiences")
    parser.add_argument("--only", default=",".join(DATASETS), help="comma-separated data set names")
    parser.add_argument("--epochs", type=int, default=2)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    reports = []
    for name in args.only.split(","):
        log.info("audiences benchmark: %s", name)
        reports.append(run_dataset(name, args.data, args.epochs))
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / f"{name}.json").write_text(json.dumps(reports[-1], indent=2, default=str))
    # the page collects the latest result of every data set, rerun now or before
    reports = [json.loads((args.out / f"{name}.json").read_text()) for name in DATASETS
               if (args.out / f"{name}.json").exists()]
    (args.out / "audiences.json").write_text(json.dumps(reports, indent=2, default=str))
    (args.out / "audiences.md").write_text(markdown(reports))
    print(markdown(reports))


if __name__ == "__main__":
    main()
