"""Price sensitivity per user: empirical Bayes over how users convert and what they choose, against price.

Two behaviours carry the signal, both measured by x = log(price / category median):

- conversion: P(cart | view) = sigmoid(a - b x); a sensitive user's carts fall faster as the
  price rises above the category median (b is the user's slope);
- choice: among the items of a category a user picks freely (not by following a link from the
  previous item), a sensitive user picks cheaper ones: P(item) ∝ base(item) exp(-t x), with t
  the user's tilt. Around the population's own choices, the log-likelihood of t is
  t R - t² V / 2 with R = -Σ (x - category mean) and V = Σ category variance of x (the score
  and information of a conditional logit at the population's tilt).

A user has a few dozen views and a handful of carts, far too few for a per-user fit, so one
latent sensitivity θ per user drives both, b = θ and t = k (θ - θ̄), and the users are fitted
together: the population's distribution of θ is a histogram on `SLOPE_GRID` fitted by EM
(nonparametric maximum likelihood), the ratio k of the two effects is the value of
`CHOICE_SCALES` with the highest marginal likelihood, and each user's score is the posterior
mean of θ. Users with little evidence land near the population; the rule that combines the two
signals is the likelihood, not a hand-set weight.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from shopseq import schema as s

# Grid of the cart-vs-price slopes the empirical Bayes prior lives on (0: price-blind).
SLOPE_GRID = np.linspace(-2.0, 6.0, 41)
# Candidate ratios of the choice tilt to the cart slope (0: choice ignored); picked by marginal likelihood.
CHOICE_SCALES = np.linspace(0.0, 2.0, 21)


def conversion_loglik(views: pd.DataFrame, users: pd.Index, intercept: float) -> np.ndarray:
    """(U, G) log-likelihood of each user's carts at each slope of `SLOPE_GRID` (0 for users without views).

    Args:
        views: rows (user_id, x, carted), one per priced view.
        users: the users of the rows of the result.
        intercept: the shared intercept a.
    """
    from scipy.special import expit

    loglik = np.zeros((len(users), len(SLOPE_GRID)))  # (U, G)
    if views.empty:
        return loglik
    codes = users.get_indexer(views[s.USER_ID])  # (V,)
    x = views["x"].to_numpy(dtype=np.float64)  # (V,)
    y = views["carted"].to_numpy(dtype=np.float64)[:, None]  # (V, 1)
    p = np.clip(expit(intercept - np.outer(x, SLOPE_GRID)), 1e-9, 1 - 1e-9)  # (V, G)
    np.add.at(loglik, codes, y * np.log(p) + (1 - y) * np.log1p(-p))
    return loglik


def npmle(loglik: np.ndarray, steps: int = 100) -> tuple[np.ndarray, np.ndarray, float]:
    """Fit the population's prior on the grid by EM and return (posterior (U, G), prior (G,), log marginal likelihood)."""
    top = loglik.max(axis=1, keepdims=True)  # (U, 1)
    likelihood = np.exp(loglik - top)  # (U, G), rescaled per user
    prior = np.full(loglik.shape[1], 1.0 / loglik.shape[1])  # (G,)
    for _ in range(steps):
        posterior = likelihood * prior  # (U, G)
        posterior /= posterior.sum(axis=1, keepdims=True)
        prior = posterior.mean(axis=0)
    joint = likelihood * prior  # (U, G)
    marginal = float((np.log(joint.sum(axis=1)) + top[:, 0]).sum())
    return joint / joint.sum(axis=1, keepdims=True), prior, marginal


def conversion_slopes(views: pd.DataFrame, iterations: int = 3, em_steps: int = 100) -> pd.Series:
    """Each user's slope b in P(cart | view) = sigmoid(a - b x), from carts alone (posterior mean).

    Args:
        views: rows (user_id, x, carted), one per priced view.

    Returns:
        Slope per user id (users without priced views are absent).
    """
    if not _has_conversion_signal(views):
        return pd.Series(dtype="float64", index=pd.Index([], name=s.USER_ID))
    users = pd.Index(pd.unique(views[s.USER_ID]), name=s.USER_ID)
    intercept = _logit(float(views["carted"].mean()))
    for _ in range(iterations):
        posterior, _, _ = npmle(conversion_loglik(views, users, intercept), em_steps)
        mean = posterior @ SLOPE_GRID  # (U,)
        intercept = _matching_intercept(views, pd.Series(mean, index=users))
    return pd.Series(mean, index=users)


def choice_evidence(choices: pd.DataFrame) -> pd.DataFrame:
    """Per user, R = -Σ (x - category mean x) and V = Σ category variance of x over freely chosen views.

    Args:
        choices: rows (user_id, category, x), one per freely chosen priced view.

    Returns:
        Columns R, V indexed by user id; R > 0 for users who pick the cheap end of categories.
    """
    if choices.empty:
        return pd.DataFrame({"R": [], "V": []}, index=pd.Index([], name=s.USER_ID), dtype="float64")
    by_category = choices.groupby(s.CATEGORY, observed=True)["x"]
    residual = -(choices["x"] - by_category.transform("mean"))
    variance = by_category.transform("var").fillna(0.0)  # a category seen once says nothing
    frame = pd.DataFrame({s.USER_ID: choices[s.USER_ID], "R": residual, "V": variance})
    return frame.groupby(s.USER_ID)[["R", "V"]].sum()


def sensitivity_scores(
    views: pd.DataFrame, evidence: pd.DataFrame, iterations: int = 3, em_steps: int = 100
) -> pd.Series:
    """Posterior mean of each user's latent sensitivity θ from carts and choices, minus the population mean.

    Args:
        views: rows (user_id, x, carted), one per priced view.
        evidence: `choice_evidence` (R, V per user).

    Returns:
        Score per user id of `views` or `evidence`; 0 is the average user, higher is more sensitive.
    """
    users = pd.Index(pd.unique(pd.concat([views[s.USER_ID], evidence.index.to_series()], ignore_index=True)),
                     name=s.USER_ID)
    if users.empty:
        return pd.Series(dtype="float64", index=users)
    carts = _has_conversion_signal(views)
    r = evidence["R"].reindex(users, fill_value=0.0).to_numpy(dtype=np.float64)  # (U,)
    v = evidence["V"].reindex(users, fill_value=0.0).to_numpy(dtype=np.float64)  # (U,)
    intercept = _logit(float(views["carted"].mean())) if carts else 0.0
    for _ in range(iterations if carts else 1):
        cart = conversion_loglik(views, users, intercept) if carts else np.zeros((len(users), len(SLOPE_GRID)))
        centre = float(npmle(cart, em_steps)[1] @ SLOPE_GRID) if carts else 0.0
        best = None
        for k in CHOICE_SCALES if carts else CHOICE_SCALES[-1:]:
            tilt = k * (SLOPE_GRID - centre)  # (G,)
            fitted = npmle(cart + np.outer(r, tilt) - 0.5 * np.outer(v, tilt**2), em_steps)
            if best is None or fitted[2] > best[2]:
                best = fitted
        posterior, prior, _ = best
        mean = posterior @ SLOPE_GRID  # (U,)
        if carts:
            intercept = _matching_intercept(views, pd.Series(mean, index=users))
    return pd.Series(mean - float(prior @ SLOPE_GRID), index=users)


def _has_conversion_signal(views: pd.DataFrame) -> bool:
    """Carts against price say something only when some views were carted and some were not."""
    return not views.empty and 0 < views["carted"].sum() < len(views)


def _logit(rate: float) -> float:
    return float(np.log(rate / (1 - rate)))


def _matching_intercept(views: pd.DataFrame, slope: pd.Series) -> float:
    """The intercept a at which the mean of sigmoid(a - slope * x) equals the observed cart rate (bisection)."""
    from scipy.special import expit

    x = views["x"].to_numpy(dtype=np.float64)
    b = slope.reindex(views[s.USER_ID]).to_numpy(dtype=np.float64)
    rate = float(views["carted"].mean())
    low, high = -20.0, 20.0
    for _ in range(50):
        mid = (low + high) / 2
        if expit(mid - b * x).mean() > rate:
            high = mid
        else:
            low = mid
    return (low + high) / 2
