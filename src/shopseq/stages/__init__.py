"""One thin module per dvc.yaml stage; `shopseq run <stage>` calls its `run(params)`."""

# The dvc.yaml stages in pipeline order: the CLI, the DAGs and the tests take the names from here.
PIPELINE = (
    "ingest",
    "validate",
    "embed",
    "profiles",
    "sequences",
    "train",
    "champion",
    "evaluate",
    "gate",
    "score",
    "audiences",
    "forecast",
)
# The stages shopseq_retrain runs; audiences and forecast have DAGs of their own.
RETRAIN = PIPELINE[: PIPELINE.index("gate") + 1]
