#!/usr/bin/env bash
# Entry point of the shopseq image.
#   shopseq-entrypoint init   : first start only: lay the project out in /workspace as a git +
#                               DVC repository with the shared DVC remote, migrate Airflow's DB,
#                               create the shopseq_dvc pool. Idempotent.
#   shopseq-entrypoint CMD... : run CMD (airflow api-server, airflow celery worker, mlflow ...).
set -euo pipefail

workspace="${SHOPSEQ_PROJECT_DIR:-/workspace}"

init_workspace() {
    if [ -f "$workspace/params.yaml" ]; then
        echo "workspace $workspace already holds a project; leaving it as it is"
        return
    fi
    echo "laying out the shopseq project in $workspace"
    cp -r /opt/shopseq/dvc.yaml /opt/shopseq/params.yaml /opt/shopseq/.dvcignore \
          /opt/shopseq/src /opt/shopseq/dags "$workspace/"
    cd "$workspace"
    git init -q
    git config user.name "${GIT_AUTHOR_NAME:-shopseq}"
    git config user.email "${GIT_AUTHOR_EMAIL:-shopseq@localhost}"
    dvc init -q
    # The remote must exist before the first commit that tracks data (see STACK.md).
    dvc remote add -d shared "${DVC_REMOTE:-/dvc-remote}"
    git add -A
    git commit -qm "shopseq workspace"
}

if [ "${1:-}" = "init" ]; then
    init_workspace
    airflow db migrate
    airflow pools set shopseq_dvc 1 "tasks that change the DVC workspace"
    exit 0
fi

exec "$@"
