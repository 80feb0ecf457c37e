"""`tate promote` moves champion through `tracking.promote`, with or without `--version`: the
replaced champion is recorded for rollback, the canary alias goes when the canary is promoted,
and a version that does not exist changes nothing and is named (exit 2)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from mlflow import MlflowClient
from typer.testing import CliRunner

from flows import tracking
from flows.cli import app
from flows.errors import AliasNotFoundError, VersionNotFoundError
from flows.settings import TateSettings


@pytest.fixture(scope="module")
def empty_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An MLflow database with its tables made once (the migrations are the slow part)."""
    path = tmp_path_factory.mktemp("registry") / "mlflow.db"
    MlflowClient(tracking_uri=f"sqlite:///{path}").search_experiments()
    return path


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, empty_store: Path) -> TateSettings:
    monkeypatch.setenv("TATE_HOME", str(tmp_path / "home"))
    settings = TateSettings()
    settings.mlflow_dir.mkdir(parents=True)
    shutil.copy(empty_store, settings.mlflow_dir / "mlflow.db")
    return settings


@pytest.fixture
def registry(settings: TateSettings, tmp_path: Path) -> Iterator[MlflowClient]:
    """Three versions (no model files: aliases and tags are all promotion touches);
    v1 champion, v2 canary."""
    client = tracking.client(settings)
    client.create_registered_model(settings.model_name)
    for _ in range(3):
        client.create_model_version(settings.model_name, source=(tmp_path / "m").as_uri())
    client.set_registered_model_alias(settings.model_name, tracking.CHAMPION, "1")
    client.set_registered_model_alias(settings.model_name, tracking.CANARY, "2")
    yield client


def aliases(client: MlflowClient, name: str) -> dict[str, str]:
    return {alias: str(v) for alias, v in client.get_registered_model(name).aliases.items()}


def test_promoting_the_canary_records_the_old_champion_and_drops_the_canary_alias(
    settings: TateSettings, registry: MlflowClient
) -> None:
    assert tracking.promote(settings, by="ops") == "2"
    assert aliases(registry, settings.model_name) == {"champion": "2"}
    tags = registry.get_model_version(settings.model_name, "2").tags
    assert tags["previous_champion"] == "1"
    assert tags["champion_set_by"] == "ops"


def test_promoting_a_named_version_keeps_an_unrelated_canary(
    settings: TateSettings, registry: MlflowClient
) -> None:
    assert tracking.promote(settings, version="3", by="ops") == "3"
    assert aliases(registry, settings.model_name) == {"champion": "3", "canary": "2"}
    assert registry.get_model_version(settings.model_name, "3").tags["previous_champion"] == "1"
    assert tracking.rollback_champion(settings, by="ops") == "1"


def test_promoting_the_champion_again_changes_nothing(
    settings: TateSettings, registry: MlflowClient
) -> None:
    assert tracking.promote(settings, version="1", by="ops") == "1"
    assert aliases(registry, settings.model_name) == {"champion": "1", "canary": "2"}
    assert "previous_champion" not in registry.get_model_version(settings.model_name, "1").tags


def test_a_version_that_does_not_exist_is_named_and_nothing_moves(
    settings: TateSettings, registry: MlflowClient
) -> None:
    with pytest.raises(VersionNotFoundError, match="has no version '9'"):
        tracking.promote(settings, version="9", by="ops")
    assert aliases(registry, settings.model_name) == {"champion": "1", "canary": "2"}


def test_without_a_canary_promote_asks_for_a_version(
    settings: TateSettings, registry: MlflowClient
) -> None:
    registry.delete_registered_model_alias(settings.model_name, tracking.CANARY)
    with pytest.raises(AliasNotFoundError, match="no alias 'canary' to promote; name one"):
        tracking.promote(settings, by="ops")


def test_tate_promote_version_goes_through_the_same_function(
    settings: TateSettings, registry: MlflowClient
) -> None:
    result = CliRunner().invoke(app, ["promote", "--version", "3"])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "champion -> version 3"
    assert registry.get_model_version(settings.model_name, "3").tags["champion_set_by"] == "cli"
    assert registry.get_model_version(settings.model_name, "3").tags["previous_champion"] == "1"

    result = CliRunner().invoke(app, ["promote", "--version", "9"])
    assert result.exit_code == 2
    assert result.output.startswith("tate: model 'tate-lgbm-momentum' has no version '9'")
    assert "Traceback" not in result.output


def fail_gate(client: MlflowClient, name: str, version: str) -> None:
    """Tag a version as `retrain` tags one whose gate said no."""
    client.set_model_version_tag(name, version, tracking.GATE_PASSED_TAG, "False")
    client.set_model_version_tag(
        name, version, tracking.GATE_FAILED_TAG, "FAIL: OOF AUC 0.4990 must exceed 0.5100"
    )


def test_a_version_that_failed_its_gate_is_refused_naming_the_checks(
    settings: TateSettings, registry: MlflowClient
) -> None:
    fail_gate(registry, settings.model_name, "3")
    result = CliRunner().invoke(app, ["promote", "--version", "3"])
    assert result.exit_code == 1
    assert "version 3 of 'tate-lgbm-momentum' failed its gate" in result.output
    assert "FAIL: OOF AUC 0.4990 must exceed 0.5100" in result.output
    assert "--force" in result.output
    assert aliases(registry, settings.model_name) == {"champion": "1", "canary": "2"}
    assert "promoted_by" not in registry.get_model_version(settings.model_name, "3").tags


def test_a_forced_promotion_records_who_when_and_why(
    settings: TateSettings, registry: MlflowClient
) -> None:
    fail_gate(registry, settings.model_name, "3")
    args = ["promote", "--version", "3", "--force", "--by", "alice", "--reason", "desk accepts"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "champion -> version 3 (gate overruled)"
    assert aliases(registry, settings.model_name) == {"champion": "3", "canary": "2"}
    tags = registry.get_model_version(settings.model_name, "3").tags
    assert tags["promoted_by"] == "alice"
    assert tags["promotion_reason"] == "desk accepts"
    assert tags["forced"] == "true"
    assert tags["champion_set_by"] == "alice"
    at = datetime.fromisoformat(tags["promoted_at"])
    assert at.tzinfo is not None and abs(datetime.now(UTC) - at) < timedelta(minutes=5)


@pytest.mark.parametrize(
    "missing", [["--by", "alice"], ["--reason", "desk accepts"], []], ids=["reason", "by", "both"]
)
def test_force_without_a_name_and_a_reason_is_bad_input_and_moves_nothing(
    settings: TateSettings, registry: MlflowClient, missing: list[str]
) -> None:
    fail_gate(registry, settings.model_name, "3")
    result = CliRunner().invoke(app, ["promote", "--version", "3", "--force", *missing])
    assert result.exit_code == 2
    assert result.output.strip() == "tate: promote --force needs --by WHO and --reason TEXT"
    assert aliases(registry, settings.model_name) == {"champion": "1", "canary": "2"}


def test_an_unforced_promotion_is_recorded_as_not_forced(
    settings: TateSettings, registry: MlflowClient
) -> None:
    now = datetime(2026, 11, 30, 3, 0, tzinfo=UTC)
    tracking.promote(settings, by="bob", now=now)
    tags = registry.get_model_version(settings.model_name, "2").tags
    assert (tags["promoted_by"], tags["promoted_at"], tags["forced"]) == (
        "bob",
        now.isoformat(),
        "false",
    )
    assert "promotion_reason" not in tags


def test_a_halt_is_cleared_only_by_a_named_person_and_twice_is_harmless(
    settings: TateSettings, registry: MlflowClient
) -> None:
    tracking.halt(settings, version="1", reason="PSI 0.9 on key feature vol_24", by="drift-report")
    assert (
        tracking.halted(settings) == "registered model tagged halted: PSI 0.9 on key feature vol_24"
    )

    result = CliRunner().invoke(app, ["resume", "--by", "dave"])
    assert result.exit_code == 0, result.output
    assert "resumed by dave" in result.output
    assert tracking.halted(settings) is None
    model_tags = registry.get_registered_model(settings.model_name).tags
    assert (model_tags["halted"], model_tags["resumed_by"]) == ("false", "dave")
    version_tags = registry.get_model_version(settings.model_name, "1").tags
    assert version_tags["resumed_by"] == "dave"
    assert version_tags["halted_reason"] == "PSI 0.9 on key feature vol_24"

    again = CliRunner().invoke(app, ["resume", "--by", "dave"])
    assert again.exit_code == 0
    assert "is not halted; nothing changed" in again.output


def test_resume_needs_a_name(settings: TateSettings, registry: MlflowClient) -> None:
    result = CliRunner().invoke(app, ["resume"])
    assert result.exit_code == 2
    assert "--by" in result.output
