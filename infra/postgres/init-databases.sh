#!/usr/bin/env bash
# First start of the stack's PostgreSQL only (docker-entrypoint-initdb.d): one database and one
# login per user of it, passwords from the env file (infra/.env, never committed).
#   mlflow   MLflow's backend store             MLFLOW_DB_PASSWORD
#   prefect  the Prefect server's database      PREFECT_DB_PASSWORD
#   tate     the worker's journal               TATE_DB_PASSWORD
set -euo pipefail
for pair in "mlflow:${MLFLOW_DB_PASSWORD:?}" "prefect:${PREFECT_DB_PASSWORD:?}" "tate:${TATE_DB_PASSWORD:?}"; do
  name=${pair%%:*} password=${pair#*:}
  psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
    --set=name="$name" --set=password="$password" <<'SQL'
CREATE ROLE :"name" LOGIN PASSWORD :'password';
CREATE DATABASE :"name" OWNER :"name";
SQL
done
