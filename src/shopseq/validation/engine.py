"""Run `Check`s through Great Expectations and read back which rows failed which check.

One ephemeral GE context per validation run: nothing is written to the project except the Data
Docs site, whose directory the caller chooses. GE is imported inside the functions because the
import costs several seconds. The Data Docs pages link their CSS and scripts from CDNs, so
offline they render unstyled (the content is all there).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from shopseq.validation.suites import Check

DATA_SOURCE = "shopseq"
DOCS_SITE = "shopseq"
# COMPLETE gives every failing row's index; the pandas query string it would add is not needed.
RESULT_FORMAT = {"result_format": "COMPLETE", "return_unexpected_index_query": False}


@dataclass(frozen=True)
class CheckResult:
    """What Great Expectations said about one check.

    Attributes:
        check: the check that was run.
        success: GE's verdict.
        rows: positions of the failing rows (row-level checks; the batch has a RangeIndex).
        observed: GE's observed value (table-level checks, e.g. the row count).
        error: the exception text when GE could not evaluate the check, else None.
    """

    check: Check
    success: bool
    rows: list[int]
    observed: Any = None
    error: str | None = None


def open_context(docs_dir: Path | None = None) -> Any:
    """Return an in-memory GE context, with a Data Docs site in `docs_dir` when given."""
    import great_expectations as gx
    from great_expectations.data_context.types.base import (
        DataContextConfig,
        InMemoryStoreBackendDefaults,
        ProgressBarsConfig,
    )

    sites = {}
    if docs_dir is not None:
        sites[DOCS_SITE] = {
            "class_name": "SiteBuilder",
            "store_backend": {
                "class_name": "TupleFilesystemStoreBackend",
                "base_directory": str(Path(docs_dir).resolve()),
            },
        }
    config = DataContextConfig(
        # init_temp_docs_sites=False: no default site in a stray /tmp directory.
        store_backend_defaults=InMemoryStoreBackendDefaults(init_temp_docs_sites=False),
        data_docs_sites=sites,
        progress_bars=ProgressBarsConfig(globally=False),
        analytics_enabled=False,
    )
    context = gx.get_context(mode="ephemeral", project_config=config)
    context.data_sources.add_pandas(DATA_SOURCE)
    return context


def run_checks(context: Any, name: str, frame: pd.DataFrame, checks: list[Check]) -> list[CheckResult]:
    """Validate `frame` against `checks` as suite `name`; results come back in `checks` order.

    The result is also kept in the context, so `build_docs` shows it.
    """
    import great_expectations as gx

    if not isinstance(frame.index, pd.RangeIndex) or frame.index.start != 0:
        raise ValueError(f"{name}: run_checks needs a frame with a 0-based RangeIndex (row positions)")
    asset = context.data_sources.get(DATA_SOURCE).add_dataframe_asset(name)
    batch = asset.add_batch_definition_whole_dataframe(name)
    suite = context.suites.add(
        gx.ExpectationSuite(name=name, expectations=[_expectation(i, c) for i, c in enumerate(checks)])
    )
    definition = context.validation_definitions.add(
        gx.ValidationDefinition(name=name, data=batch, suite=suite)
    )
    outcome = definition.run(batch_parameters={"dataframe": frame}, result_format=RESULT_FORMAT)
    # GE reorders results; each expectation carries the position of its check in its meta.
    results: list[CheckResult | None] = [None] * len(checks)
    for result in outcome.results:
        position = result.expectation_config.meta["check"]
        results[position] = _read_result(checks[position], result)
    missing = [checks[i].rule for i, r in enumerate(results) if r is None]
    if missing:
        raise RuntimeError(f"{name}: Great Expectations returned no result for check(s) {missing}")
    return results  # type: ignore[return-value]


def build_docs(context: Any) -> None:
    """Render the Data Docs site (suites and validation results) into its directory."""
    context.build_data_docs(site_names=[DOCS_SITE])


def _expectation(position: int, check: Check) -> Any:
    import great_expectations.expectations as gxe

    kind = getattr(gxe, check.expectation)
    meta = {"check": position, "rule": check.rule, "level": check.level}
    return kind(**check.kwargs, description=check.description, meta=meta)


def _read_result(check: Check, result: Any) -> CheckResult:
    error = _exception_message(result.exception_info or {})
    if error is not None:
        return CheckResult(check=check, success=False, rows=[], error=error)
    details = result.result or {}
    rows = [int(i) for i in details.get("unexpected_index_list") or []]
    if details.get("unexpected_count") and not rows:
        error = f"GE counted {details['unexpected_count']} failing rows but returned no row indexes"
        return CheckResult(check=check, success=False, rows=[], error=error)
    return CheckResult(
        check=check, success=bool(result.success), rows=rows, observed=details.get("observed_value")
    )


def _exception_message(info: dict[str, Any]) -> str | None:
    """First line of the exception GE caught while evaluating a check, or None.

    GE reports it either at the top level or keyed by the metric that failed to compute; a
    check that raised has no failing rows, so missing this would silently accept every row.
    """
    candidates = [info, *(v for v in info.values() if isinstance(v, dict))]
    for candidate in candidates:
        if candidate.get("raised_exception"):
            lines = str(candidate.get("exception_message") or "unknown error").strip().splitlines()
            return lines[0] if lines else "unknown error"
    return None
