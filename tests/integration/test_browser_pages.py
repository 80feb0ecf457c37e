"""What people look at, in a real browser with the network fenced to loopback.

Debian's headless Chromium (Playwright, `tests/browser.py`) opens the reports home, a drift
report and the Data Docs of one small demo-like home, then the MLflow UI and the Prefect UI
served on loopback from that home. Each page must load with no request leaving loopback, no
failed request, no HTTP error and no console error, and show what the records say: the
verdicts of `summary.json` and the MLflow tags, the aliases, our deployments.

Screenshots go to `$TATE_TEST_ARTIFACTS/browser/` when that is set (CI keeps them), else to
pytest's temporary folder of this session (`browser-screenshots*`, its path in the log).
"""

from __future__ import annotations

import json
import os
import re
import time
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from mlflow import MlflowClient

from data_contracts.store import BarStore
from data_contracts.synthetic import generate_market, write_market_note
from tests.browser import fenced_page, launched_chromium
from tests.servers import child, free_port, wait_for

# The home (validate, train, replay, drift) ~60-90 s and the two servers ~30-60 s on a loaded
# 2-core machine; the bound is several times that.
pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]

MODEL = "tate-lgbm-momentum"
SYMBOLS = ("EURUSD", "GBPUSD")
DEPLOYMENTS = ("validate/nightly", "retrain/on-demand", "drift-report/daily", "canary-gate/hourly")
PAGE_TIMEOUT_MS = 60_000
DEPLOYMENTS_REGISTERED_S = 180.0
# 360 days keep validation, training and Evidently's report a third of the demo's 560; the replay
# runs from the hold-out's start past the planted regime change (at 87 % of the market)
MARKET_DAYS = 360
REPLAY_BARS = 1300


@dataclass(frozen=True)
class DemoHome:
    """A TATE_HOME with one validation, two versions (champion, canary) and a drift report."""

    root: Path
    champion: str
    canary: str

    @property
    def reports(self) -> Path:
        return self.root / "reports"

    def newest(self, kind: str) -> Path:
        return sorted(p for p in (self.reports / kind).iterdir() if p.is_dir())[-1]

    def client(self) -> MlflowClient:
        uri = f"sqlite:///{self.root / 'mlflow' / 'mlflow.db'}"
        return MlflowClient(tracking_uri=uri, registry_uri=uri)


def build_demo_home(root: Path) -> DemoHome:
    """The smallest home that has every kind of page: `tate demo`'s stages as plain functions
    on a two-symbol synthetic market (the store notes its planted regime change, as `tate
    ingest --source sim` does), then a second version of the run as canary."""
    from flows import tracking
    from flows.data_flows import validate
    from flows.drift_flow import drift_report
    from flows.plain_runs import run_flow
    from flows.serve import run_worker
    from flows.settings import TateSettings
    from flows.train_flow import retrain

    market = generate_market(symbols=SYMBOLS, delisted=None, n_days=MARKET_DAYS)
    store = BarStore(root / "data")
    for symbol, bars in market.bars.items():
        store.write_bars(symbol, "H1", bars)
    store.write_universe(market.universe)
    write_market_note(root / "data", market, seed=7)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TATE_HOME", str(root))
        patch.setenv("TATE_SYMBOLS", ",".join(SYMBOLS))
        patch.delenv("PREFECT_API_URL", raising=False)
        settings = TateSettings()
        assert run_flow(validate)["ok"]
        trained = run_flow(retrain, num_boost_round=40)
        champion = str(trained["version"])
        if trained["alias"] != "champion":  # a person overrules a failed gate this way
            tracking.set_alias(settings, "champion", champion, by="test: promote --force")
        run_worker(settings, max_bars=REPLAY_BARS, metrics_port=0)
        drift_report.fn(act=False)
        client = tracking.client(settings)
        first = client.get_model_version(MODEL, champion)
        assert first.source is not None
        canary = client.create_model_version(MODEL, first.source, run_id=first.run_id).version
        tracking.set_alias(settings, "canary", str(canary), by="test")
    return DemoHome(root, champion, str(canary))


@pytest.fixture(scope="module")
def home_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("browser") / "home"


@pytest.fixture(scope="module")
def stack_plan(home_root: Path) -> tuple[Any, dict[str, str]]:
    """The settings and environment `tate up --no-worker` would use over the home, on free
    loopback ports (`flows.stack`)."""
    from flows.settings import TateSettings
    from flows.stack import service_environment

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TATE_HOME", str(home_root))
        patch.setenv("TATE_PREFECT_PORT", str(free_port()))
        patch.setenv("TATE_MLFLOW_PORT", str(free_port()))
        patch.delenv("PREFECT_HOME", raising=False)
        settings = TateSettings()
        return settings, service_environment(settings)


@pytest.fixture(scope="module")
def prefect_booting(home_root: Path, stack_plan: tuple[Any, dict[str, str]]) -> Iterator[Any]:
    """`tate up`'s Prefect server, started without waiting: it needs nothing of the home, so
    its boot (tens of seconds) overlaps the home's build instead of adding to it."""
    from flows.stack import services

    settings, env = stack_plan
    (prefect,) = [s for s in services(settings, with_worker=False) if s.name == "prefect"]
    home_root.mkdir(parents=True, exist_ok=True)
    with child(prefect.command, env, home_root / "prefect.log", None) as process:
        yield process


@pytest.fixture(scope="module")
def home(home_root: Path, prefect_booting: Any) -> DemoHome:
    return build_demo_home(home_root)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with launched_chromium() as launched:
        yield launched


@pytest.fixture(scope="module")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    artifacts = os.environ.get("TATE_TEST_ARTIFACTS")
    if artifacts:
        folder = Path(artifacts) / "browser"
        folder.mkdir(parents=True, exist_ok=True)
        return folder
    return tmp_path_factory.mktemp("browser-screenshots")


def shown(page: Any, selector: str) -> str:
    return re.sub(r"\s+", " ", page.locator(selector).inner_text()).strip()


def assert_clean(record: Any) -> None:
    assert not record.problems(), "\n".join(record.problems())


def latest_row(page: Any, kind: str) -> str:
    row = page.locator("table").first.locator("tr", has=page.locator(f"td:text-is('{kind}')"))
    return re.sub(r"\s+", " ", row.inner_text()).strip()


def test_reports_home_shows_the_verdicts_of_the_records(
    home: DemoHome, browser: Any, screenshots: Path
) -> None:
    validation = json.loads((home.newest("validation") / "summary.json").read_text())
    drift = json.loads((home.newest("drift") / "summary.json").read_text())
    version = home.client().get_model_version(MODEL, home.champion)
    with fenced_page(browser, screenshots / "reports-home.png") as (page, record):
        page.goto((home.reports / "index.html").as_uri(), wait_until="load")
        validated = latest_row(page, "validation")
        trained = latest_row(page, "training")
        drifted = latest_row(page, "drift")
        answer = shown(page, ".answer")
    assert_clean(record)
    assert ("passed" if validation["ok"] else "FAILED") in validated
    assert f"{len(validation['symbols'])} symbols, {validation['checks_run']} checks" in validated
    # the newest training is the champion's run; its gate words are the version's MLflow tags
    training = json.loads((home.newest("training") / "summary.json").read_text())
    assert (training["version"], training["run_id"]) == (home.champion, version.run_id)
    assert training["gate_passed"] == (version.tags["gate"] == "passed")
    alias = training["alias"]
    assert (f"v{home.champion} → {alias}" if alias else f"v{home.champion} withheld") in trained
    failed = [r.removeprefix("FAIL: ") for r in training["reasons"] if r.startswith("FAIL")]
    for reason in failed:  # each failed check the page names is in the version's tag
        assert reason in trained and reason in version.tags["gate_reasons"]
    assert bool(failed) != training["gate_passed"]
    assert f"v{drift['version']}" in drifted
    expected_drift = (
        "WOULD HALT (report only)"
        if drift["halt_reasons"] and not drift["halted"]
        else "HALTED"
        if drift["halt_reasons"]
        else "DRIFT"
        if drift["drifted"]
        else "no drift"
    )
    assert expected_drift in drifted
    assert answer.startswith("Not everything is fine" if drift["drifted"] else "Everything")


def test_drift_report_opens_with_our_header_matching_its_summary(
    home: DemoHome, browser: Any, screenshots: Path
) -> None:
    folder = home.newest("drift")
    summary = json.loads((folder / "summary.json").read_text())
    with fenced_page(browser, screenshots / "drift-report.png") as (page, record):
        page.goto((folder / "report.html").as_uri(), wait_until="load")
        verdict = shown(page, "#tate-drift-verdict")
        header = shown(page, "#tate-drift-header")
        rows = [
            [cell.strip() for cell in row.split("\t")]
            for row in page.locator("#tate-drift-features tr").all_inner_texts()[1:]
        ]
        # Evidently's own report (a React app inline in the page) rendered below our header
        page.get_by_text(re.compile("Drifted columns|Dataset Drift", re.I)).first.wait_for(
            timeout=PAGE_TIMEOUT_MS
        )
    assert_clean(record)
    assert summary["drifted"], "the hold-out's planted regime change must flag"
    assert summary["halt_reasons"] and not summary["halted"]  # the demo reports only
    assert verdict == "WOULD HALT (report only)"
    assert f"{MODEL} v{summary['version']} (champion)" in header
    for reason in summary["halt_reasons"]:
        assert reason in header
    assert "regime change planted at" in header and "drift here is expected" in header
    assert summary["current_window"] in header and summary["reference_window"] in header
    halting = set(summary["halting_features"])
    assert halting, "the demo halts on key features' PSI"
    expected = {
        f["feature"]: [
            f"{f['psi']:.3f}",
            f"{f['ks']:.3f}",
            ("drifted" if f["drifted"] else "stable")
            + (", halts (key feature, PSI)" if f["feature"] in halting else ""),
        ]
        for f in summary["features"]
    }
    assert {row[0]: [row[1], row[2], row[4]] for row in rows} == expected


def test_data_docs_render_offline_with_their_filters(
    home: DemoHome, browser: Any, screenshots: Path
) -> None:
    site = home.reports / "data_docs"
    with fenced_page(browser, screenshots / "data-docs-index.png") as (page, record):
        page.goto((site / "index.html").as_uri(), wait_until="load")
        # bootstrap-table turned GX's plain table into one with a filter row and a search box
        page.locator(".bootstrap-table .filter-control select").first.wait_for(
            timeout=PAGE_TIMEOUT_MS
        )
        runs = page.locator(".bootstrap-table tbody tr").all_inner_texts()
    assert_clean(record)
    assert any("bars." in row for row in runs) and any("universe" in row for row in runs)
    (bars_page,) = (site / "validations" / "bars").rglob("*.html")
    with fenced_page(browser, screenshots / "data-docs-validation.png") as (page, record):
        page.goto(bars_page.as_uri(), wait_until="load")
        page.get_by_text("Overview").first.wait_for(timeout=PAGE_TIMEOUT_MS)
        body = shown(page, "body")
    assert_clean(record)
    assert "Expectation" in body and "Status" in body


def test_mlflow_model_page_shows_champion_and_canary(
    stack: dict[str, str], browser: Any, screenshots: Path
) -> None:
    # MLflow's UI asks `users/current` to learn whether the basic-auth app is on; a server
    # without it (tate up's default) answers 404 and the UI carries on without a user menu.
    no_auth_app = [
        re.compile(r"HTTP error: 404 http://127\.0\.0\.1:\d+/ajax-api/2\.0/mlflow/users/current"),
        re.compile(
            r"console error: Failed to load resource: the server responded with a status of 404 "
            r"\(Not Found\) \(http://127\.0\.0\.1:\d+/ajax-api/2\.0/mlflow/users/current\)"
        ),
    ]
    mlflow_page = screenshots / "mlflow-model.png"
    with fenced_page(browser, mlflow_page, harmless=no_auth_app) as (page, record):
        page.goto(f"{stack['mlflow']}/#/models/{MODEL}", wait_until="load")
        for alias in ("champion", "canary"):  # shown as "@ champion" in the Aliases column
            page.get_by_text(re.compile(rf"^@?\s*{alias}$")).first.wait_for(timeout=PAGE_TIMEOUT_MS)
        body = shown(page, "body")
    assert_clean(record)
    assert MODEL in body


def registered_deployments(api: str) -> set[str]:
    request = urllib.request.Request(
        f"{api}/deployments/filter",
        data=b"{}",
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        found = json.loads(response.read())
    flows = {}
    for deployment in found:
        flow_id = deployment["flow_id"]
        if flow_id not in flows:
            with urllib.request.urlopen(f"{api}/flows/{flow_id}", timeout=10) as answer:
                flows[flow_id] = json.loads(answer.read())["name"]
    return {f"{flows[d['flow_id']]}/{d['name']}" for d in found}


@pytest.fixture(scope="module")
def stack(
    home: DemoHome, stack_plan: tuple[Any, dict[str, str]], prefect_booting: Any
) -> Iterator[dict[str, str]]:
    """What `tate up --no-worker` starts (`flows.stack`'s services, commands and environment)
    over the home: Prefect's server (booting since before the home was built), MLflow's on the
    home's store, and the served deployments once both answer."""
    from flows.stack import mlflow_url, prefect_api_url, services

    settings, env = stack_plan
    listed = {s.name: s for s in services(settings, with_worker=False)}
    with ExitStack() as started:
        mlflow_log = home.root / "mlflow.log"
        mlflow = started.enter_context(child(listed["mlflow"].command, env, mlflow_log, None))
        for name, process in (("prefect", prefect_booting), ("mlflow", mlflow)):
            wait_for(str(listed[name].health_url), process, home.root / f"{name}.log")
        log = home.root / "deployments.log"
        runner = started.enter_context(child(listed["deployments"].command, env, log, None))
        api = prefect_api_url(settings)
        deadline = time.monotonic() + DEPLOYMENTS_REGISTERED_S
        while registered_deployments(api) != set(DEPLOYMENTS):
            assert runner.poll() is None, log.read_text()[-3000:]
            assert time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(1)
        yield {"prefect": api.removesuffix("/api"), "mlflow": mlflow_url(settings)}


def test_prefect_ui_lists_our_deployments(
    stack: dict[str, str], browser: Any, screenshots: Path
) -> None:
    with fenced_page(browser, screenshots / "prefect-deployments.png") as (page, record):
        page.goto(f"{stack['prefect']}/deployments", wait_until="load")
        for name in DEPLOYMENTS:  # each row: the deployment's name, and its flow's once loaded
            flow_name, deployment = name.split("/")
            page.get_by_text(deployment, exact=True).first.wait_for(timeout=PAGE_TIMEOUT_MS)
            page.get_by_text(flow_name).first.wait_for(timeout=PAGE_TIMEOUT_MS)
        body = shown(page, "body")
    assert_clean(record)
    assert f"{len(DEPLOYMENTS)} Deployments" in body
