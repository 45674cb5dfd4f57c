"""Great Expectations suites for the canonical tables, quarantine of failing rows, reports.

Importing this package is cheap: Great Expectations is imported only when checks run.
"""

from shopseq.validation.tables import (
    DataValidationError,
    ValidationOutcome,
    raise_for_failure,
    validate_tables,
    write_outcome,
)

__all__ = [
    "DataValidationError",
    "ValidationOutcome",
    "raise_for_failure",
    "validate_tables",
    "write_outcome",
]
