"""Benchmark: `tate validate`'s wall time against the same validation in a fresh Python process.

Issue 15 measured 37 s for about 6.5 s of validation: every flow command started a temporary
Prefect server. With no API up the command now calls the function the flow wraps, so what is
left is the CLI's own cost (settings, checks, imports of the command). Target ratio ≤ 1.5.

Both sides run in fresh processes on the same demo-like home (the synthetic market, ingested
once and not timed), with no Prefect API and no MLflow server: the figure is the installed
`tate validate`; the baseline is `validate.fn()` in `python -c` (imports included).

Run: ``.venv/bin/python bench/cli_validate.py [--repeats N]``; writes the ``cli_validate``
entry of ``bench/results.json`` and prints both figures.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench._common import best_of, write_entry  # noqa: E402

BIN = Path(sys.executable).parent
BASELINE = (
    "from flows.environment import prepare_environment\n"
    "from flows.settings import TateSettings\n"
    "prepare_environment(TateSettings())\n"
    "from flows.data_flows import validate\n"
    "validate.fn()\n"
)


def environment(home: Path) -> dict[str, str]:
    """The caller's environment with no Prefect or MLflow server named, TATE_HOME at `home`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "MLFLOW_"))}
    return {**env, "TATE_HOME": str(home)}


def run(command: list[str], env: dict[str, str]) -> None:
    subprocess.run(command, env=env, cwd=ROOT, check=True, capture_output=True, timeout=900)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="tate-bench-cli-") as tmp:
        env = environment(Path(tmp) / "home")
        run([str(BIN / "tate"), "ingest", "--source", "sim"], env)
        command_s, _ = best_of(args.repeats, lambda: run([str(BIN / "tate"), "validate"], env))
        function_s, _ = best_of(args.repeats, lambda: run([sys.executable, "-c", BASELINE], env))
    ratio = command_s / function_s
    print(f"tate validate {command_s:.1f} s; validate.fn() in a fresh process {function_s:.1f} s")
    print(f"ratio {ratio:.2f} (target ≤ 1.5)")
    write_entry(
        {
            "name": "cli_validate",
            "figure": command_s,
            "unit": "seconds",
            "baseline": "validate.fn() in a fresh process",
            "baseline_figure": function_s,
            "ratio": ratio,
        }
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
