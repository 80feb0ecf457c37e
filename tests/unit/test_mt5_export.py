"""MT5 "Export bars" import: server time → UTC, exact round trip, errors that name file:line."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest

from data_contracts.mt5_export import Mt5ExportError, import_export, read_export, read_mt5_export
from data_contracts.mt5_export_format import HEADER, write_mt5_export
from data_contracts.server_time import server_to_utc, utc_to_server
from data_contracts.store import BarStore
from data_contracts.symbols import BadSymbolError
from tests.factories import load_backtesting_eurusd, make_bars

GOOD_LINE = "2022.01.03\t10:00:00\t1.13000\t1.13100\t1.12900\t1.13050\t120\t0\t5"


def export_file(tmp_path: Path, *lines: str, name: str = "EURUSD_H1.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(("\r\n".join(["\t".join(HEADER), *lines]) + "\r\n").encode())
    return path


@pytest.fixture(scope="module")
def real_eurusd() -> pd.DataFrame:
    return load_backtesting_eurusd()


def test_real_eurusd_round_trips_through_ny_close_export(
    real_eurusd: pd.DataFrame, tmp_path: Path
) -> None:
    path = write_mt5_export(real_eurusd, tmp_path / "EURUSD_H1.csv", server_time="NY+7")
    raw = path.read_bytes()
    assert raw.startswith(
        b"<DATE>\t<TIME>\t<OPEN>\t<HIGH>\t<LOW>\t<CLOSE>\t<TICKVOL>\t<VOL>\t<SPREAD>\r\n"
    )
    assert raw.count(b"\r\n") == len(real_eurusd) + 1
    # first bar: 2017-04-19 09:00 UTC is 12:00 server time (New York on EDT, +7 h)
    assert raw.splitlines()[1].startswith(b"2017.04.19\t12:00:00\t1.0716\t")

    bars = read_mt5_export(path, server_time="NY+7")

    pd.testing.assert_frame_equal(bars, real_eurusd)
    assert str(bars["time"].dtype) == "datetime64[ns, UTC]"


@pytest.mark.parametrize(
    ("utc_time", "server_stamp"),
    [
        # Europe left summer time on 2017-10-29, the US only on 2017-11-05: still UTC+3 between.
        ("2017-11-01 12:00", "2017.11.01\t15:00:00"),
        ("2017-11-03 12:00", "2017.11.03\t15:00:00"),
        # After the US switch the server runs at UTC+2.
        ("2017-11-06 12:00", "2017.11.06\t14:00:00"),
        ("2018-01-15 12:00", "2018.01.15\t14:00:00"),
    ],
)
def test_ny_close_offset_follows_us_dst_switch_not_europes(
    utc_time: str, server_stamp: str, real_eurusd: pd.DataFrame, tmp_path: Path
) -> None:
    path = write_mt5_export(real_eurusd, tmp_path / "EURUSD_H1.csv", server_time="NY+7")
    row = int(real_eurusd.index[real_eurusd["time"] == pd.Timestamp(utc_time, tz="UTC")][0])
    line = path.read_text().splitlines()[row + 1]  # + header

    assert line.startswith(server_stamp)
    bars = read_mt5_export(path, server_time="NY+7")
    assert bars["time"].iloc[row] == pd.Timestamp(utc_time, tz="UTC")


def test_ny_close_server_times_convert_to_utc_across_both_dst_switches() -> None:
    wall = pd.Series(
        pd.to_datetime(
            [
                "2022-03-11 23:00",  # Fri before US spring switch: UTC+2
                "2022-03-14 00:00",  # Mon after: UTC+3
                "2022-11-04 23:00",  # Fri before US autumn switch: UTC+3
                "2022-11-07 00:00",  # Mon after: UTC+2
            ]
        )
    )
    utc = server_to_utc(wall, "NY+7")
    assert list(utc) == [
        pd.Timestamp("2022-03-11 21:00", tz="UTC"),
        pd.Timestamp("2022-03-13 21:00", tz="UTC"),
        pd.Timestamp("2022-11-04 20:00", tz="UTC"),
        pd.Timestamp("2022-11-06 22:00", tz="UTC"),
    ]
    pd.testing.assert_series_equal(utc_to_server(utc, "NY+7"), wall)


def test_factory_bars_spanning_spring_switch_round_trip(tmp_path: Path) -> None:
    bars = make_bars(n=24 * 20, start=datetime(2022, 3, 1, tzinfo=UTC))
    path = write_mt5_export(bars, tmp_path / "x.csv", server_time="NY+7")
    pd.testing.assert_frame_equal(read_mt5_export(path, server_time="NY+7"), bars)


def test_imported_real_export_is_stored_and_reimport_adds_nothing(
    real_eurusd: pd.DataFrame, tmp_path: Path
) -> None:
    path = write_mt5_export(real_eurusd, tmp_path / "EURUSD_H1.csv", server_time="NY+7")
    store = BarStore(tmp_path / "data")

    assert store.write_bars("EURUSD", "H1", read_mt5_export(path, server_time="NY+7"))
    digest = store.digest("H1", ["EURUSD"])
    assert store.write_bars("EURUSD", "H1", read_mt5_export(path, server_time="NY+7")) is None

    assert store.digest("H1", ["EURUSD"]) == digest
    pd.testing.assert_frame_equal(store.read_bars("EURUSD", "H1"), real_eurusd)
    start, end = datetime(2017, 11, 3, tzinfo=UTC), datetime(2017, 11, 7, tzinfo=UTC)
    window = store.read_bars("EURUSD", "H1", start=start, end=end)
    expected = real_eurusd[(real_eurusd["time"] >= start) & (real_eurusd["time"] < end)]
    pd.testing.assert_frame_equal(window, expected.reset_index(drop=True))


@pytest.mark.parametrize(
    ("server_time", "server_clock"),
    [("UTC", "10:00:00"), ("UTC+3", "13:00:00"), ("UTC-5", "05:00:00"), ("UTC+5:30", "15:30:00")],
)
def test_fixed_offsets_shift_by_their_offset(
    server_time: str, server_clock: str, tmp_path: Path
) -> None:
    bars = make_bars(n=5, start=datetime(2022, 1, 3, 10, tzinfo=UTC))
    path = write_mt5_export(bars, tmp_path / "x.csv", server_time=server_time)
    assert path.read_text().splitlines()[1].split("\t")[1] == server_clock
    pd.testing.assert_frame_equal(read_mt5_export(path, server_time=server_time), bars)


def test_times_without_seconds_are_accepted(tmp_path: Path) -> None:
    path = export_file(tmp_path, GOOD_LINE.replace("10:00:00", "10:00"))
    bars = read_mt5_export(path, server_time="UTC+2")
    assert bars["time"].iloc[0] == pd.Timestamp("2022-01-03 08:00", tz="UTC")
    assert bars[["tick_volume", "real_volume", "spread"]].iloc[0].tolist() == [120, 0, 5]


def test_utf16_export_is_decoded(tmp_path: Path) -> None:
    text = "\r\n".join(["\t".join(HEADER), GOOD_LINE]) + "\r\n"
    path = tmp_path / "utf16.csv"
    path.write_bytes(text.encode("utf-16"))
    assert len(read_mt5_export(path, server_time="UTC")) == 1


@pytest.mark.parametrize(
    ("bad_line", "complaint"),
    [
        (GOOD_LINE.replace("1.13100", "1,131"), "<HIGH> is not a number"),
        (GOOD_LINE.replace("\t5", ""), "tab-separated fields"),
        (GOOD_LINE.replace("2022.01.03", "03/01/2022"), "bad <DATE>"),
        (GOOD_LINE.replace("10:00:00", "10h"), "bad <TIME>"),
        (GOOD_LINE.replace("2022.01.03", "2022.02.30"), "date/time does not exist"),
        (GOOD_LINE.replace("\t120\t", "\t12.5\t"), "<TICKVOL> is not a whole number"),
    ],
)
def test_malformed_line_error_names_file_and_line(
    bad_line: str, complaint: str, tmp_path: Path
) -> None:
    path = export_file(tmp_path, GOOD_LINE, GOOD_LINE.replace("10:00", "11:00"), bad_line)
    with pytest.raises(Mt5ExportError) as info:
        read_mt5_export(path, server_time="UTC")
    assert f"{path}:4:" in str(info.value)
    assert complaint in str(info.value)


def test_wrong_header_is_reported_at_line_one(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_text("Date,Open,High,Low,Close\r\n" + GOOD_LINE + "\r\n")
    with pytest.raises(Mt5ExportError, match=rf"{path}:1: header"):
        read_mt5_export(path, server_time="UTC")


def test_a_file_that_is_not_text_is_named_at_line_one(tmp_path: Path) -> None:
    path = tmp_path / "EURUSD_H1.xlsx"
    path.write_bytes(b"PK\x03\x04\x14\x00\x06\x00\x08\x00\x00\x00!\x00\xb5U0#\xf4")
    with pytest.raises(Mt5ExportError, match=rf"{path}:1: not UTF-8 or UTF-16 text"):
        read_mt5_export(path, server_time="UTC")


def test_server_time_that_never_existed_in_new_york_names_the_line(tmp_path: Path) -> None:
    # New York skipped 02:00-03:00 on 2022-03-13, so NY+7 never showed 09:30 that day.
    path = export_file(
        tmp_path, GOOD_LINE, GOOD_LINE.replace("2022.01.03\t10:00:00", "2022.03.13\t09:30:00")
    )
    with pytest.raises(Mt5ExportError, match=rf"{path}:3: server time does not exist"):
        read_mt5_export(path, server_time="NY+7")


@pytest.mark.parametrize("setting", ["EET", "NY", "UTC+", "UTC+15", "GMT+2"])
def test_unknown_server_time_setting_is_refused(setting: str, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="server_time"):
        read_mt5_export(export_file(tmp_path, GOOD_LINE), server_time=setting)


def test_daily_export_without_time_column_reads_midnight(tmp_path: Path) -> None:
    path = tmp_path / "d1.csv"
    header = "\t".join(h for h in HEADER if h != "<TIME>")
    path.write_bytes(f"{header}\r\n2022.01.04\t1.1\t1.2\t1.0\t1.15\t10\t0\t3\r\n".encode())
    bars = read_mt5_export(path, server_time="UTC")
    assert bars["time"].iloc[0] == pd.Timestamp("2022-01-04", tz="UTC")


def tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


@pytest.mark.parametrize("price", ["inf", "-inf", "nan", "Infinity", "1e400"])
def test_a_price_that_is_not_finite_is_refused_naming_its_line(price: str, tmp_path: Path) -> None:
    path = export_file(
        tmp_path, GOOD_LINE, GOOD_LINE.replace("10:00", "11:00").replace("1.13100", price)
    )
    with pytest.raises(Mt5ExportError, match=rf"{path}:3: <HIGH> is not finite"):
        read_mt5_export(path, server_time="UTC")


def test_one_time_twice_with_different_values_is_refused_naming_both_lines(
    tmp_path: Path,
) -> None:
    later = GOOD_LINE.replace("10:00", "11:00")
    path = export_file(tmp_path, GOOD_LINE, later, GOOD_LINE.replace("\t5", "\t6"))
    store = BarStore(tmp_path / "data")
    with pytest.raises(Mt5ExportError) as info:
        import_export(path, store, "EURUSD", timeframe="H1", server_time="UTC")
    assert f"{path}:2" in str(info.value) and f"{path}:4" in str(info.value)
    assert not store.root.exists()


def test_identical_repeated_lines_are_counted_and_stored_once(tmp_path: Path) -> None:
    later = GOOD_LINE.replace("10:00", "11:00")
    path = export_file(tmp_path, later, GOOD_LINE, later, GOOD_LINE)
    store = BarStore(tmp_path / "data")
    summary = import_export(path, store, "EURUSD", timeframe="H1", server_time="UTC")
    assert (summary.rows_read, summary.added, summary.duplicates) == (4, 2, 2)
    assert summary.describe() == (
        "4 rows read, 2 added, 0 already present, 2 identical duplicates skipped, 0 refused"
    )
    assert len(store.read_bars("EURUSD", "H1")) == 2


def test_an_export_older_than_the_store_says_its_rows_are_already_present(
    real_eurusd: pd.DataFrame, tmp_path: Path
) -> None:
    store = BarStore(tmp_path / "data")
    store.write_bars("EURUSD", "H1", real_eurusd)
    before = tree(store.root)
    older = write_mt5_export(real_eurusd.iloc[:48], tmp_path / "old.csv", server_time="NY+7")
    summary = import_export(older, store, "EURUSD", timeframe="H1", server_time="NY+7")
    assert (summary.rows_read, summary.added, summary.already_present) == (48, 0, 48)
    assert tree(store.root) == before


def test_a_bar_differing_from_the_stored_one_is_refused_naming_its_line_store_unchanged(
    tmp_path: Path,
) -> None:
    store = BarStore(tmp_path / "data")
    later = GOOD_LINE.replace("10:00", "11:00")
    import_export(
        export_file(tmp_path, GOOD_LINE, later), store, "EURUSD", timeframe="H1", server_time="UTC"
    )
    before = tree(store.root)
    revised = export_file(
        tmp_path,
        later,
        GOOD_LINE.replace("1.13050", "1.13060"),
        name="revised.csv",
    )
    with pytest.raises(Mt5ExportError, match=rf"{revised}:3: the EURUSD H1 bar .* other values"):
        import_export(revised, store, "EURUSD", timeframe="H1", server_time="UTC")
    assert tree(store.root) == before


def test_a_directory_given_as_the_export_is_named(tmp_path: Path) -> None:
    with pytest.raises(Mt5ExportError, match=rf"{tmp_path}: is a directory"):
        read_mt5_export(tmp_path, server_time="UTC")


def test_undecodable_bytes_are_named_at_their_line(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_bytes(
        ("\t".join(HEADER) + "\r\n" + GOOD_LINE + "\r\n").encode() + b"2022.01.03\t\xff\r\n"
    )
    with pytest.raises(Mt5ExportError, match=rf"{path}:3: not UTF-8 or UTF-16 text"):
        read_mt5_export(path, server_time="UTC")


def test_a_count_beyond_exact_float_range_is_refused(tmp_path: Path) -> None:
    path = export_file(tmp_path, GOOD_LINE.replace("\t120\t", "\t100000000000000000000\t"))
    with pytest.raises(Mt5ExportError, match=rf"{path}:2: <TICKVOL> is too large"):
        read_mt5_export(path, server_time="UTC")


def test_chunks_do_not_change_what_is_read_or_which_line_is_named(
    real_eurusd: pd.DataFrame, tmp_path: Path
) -> None:
    path = write_mt5_export(real_eurusd.iloc[:500], tmp_path / "x.csv", server_time="NY+7")
    whole = read_export(path, server_time="NY+7")
    chunked = read_export(path, server_time="NY+7", chunk_lines=7)
    pd.testing.assert_frame_equal(chunked.bars, whole.bars)
    lines = path.read_bytes().split(b"\r\n")
    lines[300] = lines[300].replace(b"\t", b",", 1)
    path.write_bytes(b"\r\n".join(lines))
    with pytest.raises(Mt5ExportError, match=rf"{path}:301:"):
        read_export(path, server_time="NY+7", chunk_lines=7)


def test_a_path_like_symbol_is_refused_before_the_file_is_read(tmp_path: Path) -> None:
    path = export_file(tmp_path, GOOD_LINE)
    with pytest.raises(BadSymbolError, match=r"'\.\./x'"):
        import_export(path, BarStore(tmp_path / "data"), "../x", timeframe="H1", server_time="UTC")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["EURUSD_H1.csv"]


def test_a_file_with_old_mac_line_ends_is_refused_at_line_one_in_a_short_message(
    tmp_path: Path,
) -> None:
    path = tmp_path / "x.csv"
    path.write_bytes(("\r".join(["\t".join(HEADER), *[GOOD_LINE] * 1000]) + "\r").encode())
    with pytest.raises(Mt5ExportError, match=rf"{path}:1: header") as info:
        read_mt5_export(path, server_time="UTC")
    assert len(str(info.value)) < 400
