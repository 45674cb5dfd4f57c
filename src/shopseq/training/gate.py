"""The promotion gate: pass or fail, with a reason for every check, passed or not."""

from __future__ import annotations

from dataclasses import dataclass

from shopseq.config import Gate


@dataclass(frozen=True)
class GateResult:
    passed: bool
    reasons: list[str]


def passes_gate(metrics: dict, gate: Gate) -> GateResult:
    """Check the candidate against the floor, popularity and (when there is one) the champion.

    Args:
        metrics: the evaluate stage's metrics: `candidate`, `popularity`, `champion` (or None),
            each a mapping that holds `gate.metric`.
    """
    name = gate.metric
    candidate = metrics["candidate"][name]
    popularity = metrics["popularity"][name]
    champion = metrics.get("champion")
    checks: list[tuple[bool, str]] = [
        (candidate >= gate.floor, f"{name} {candidate:.4f} vs floor {gate.floor:.4f}"),
        (
            candidate >= popularity * gate.min_lift_over_popularity,
            f"{name} {candidate:.4f} vs popularity {popularity:.4f} x {gate.min_lift_over_popularity:g} "
            f"= {popularity * gate.min_lift_over_popularity:.4f}",
        ),
    ]
    if champion is None:
        reasons = [f"{'pass' if ok else 'FAIL'}: {text}" for ok, text in checks]
        reasons.append("pass: no champion yet, nothing to regress against")
    else:
        allowed = champion[name] * (1.0 - gate.champion_tolerance)
        checks.append(
            (
                candidate >= allowed,
                f"{name} {candidate:.4f} vs champion {champion[name]:.4f} less {gate.champion_tolerance:.0%} "
                f"tolerance = {allowed:.4f}",
            )
        )
        reasons = [f"{'pass' if ok else 'FAIL'}: {text}" for ok, text in checks]
    return GateResult(passed=all(ok for ok, _ in checks), reasons=reasons)
