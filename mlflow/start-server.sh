#!/usr/bin/env bash
# Start the MLflow tracking server and UI on the store tate's embedded default writes to, so runs made
# before and after `tate up` stay readable. `tate up` runs this script; you can run it by hand too.
#
# Settings (environment; see server.env.example):
#   TATE_HOME                 root of tate's files (default: ./var)
#   MLFLOW_HOST, MLFLOW_PORT  where to listen (default: 127.0.0.1:5000 — loopback only)
#   MLFLOW_BACKEND_STORE_URI  default: sqlite:///$TATE_HOME/mlflow/mlflow.db
#   MLFLOW_ARTIFACT_ROOT      default: file://$TATE_HOME/mlflow/artifacts
# Artifacts are not proxied (--no-serve-artifacts): clients read and write the artifact root directly,
# exactly as the embedded default does. Behind a team stack, point the two URIs at PostgreSQL and S3.
set -euo pipefail
# MLflow's GenAI job runner starts seven huey consumers beside the server; tate runs no such job.
export MLFLOW_SERVER_ENABLE_JOB_EXECUTION="${MLFLOW_SERVER_ENABLE_JOB_EXECUTION:-false}"
home=$(realpath -m "${TATE_HOME:-./var}")
mkdir -p "$home/mlflow/artifacts"
exec mlflow server \
  --backend-store-uri "${MLFLOW_BACKEND_STORE_URI:-sqlite:///$home/mlflow/mlflow.db}" \
  --default-artifact-root "${MLFLOW_ARTIFACT_ROOT:-file://$home/mlflow/artifacts}" \
  --no-serve-artifacts \
  --host "${MLFLOW_HOST:-127.0.0.1}" \
  --port "${MLFLOW_PORT:-5000}" \
  --workers "${MLFLOW_WORKERS:-1}"
