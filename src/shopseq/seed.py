"""One place that seeds every random number generator shopseq uses."""

from __future__ import annotations

import os
import random
import sys

import numpy as np


def set_seed(seed: int) -> np.random.Generator:
    """Seed Python, NumPy and (when already imported) torch; return a NumPy generator."""
    random.seed(seed)
    np.random.seed(seed)
    os.environ["PYTHONHASHSEED"] = str(seed)
    if "torch" in sys.modules:  # importing torch just to seed it would cost seconds
        sys.modules["torch"].manual_seed(seed)
    return np.random.default_rng(seed)
