"""Operations: running the pipeline under Airflow, data versions, rollback, the local demo.

Everything here works on a whole project directory (params.yaml, dvc.yaml, git) rather than on
DataFrames, and is what the DAGs, `shopseq demo`, `shopseq versions` and `shopseq rollback` call:

- `orchestration`: what the Airflow tasks do (run a DVC stage, read the gate, ask for approval,
  record the answer), kept out of `dags/` so it can be tested;
- `versions`: data versions, DVC snapshots recorded in git;
- `rollback`: an earlier data version and its champion back in place, with an audit record;
- `airflow_local`, `demo`: a local Airflow for the project and the end-to-end demo run on it;
- `cluster`: the same on a cluster started here (PostgreSQL, Redis, an MLflow server, Airflow on
  Celery), for `shopseq demo --cluster` and the cluster tests;
- `ports`, `task_logs`: the demo's free ports (checked before any slow step) and the running
  tasks' progress lines it shows.

Importing this package imports nothing: DAG files import `orchestration`, which stays light.
"""
