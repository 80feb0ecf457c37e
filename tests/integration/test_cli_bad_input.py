"""Bad input gets one clear error naming what was wrong (exit 2), and leaves store, registry and journal
alone; a check that says no exits 1, a bug exits 3 with its traceback."""

from __future__ import annotations

import hashlib
import socket
import subprocess
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from data_contracts.store import BarStore
from data_contracts.synthetic import generate_market
from flows.cli import app
from tests.servers import BIN

pytestmark = pytest.mark.integration


def snapshot(home: Path) -> dict[str, str]:
    """Content hash of every file under TATE_HOME except Prefect's own database and logs."""
    files = sorted(p for p in home.rglob("*") if p.is_file() and "prefect" not in p.parts)
    return {str(p.relative_to(home)): hashlib.sha256(p.read_bytes()).hexdigest() for p in files}


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("bad-input") / "home"
    market = generate_market(n_days=120)
    store = BarStore(root / "data")
    for symbol, bars in market.bars.items():
        store.write_bars(symbol, "H1", bars)
    store.write_universe(market.universe)
    return root


@pytest.fixture
def tate(home: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("TATE_HOME", str(home))
    return CliRunner()


def invoke(runner: CliRunner, *args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


def test_malformed_export_names_file_and_line(tate: CliRunner, home: Path, tmp_path: Path) -> None:
    bad = tmp_path / "EURUSD_H1.csv"
    bad.write_text(
        "<DATE>\t<TIME>\t<OPEN>\t<HIGH>\t<LOW>\t<CLOSE>\t<TICKVOL>\t<VOL>\t<SPREAD>\r\n"
        "2017.04.19\t13:00:00\t1.07\t1.08\t1.06\t1.075\t100\t0\t12\r\n"
        "2017.04.19\t14:00:00\t1.07\tnot-a-price\t1.06\t1.075\t100\t0\t12\r\n"
    )
    before = snapshot(home)
    code, output = invoke(
        tate, "ingest", "--source", "csv", "--path", str(bad), "--symbol", "EURUSD"
    )
    assert code == 2
    assert f"{bad}:3:" in output  # file:line, the form editors and terminals link to
    assert snapshot(home) == before


def test_unknown_symbol_is_named(tate: CliRunner, home: Path) -> None:
    before = snapshot(home)
    code, output = invoke(tate, "train", "--symbol", "XAUEUR")
    assert code == 2
    assert "XAUEUR" in output
    assert snapshot(home) == before


def test_empty_date_range_is_named(tate: CliRunner, home: Path) -> None:
    before = snapshot(home)
    code, output = invoke(tate, "train", "--start", "2031-01-01")
    assert code == 2
    assert "2031-01-01" in output
    assert snapshot(home) == before


def test_terminal_source_without_its_package_is_named(tate: CliRunner, home: Path) -> None:
    before = snapshot(home)
    code, output = invoke(tate, "ingest", "--source", "mt5", "--start", "2024-01-01")
    assert code == 2
    assert "MetaTrader5" in output and "Windows" in output
    assert snapshot(home) == before


def test_missing_alias_is_named(tate: CliRunner, home: Path) -> None:
    before = snapshot(home)
    code, output = invoke(tate, "promote")
    assert code == 2
    assert "'canary'" in output
    code, output = invoke(tate, "drift", "--role", "canary")
    assert code == 2
    assert "'canary'" in output
    assert {k for k in snapshot(home) if not k.startswith("mlflow")} == {
        k for k in before if not k.startswith("mlflow")
    }


def corrupted_home(tmp_path: Path, rows: list[int]) -> tuple[Path, list[str]]:
    """A store whose GBPUSD bars have a high below the close at `rows`."""
    home = tmp_path / "home"
    market = generate_market(n_days=60)
    store = BarStore(home / "data")
    for symbol, bars in market.bars.items():
        if symbol == "GBPUSD":
            bars = bars.copy()
            bars.loc[rows, "high"] = bars.loc[rows, "close"] - 0.01
        store.write_bars(symbol, "H1", bars)
    store.write_universe(market.universe)
    return home, [market.bars["GBPUSD"]["time"].iloc[r].isoformat() for r in rows]


def tate_in(home: Path, *args: str) -> tuple[int, str]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TATE_HOME", str(home))
        return invoke(CliRunner(), *args)


def validate_in(home: Path) -> tuple[int, str]:
    return tate_in(home, "validate")


def test_a_bad_bar_is_quarantined_and_named_without_blocking(tmp_path: Path) -> None:
    home, times = corrupted_home(tmp_path, [10])
    raw_before = snapshot(home / "data")
    code, output = validate_in(home)
    assert code == 0, output
    assert "GBPUSD" in output and times[0] in output and "1 quarantined" in output
    quarantine = pd.read_csv(next((home / "reports" / "validation").glob("*/quarantine.csv")))
    assert list(quarantine["symbol"]) == ["GBPUSD"]
    assert snapshot(home / "data") == raw_before, "validation never edits the raw store"


def test_too_many_bad_bars_block_with_exit_1_naming_symbol_and_rows(tmp_path: Path) -> None:
    home, times = corrupted_home(tmp_path, list(range(10, 400, 20)))  # ~2 % of GBPUSD
    raw_before = snapshot(home / "data")
    code, output = validate_in(home)
    assert code == 1
    assert "GBPUSD" in output and times[0] in output
    assert "Data Docs" in output
    assert (home / "reports" / "data_docs" / "index.html").exists()
    assert snapshot(home / "data") == raw_before, "validation never edits the raw store"

    code, output = tate_in(home, "train")
    assert code == 1, output
    assert "blocked by validation" in output
    assert not (home / "mlflow" / "artifacts").exists(), "nothing was trained or logged"


# The exit-code contract as people meet it: the installed `tate` as a subprocess, from an empty
# folder, with an empty HOME and only TATE_HOME (and what a case names) set.


def as_a_person(
    home: Path, tmp_path: Path, *args: str, env: dict[str, str] | None = None, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    user_home, folder = tmp_path / "user-home", tmp_path / "elsewhere"
    user_home.mkdir(exist_ok=True)
    folder.mkdir(exist_ok=True)
    done = subprocess.run(
        [str(BIN / "tate"), *args],
        env={
            "TATE_HOME": str(home),
            "HOME": str(user_home),
            "PATH": "/usr/bin:/bin",
            **(env or {}),
        },
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert list(folder.iterdir()) == [], "tate wrote into the folder it was started from"
    return done


@pytest.mark.parametrize(
    ("args", "env", "says"),
    [
        (["serve", "--terminal", "mt4"], {}, "Error: Invalid value for '--terminal'"),
        *(
            (  # a journal database that is down: named, its password masked
                [command],
                {"TATE_JOURNAL_URL": "postgresql+psycopg://tate:s3cret@127.0.0.1:1/journal"},
                "tate: journal postgresql+psycopg://tate:***@127.0.0.1:1/journal cannot be reached",
            )
            for command in ("trades", "status")
        ),
        (["validate"], {"TATE_TIMEFRAME": "H2"}, "tate: bad setting TATE_TIMEFRAME='H2'"),
        (["train", "--symbol", "XAUEUR"], {}, "tate: no bars stored for symbol 'XAUEUR'"),
        (["train", "--start", "someday"], {}, "tate: --start 'someday' is not an ISO date"),
        (
            ["promote", "--version", "99"],
            {},
            "tate: model 'tate-lgbm-momentum' has no version '99'",
        ),
    ],
)
def test_bad_input_exits_2_with_one_line_and_no_traceback_before_any_server(
    home: Path, tmp_path: Path, args: list[str], env: dict[str, str], says: str
) -> None:
    before = {k for k in snapshot(home) if not k.startswith("mlflow")}
    done = as_a_person(home, tmp_path, *args, env=env)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    assert says in done.stderr.strip().splitlines()[-1]
    assert "Starting temporary server" not in done.stderr, "checked before Prefect started"
    assert {k for k in snapshot(home) if not k.startswith("mlflow")} == before


def test_tate_up_with_a_taken_port_exits_2_and_starts_nothing(home: Path, tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = as_a_person(home, tmp_path, "up", env={"TATE_PREFECT_PORT": str(port)})
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.strip() == (
        f"tate: prefect: port {port} on 127.0.0.1 is already in use by another program; "
        "stop it or choose another port with TATE_PREFECT_PORT"
    )
    assert not (home / "run").exists()


@pytest.mark.timeout(900)
def test_a_blocked_data_set_exits_1_naming_symbol_without_traceback(tmp_path: Path) -> None:
    home, times = corrupted_home(tmp_path, list(range(10, 400, 20)))
    done = as_a_person(home, tmp_path, "validate")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Traceback" not in done.stderr, "Prefect's run logs keep no traceback either"
    assert "GBPUSD" in done.stderr and times[0] in done.stderr
    # said once: not again by Prefect's run logger, the flow's engine or a re-raise
    assert [line for line in done.stderr.splitlines() if line.startswith("tate: ")] == [
        next(line for line in done.stderr.splitlines() if "high_ge_open_close failed" in line)
    ]
    assert done.stderr.count("high_ge_open_close") == 1


def test_an_unexpected_error_exits_3_with_its_traceback(home: Path, tmp_path: Path) -> None:
    """No input makes a bug on purpose, so the real entry point runs one extra command that
    fails the way a bug does."""
    script = (
        "import sys\n"
        "from flows.cli import app, main\n"
        "@app.command()\n"
        "def explode() -> None:\n"
        "    {}['missing']\n"
        "sys.argv = ['tate', 'explode']\n"
        "main()\n"
    )
    user_home, folder = tmp_path / "user-home", tmp_path / "elsewhere"
    user_home.mkdir()
    folder.mkdir()
    done = subprocess.run(
        [str(BIN / "python"), "-c", script],
        env={"TATE_HOME": str(home), "HOME": str(user_home), "PATH": "/usr/bin:/bin"},
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 3, done.stdout + done.stderr
    assert "Traceback (most recent call last)" in done.stderr
    assert "KeyError: 'missing'" in done.stderr
    assert done.stderr.strip().splitlines()[-1].startswith("tate: unexpected error (a bug, exit 3)")


@pytest.mark.parametrize("symbol", ["../x", "EUR/USD", "", "DEEP"])
def test_a_symbol_that_is_a_path_exits_2_in_one_line_and_writes_nothing(
    home: Path, tmp_path: Path, symbol: str
) -> None:
    escape = tmp_path / "escaped"
    if symbol == "DEEP":  # as issue 12 found it: a symbol climbing out to another folder
        symbol = "../" * 12 + str(escape).lstrip("/")
    export = tmp_path / "EURUSD_H1.csv"
    export.write_text(
        "<DATE>\t<TIME>\t<OPEN>\t<HIGH>\t<LOW>\t<CLOSE>\t<TICKVOL>\t<VOL>\t<SPREAD>\r\n"
        "2017.04.19\t13:00:00\t1.07\t1.08\t1.06\t1.075\t100\t0\t12\r\n"
    )
    before = snapshot(home)
    outside = sorted(p for p in tmp_path.rglob("*") if p.is_file())
    done = as_a_person(
        home, tmp_path, "ingest", "--source", "csv", "--path", str(export), "--symbol", symbol
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.strip().splitlines() == [
        f"tate: symbol {symbol!r} refused: a symbol is 1 to 32 letters, digits, '.', '_' or '-' "
        "(not '.' or '..')"
    ]
    assert snapshot(home) == before
    assert sorted(p for p in tmp_path.rglob("*") if p.is_file()) == outside
    assert not escape.exists()


def test_a_directory_as_the_export_exits_2_naming_it(home: Path, tmp_path: Path) -> None:
    done = as_a_person(
        home, tmp_path, "ingest", "--source", "csv", "--path", str(tmp_path), "--symbol", "EURUSD"
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    assert str(tmp_path) in done.stderr and "is a directory" in done.stderr


def test_an_export_the_store_already_holds_is_summarized_and_writes_nothing(
    tate: CliRunner, home: Path, tmp_path: Path
) -> None:
    from data_contracts.mt5_export_format import write_mt5_export

    stored = BarStore(home / "data").read_bars("EURUSD", "H1").iloc[:48]
    export = write_mt5_export(
        pd.concat([stored, stored.iloc[[5]]]), tmp_path / "old.csv", server_time="NY+7"
    )
    before = snapshot(home)
    code, output = invoke(
        tate, "ingest", "--source", "csv", "--path", str(export), "--symbol", "EURUSD"
    )
    assert code == 0, output
    assert (
        "EURUSD: 49 rows read, 0 added, 48 already present, 1 identical duplicates skipped, "
        "0 refused"
    ) in output
    assert snapshot(home) == before
