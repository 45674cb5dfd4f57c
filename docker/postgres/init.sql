-- Runs once, when the PostgreSQL volume is created: MLflow and Optuna get their own databases
-- beside Airflow's (POSTGRES_DB), owned by the same role (as shopseq.ops.cluster.services makes them).
CREATE DATABASE mlflow;
CREATE DATABASE optuna;
