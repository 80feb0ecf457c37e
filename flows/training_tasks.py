"""Training as Prefect tasks: one task per walk-forward fold, on a thread or on a Dask cluster.

Each task wraps one call into `models.training`; `train_in_tasks` wires them in the order
`models.training.run_training` calls them, so a flow's model is the one a plain call would
give (the test compares booster bytes). Folds of every configuration, the final fit and the
leakage canary's folds are submitted to one task runner:

- sequential (default): a one-thread runner, the folds one after another;
- `parallel=True`: a temporary `distributed.LocalCluster` on 127.0.0.1 with two single-thread
  worker processes, LightGBM limited to one thread per fold so the workers do not fight over
  the cores;
- `dask_address`: an existing Dask scheduler (its workers must be able to import tate and
  reach the Prefect API), again one LightGBM thread per fold.

Every wait on a fold is bounded (`flows.bounded_waits`): a cluster that lost its workers fails
the run with a message naming it instead of hanging.

Task inputs are not cached (hashing a panel of a million rows would cost more than the fold);
on a cluster each fold ships the panel with it, which is fine for the panels tate trains on and
is the first thing to change for much larger ones (scatter the panel once).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, nullcontext
from datetime import datetime
from typing import Any

import pandas as pd
from prefect.cache_policies import NO_CACHE
from prefect.context import FlowRunContext
from prefect.settings import PREFECT_API_URL, temporary_settings
from prefect.task_runners import TaskRunner, ThreadPoolTaskRunner

from flows.bounded_waits import DEFAULT_BOUND, WaitBound, results_within
from flows.plain_runs import in_run, run_logger, task
from flows.progress import stage_progress
from models.dataset import Dataset
from models.development import DevelopmentSet, development_set
from models.folds import FoldPlan, FoldResult, plan_folds
from models.leakage import add_leaked_feature
from models.strategy import Fitted, Strategy
from models.train_config import TrainConfig, sweep_configs
from models.training import (
    Choice,
    TrainingOutcome,
    assemble_outcome,
    choose_configuration,
    fit_final,
    fit_fold,
    splitter,
)

LOCAL_WORKERS = 2  # the machines tate targets have two cores or more; one fold per core


@task(name="prepare-development-set", cache_policy=NO_CACHE)
def prepare(
    strategy: Strategy, bars: dict[str, pd.DataFrame], config: TrainConfig
) -> tuple[DevelopmentSet, list[FoldPlan]]:
    dev = development_set(strategy, bars, config)
    return dev, plan_folds(dev.dataset, splitter(config))


@task(name="fit-fold", cache_policy=NO_CACHE)
def fit_fold_task(dataset: Dataset, fold: FoldPlan, config: TrainConfig) -> FoldResult:
    return fit_fold(dataset, fold, config)


@task(name="choose-configuration", cache_policy=NO_CACHE)
def choose(
    dataset: Dataset,
    configs: list[TrainConfig],
    results: list[list[FoldResult]],
    sweep: list[dict[str, Any]] | None,
) -> Choice:
    return choose_configuration(dataset, configs, results, sweep)


@task(name="fit-final", cache_policy=NO_CACHE)
def fit_final_task(dataset: Dataset, config: TrainConfig, until: datetime) -> Fitted:
    return fit_final(dataset, config.params, until, num_boost_round=config.num_boost_round)


@task(name="plant-leak", cache_policy=NO_CACHE)
def plant_leak(dataset: Dataset, seed: int) -> Dataset:
    return add_leaked_feature(dataset, seed=seed)


@task(name="summarise-training", cache_policy=NO_CACHE)
def summarise(
    dev: DevelopmentSet,
    choice: Choice,
    booster: Fitted,
    canary: list[FoldResult] | None,
) -> TrainingOutcome:
    return assemble_outcome(dev, choice, booster, canary)


def fold_task_runner(*, parallel: bool = False, dask_address: str | None = None) -> TaskRunner:
    """The runner folds are submitted to (see the module docstring for the three choices)."""
    if dask_address or parallel:
        from prefect_dask import DaskTaskRunner

        if dask_address:
            return DaskTaskRunner(address=dask_address)
        return DaskTaskRunner(
            cluster_class="distributed.LocalCluster",
            cluster_kwargs={
                "n_workers": LOCAL_WORKERS,
                "threads_per_worker": 1,
                "processes": True,
                "host": "127.0.0.1",
                "dashboard_address": "127.0.0.1:0",  # loopback, any free port
            },
        )
    return ThreadPoolTaskRunner(max_workers=1)


@contextmanager
def _api_url_shipped_to_workers() -> Iterator[None]:
    """Pin this flow's Prefect API URL in the settings a task runner ships with each task.

    A temporary Prefect server (no PREFECT_API_URL set) is known only to the process that
    started it; a Dask worker process without the URL starts a temporary server of its own
    and reports its task runs there.
    """
    context = FlowRunContext.get()
    if PREFECT_API_URL.value() or context is None or context.client is None:
        yield
        return
    with temporary_settings(updates={PREFECT_API_URL: str(context.client.api_url)}):
        yield


@contextmanager
def fold_runner(*, parallel: bool = False, dask_address: str | None = None) -> Iterator[TaskRunner]:
    """A started fold runner for use inside a flow; stopped (a temporary cluster closed) on exit."""
    distributed = parallel or bool(dask_address)
    with (
        _api_url_shipped_to_workers() if distributed else nullcontext(),
        fold_task_runner(parallel=parallel, dask_address=dask_address) as runner,
    ):
        yield runner


def run_folds(
    runner: TaskRunner,
    dataset: Dataset,
    folds: Sequence[FoldPlan],
    configs: Sequence[TrainConfig],
    bound: WaitBound = DEFAULT_BOUND,
) -> list[list[FoldResult]]:
    """Submit every (configuration, fold) at once; results per configuration, in fold order.

    Raises:
        TaskWaitError: the cluster lost its workers, or the folds outlived ``bound``.
    """
    futures = [
        runner.submit(fit_fold_task, {"dataset": dataset, "fold": fold, "config": config})
        for config in configs
        for fold in folds
    ]
    what = f"folds ({len(folds)} × {len(configs)} configuration{'s' * (len(configs) > 1)})"
    results = results_within(futures, what, runner, bound)
    n = len(folds)
    return [results[i * n : (i + 1) * n] for i in range(len(configs))]


def train_in_tasks(
    strategy: Strategy,
    bars: dict[str, pd.DataFrame],
    config: TrainConfig,
    sweep: Sequence[Mapping[str, Any]] | None = None,
    *,
    parallel: bool = False,
    dask_address: str | None = None,
) -> TrainingOutcome:
    """`run_training` as tasks inside the calling flow, folds on the chosen runner."""
    configs = sweep_configs(config, sweep)
    if parallel or dask_address:
        configs = [c.with_threads(1) for c in configs]
    sweep_list = [dict(item) for item in sweep] if sweep else None
    dev, folds = prepare(strategy, bars, config)
    if not in_run():
        if parallel or dask_address:
            run_logger().warning("folds run one after another: a fold runner needs `tate up`")
        return _train_plainly(dev, folds, configs, sweep_list, config)
    with fold_runner(parallel=parallel, dask_address=dask_address) as runner:
        results = run_folds(runner, dev.dataset, folds, configs)
        choice = choose(dev.dataset, configs, results, sweep_list)
        chosen = choice.chosen.config
        final = runner.submit(
            fit_final_task,
            {"dataset": dev.dataset, "config": chosen, "until": dev.cutoff.to_pydatetime()},
        )
        canary = None
        if config.leak_canary:
            leaked = plant_leak(dev.dataset, config.seed)
            canary = run_folds(runner, leaked, folds, [chosen])[0]
        [booster] = results_within([final], "final fit", runner)
    return summarise(dev, choice, booster, canary)


def _train_plainly(
    dev: DevelopmentSet,
    folds: Sequence[FoldPlan],
    configs: Sequence[TrainConfig],
    sweep: list[dict[str, Any]] | None,
    config: TrainConfig,
) -> TrainingOutcome:
    """`train_in_tasks` without a Prefect API: the same calls in the same order, in this process,
    with progress per fold (no task runner: one needs an engine and a server)."""
    total = len(folds) * (len(configs) + int(config.leak_canary))
    with stage_progress("training", total, log=run_logger(), unit="folds") as advance:

        def walk(dataset: Dataset, config_: TrainConfig) -> list[FoldResult]:
            results = []
            for fold in folds:
                results.append(fit_fold_task(dataset, fold, config_))
                advance()
            return results

        results = [walk(dev.dataset, c) for c in configs]
        choice = choose(dev.dataset, list(configs), results, sweep)
        chosen = choice.chosen.config
        booster = fit_final_task(dev.dataset, chosen, dev.cutoff.to_pydatetime())
        canary = walk(plant_leak(dev.dataset, config.seed), chosen) if config.leak_canary else None
    return summarise(dev, choice, booster, canary)
