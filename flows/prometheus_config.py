"""The Prometheus config for this home's worker: infra/prometheus/prometheus.yml with the
worker's real address and absolute rule-file paths.

The file in infra/ stays the template (and the reference, with TATE_METRICS_PORT's default);
`tate up` writes the rendered copy to ``$TATE_HOME/run/prometheus.yml`` so
``prometheus --config.file=$TATE_HOME/run/prometheus.yml`` runs as is, from any folder, on
whatever port TATE_METRICS_PORT chose. The integration tests render through the same function,
so what they check is what a user runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from flows.settings import TateSettings

TEMPLATE = Path(__file__).resolve().parents[1] / "infra" / "prometheus" / "prometheus.yml"
WORKER_JOB = "tate-worker"
RENDERED_NAME = "prometheus.yml"
_ANY_ADDRESS = {"0.0.0.0", "::", ""}  # a bind to every interface is scraped on loopback


def worker_target(settings: TateSettings) -> str:
    """``host:port`` where Prometheus finds the worker's /metrics."""
    host = "127.0.0.1" if settings.metrics_host in _ANY_ADDRESS else settings.metrics_host
    host = f"[{host}]" if ":" in host else host
    return f"{host}:{settings.metrics_port}"


def render_prometheus_config(
    target: str, template: str | None = None, rules_dir: Path | None = None
) -> str:
    """The template with the worker job scraping ``target`` and each rule file named by its
    absolute path (relative names resolve against the template's folder, ``rules_dir``).

    Raises:
        ValueError: the template has no ``tate-worker`` scrape job.
    """
    text = TEMPLATE.read_text() if template is None else template
    folder = (rules_dir or TEMPLATE.parent).resolve()
    config: dict[str, Any] = yaml.safe_load(text)
    jobs = [job for job in config.get("scrape_configs", []) if job.get("job_name") == WORKER_JOB]
    if not jobs:
        raise ValueError(f"no scrape job {WORKER_JOB!r} in the Prometheus template")
    for job in jobs:
        job["static_configs"] = [{"targets": [target]}]
    config["rule_files"] = [str(folder / name) for name in config.get("rule_files", [])]
    header = (
        "# Rendered by tate from infra/prometheus/prometheus.yml for this home's worker "
        "(TATE_METRICS_HOST/PORT);\n# edit the template, not this file: `tate up` rewrites it.\n"
    )
    return header + yaml.safe_dump(config, sort_keys=False)


def write_prometheus_config(settings: TateSettings) -> Path:
    """Write the rendered config to ``$TATE_HOME/run/prometheus.yml``; returns its path."""
    path = settings.run_dir / RENDERED_NAME
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_prometheus_config(worker_target(settings)))
    return path
