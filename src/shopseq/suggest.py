""""Did you mean ...?" for a misspelt name: a stage, a source, a params key, a choice.

One helper, so every user-facing "unknown X" message suggests the same way.
"""

from __future__ import annotations

import difflib
from typing import Iterable


def close_matches(word: str, choices: Iterable[str], n: int = 2) -> list[str]:
    """The known names closest to `word` (at most `n`, best first; none when nothing is close)."""
    choices = list(choices)
    by_lower = {choice.lower(): choice for choice in choices}
    found = difflib.get_close_matches(word.lower(), list(by_lower), n=n, cutoff=0.6)
    return [by_lower[match] for match in found]


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """` (did you mean 'x'?)` for a close misspelling of one of `choices`, else ''."""
    matches = close_matches(word, choices)
    if not matches:
        return ""
    return f" (did you mean {' or '.join(map(repr, matches))}?)"
