"""Issue 13, end to end as a desk runs it: three MT5 "Export bars" files of its own (an FX
pair, a metal, an index CFD on CME Globex hours) and a `symbols.toml` are all it writes;
`tate ingest` → `validate` → `train` → `serve --terminal sim` then trades all three on the
simulated account. The `tate` command runs as a subprocess from a foreign folder with only
TATE_HOME (and the broker's server time) set. A symbol in no record is refused naming
symbols.toml.

The exports are written in NY+7 server time, from the synthetic market's price paths (which
carry a learnable signal, so the gate can pass), re-timed honestly: the pair and the metal
inside the NY+7 FX week, the index only on the hours exchange-calendars' ``CMES`` schedule
trades (holidays and early closes included).
"""

from __future__ import annotations

import json
from pathlib import Path

import exchange_calendars
import numpy as np
import pandas as pd
import pytest

from data_contracts.mt5_export_format import write_mt5_export
from data_contracts.sessions import FX_NEW_YORK_CLOSE, in_session, wall_seconds
from data_contracts.synthetic import generate_market
from tests.integration.test_serve_as_people_run_it import as_a_person, tate

pytestmark = pytest.mark.integration

README = Path(__file__).resolve().parents[2] / "README.md"


def readme_symbols_toml() -> str:
    """The `symbols.toml` README's "Using it" shows (an FX pair, a metal, an index CFD with
    its calendar): the test writes exactly that, so the README's example is one that works."""
    text = README.read_text(encoding="utf-8")
    start = text.index("```toml\n", text.index("## Using it")) + len("```toml\n")
    return text[start : text.index("```", start)]


N_DAYS = 220  # enough for the default 1,500-bar hold-out and five folds before it
ROUNDS = "30"  # the fewest the other trained fixtures use; 5 rounds learn too little to pass
SERVE_BARS = 80


def rescaled(bars: pd.DataFrame, price: float, digits: int) -> pd.DataFrame:
    """A synthetic pair's path at another price level and tick size (same returns; the
    spread the same fraction of price)."""
    scale = price / float(bars["open"].iloc[0])
    out = bars.copy()
    for column in ("open", "high", "low", "close"):
        out[column] = (bars[column] * scale).round(digits)
    out["spread"] = np.maximum((bars["spread"] * 1e-5 * scale / 10.0**-digits).round(), 1)
    out["spread"] = out["spread"].astype("int64")
    return out


def in_fx_week(bars: pd.DataFrame) -> pd.DataFrame:
    """Only the bars a NY+7 broker quotes (Sunday 17:00 → Friday 17:00 New York)."""
    inside = in_session(wall_seconds(bars["time"], FX_NEW_YORK_CLOSE), FX_NEW_YORK_CLOSE)
    return bars[inside].reset_index(drop=True)


def on_cme_hours(bars: pd.DataFrame) -> pd.DataFrame:
    """The path laid onto CMES's H1 trading hours from the same start, as far as it reaches.

    exchange-calendars models Globex as 17:00 → 17:00 Chicago; the real market halts daily
    16:00–17:00 Chicago, so a broker's feed has no bar in that hour (written here from CME's
    published hours, not from tate's own calendar code)."""
    first = bars["time"].iloc[0].tz_convert("UTC").tz_localize(None).floor("D")
    last = bars["time"].iloc[-1].tz_convert("UTC").tz_localize(None).floor("D")
    calendar = exchange_calendars.get_calendar("CMES", start=first - pd.Timedelta(days=7))
    hours = calendar.trading_index(first, last, "1h", intervals=False, force=True)
    hours = hours[hours.tz_convert("America/Chicago").hour != 16]
    n = min(len(hours), len(bars))
    out = bars.iloc[:n].copy()
    out["time"] = pd.DatetimeIndex(hours[:n]).tz_convert("UTC").as_unit("ns")
    return out.reset_index(drop=True)


@pytest.fixture(scope="module")
def exports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("exports")
    paths = generate_market(n_days=N_DAYS, symbols=("EURUSD", "GBPUSD", "AUDUSD"), delisted=None)
    market = {
        "EURUSD": in_fx_week(paths.bars["EURUSD"]),
        "XAUUSD": in_fx_week(rescaled(paths.bars["GBPUSD"], 1900.0, 2)),
        "US500": on_cme_hours(rescaled(paths.bars["AUDUSD"], 4700.0, 2)),
    }
    return {
        symbol: write_mt5_export(bars, folder / f"{symbol}_H1.csv", server_time="NY+7")
        for symbol, bars in market.items()
    }


@pytest.mark.timeout(1200)  # three ingests, a validation, a training and a replay
def test_three_exports_and_a_symbols_toml_ingest_validate_train_and_trade(
    exports: dict[str, Path], tmp_path: Path
) -> None:
    home = tmp_path / "home"
    (home / "data").mkdir(parents=True)
    toml = readme_symbols_toml()
    assert "[US500]" in toml and 'session_calendar = "CMES"' in toml and "[XAUUSD]" in toml
    (home / "data" / "symbols.toml").write_text(toml, encoding="utf-8")
    env, _, folder = as_a_person(home, tmp_path, TATE_SERVER_TIME="NY+7")

    for symbol, path in exports.items():
        done = tate(
            env, folder, "ingest", "--source", "csv", "--path", str(path), "--symbol", symbol
        )
        assert done.returncode == 0, done.stdout + done.stderr

    validated = tate(env, folder, "validate")
    assert validated.returncode == 0, validated.stdout + validated.stderr
    trained = tate(env, folder, "train", "--num-boost-round", ROUNDS, timeout=900)
    assert trained.returncode == 0, trained.stdout + trained.stderr
    served = tate(
        env, folder, "serve", "--terminal", "sim", "--bars", str(SERVE_BARS), "--metrics-port", "0"
    )
    assert served.returncode == 0, served.stdout + served.stderr
    shown = tate(env, folder, "trades", "--json")
    assert shown.returncode == 0, shown.stdout + shown.stderr

    fills = pd.DataFrame(json.loads(shown.stdout))
    assert set(fills["symbol"]) == {"EURUSD", "XAUUSD", "US500"}
    assert (fills["state"] == "filled").all() and (fills["deal"] > 0).all()
    (account,) = set(fills["account"])  # one simulated account traded all three
    assert account.endswith("@Tate-SimReplay")
    # the index CFD traded on its record's 0.1-lot grid, at index prices (not a pair's)
    us500 = fills[fills["symbol"] == "US500"]
    assert np.allclose(us500["volume"] * 10, (us500["volume"] * 10).round())
    assert us500["price"].between(1000, 20_000).all()
    assert fills.loc[fills["symbol"] == "XAUUSD", "price"].between(500, 5_000).all()

    # last, so everything above is checked first: every bar of the three exports was quoted
    # in its symbol's own hours (the pair and the metal in the broker's NY+7 week, the index
    # on CMES's), so none may be quarantined as off-session; needs the calendar-aware session
    # check (the FX week alone flags the index's Friday 17:00-18:00 New York hour)
    verdict = json.loads((home / "reports" / "validation" / "latest.json").read_text())
    quarantined = pd.read_csv(verdict["quarantine_file"])
    off = quarantined[quarantined["check"] == "outside_session"]
    assert off.empty, off.groupby("symbol").size().to_dict()


def test_a_symbol_in_no_record_or_with_an_unknown_calendar_is_refused_naming_symbols_toml(
    exports: dict[str, Path], tmp_path: Path
) -> None:
    home = tmp_path / "home"
    env, _, folder = as_a_person(home, tmp_path, TATE_SERVER_TIME="NY+7")
    ingested = tate(
        env,
        folder,
        "ingest",
        "--source",
        "csv",
        "--path",
        str(exports["US500"]),
        "--symbol",
        "GER40",
    )
    assert ingested.returncode == 0, ingested.stdout + ingested.stderr

    done = tate(env, folder, "validate")

    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert f"add a [GER40] table to {home / 'data' / 'symbols.toml'}" in last
    for field in ("currency_base", "currency_profit", "digits", "trade_contract_size"):
        assert field in last

    toml = home / "data" / "symbols.toml"
    toml.write_text(
        '[GER40]\ncurrency_base = "EUR"\ncurrency_profit = "EUR"\ndigits = 1\n'
        'trade_contract_size = 1\nsession_calendar = "FRANKFURT"\n',
        encoding="utf-8",
    )
    misnamed = tate(env, folder, "validate")
    assert misnamed.returncode == 2, misnamed.stdout + misnamed.stderr
    last = misnamed.stderr.strip().splitlines()[-1]
    assert f"{toml} [GER40]: session_calendar: 'FRANKFURT' is not an exchange-calendars" in last
