"""The candidate as an MLflow pyfunc model: a signature, its artifacts, no pickled weights."""

from __future__ import annotations

from pathlib import Path

import mlflow
import numpy as np
import pandas as pd

PIP_REQUIREMENTS = ["torch==2.13.0", "pandas", "numpy", "mlflow"]  # explicit: inference takes ~10 s


class NextItemPyfunc(mlflow.pyfunc.PythonModel):
    """Input: a `history` column of space-separated item ids. Output: `items`, the top-k ids."""

    def load_context(self, context) -> None:
        from shopseq.sequences.recommender import load_recommender

        self.recommender = load_recommender(context.artifacts["model_dir"])

    def predict(self, context, model_input: pd.DataFrame, params: dict | None = None) -> pd.DataFrame:
        k = int((params or {}).get("k", 10))
        histories = [str(h).split() for h in model_input["history"]]
        scores = self.recommender.score(histories)  # (n, n_items)
        top = np.argsort(-scores, axis=1)[:, :k]
        ids = np.asarray(self.recommender.item_ids)
        return pd.DataFrame({"items": [" ".join(ids[row]) for row in top]})


def log_recommender(model_dir: Path) -> str:
    """Log `model_dir` as the active run's `model`; return the logged model's URI."""
    from mlflow.models import infer_signature

    signature = infer_signature(
        pd.DataFrame({"history": ["i00001 i00002"]}),
        pd.DataFrame({"items": ["i00003 i00004"]}),
        params={"k": 10},
    )
    info = mlflow.pyfunc.log_model(
        name="model",
        python_model=NextItemPyfunc(),
        artifacts={"model_dir": str(model_dir)},
        signature=signature,
        pip_requirements=PIP_REQUIREMENTS,
    )
    return info.model_uri
