"""The cluster path: PostgreSQL, Redis, an MLflow server and Airflow on Celery, run for real."""
