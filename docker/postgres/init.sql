-- Runs once, when the PostgreSQL volume is created: MLflow gets its own database beside
-- Airflow's (POSTGRES_DB), owned by the same role.
CREATE DATABASE mlflow;
