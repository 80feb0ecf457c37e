"""The canary gate's effects on the registry: aliases read and moved, decisions tagged.

`flows/canary_gate.py` decides; this module is the only place its decisions touch MLflow, and
it goes through `flows.tracking` for the moves any person could make (promote, aliases).
"""

from __future__ import annotations

from mlflow.exceptions import MlflowException

from flows.settings import TateSettings
from flows.tracking import CANARY, CHAMPION, NOT_FOUND_CODES, alias_version, client, promote
from serving.registry.source import CANARY_FRACTION_TAG

GATE_TAG = "tate.gate"
LEFT_ALIASES_TAG = "tate.gate.left_aliases"  # registered model: what the last decision left
HAND_MOVED_TAG = "tate.gate.hand_moved"  # registered model: the last change a person made
STAGE_SINCE_TAG = "tate.gate.stage_since"  # canary version: evidence counts after this bar
_TAG_LIMIT = 5000  # MLflow stores up to 5,000 characters of a model-version tag value


def registry_aliases(settings: TateSettings) -> tuple[dict[str, str], dict[str, str]]:
    """The registered model's aliases (alias → version) and tags; both empty without a model."""
    try:
        model = client(settings).get_registered_model(settings.model_name)
    except MlflowException as error:
        if error.error_code in NOT_FOUND_CODES:
            return {}, {}
        raise
    aliases = {alias: str(version) for alias, version in model.aliases.items()}
    return aliases, dict(model.tags)


def format_aliases(aliases: dict[str, str]) -> str:
    """``champion=3,canary=4`` — the roles the gate cares about, in a fixed order."""
    return ",".join(f"{a}={aliases[a]}" for a in (CHAMPION, CANARY) if a in aliases)


def record_left_aliases(settings: TateSettings, aliases: dict[str, str]) -> None:
    """Remember what the gate's decision left, so a later change is known to be a person's."""
    client(settings).set_registered_model_tag(
        settings.model_name, LEFT_ALIASES_TAG, format_aliases(aliases)
    )


def record_hand_move(settings: TateSettings, left: str, found: str, at: str) -> None:
    """Say on the registered model that a person moved the aliases (the gate leaves them)."""
    client(settings).set_registered_model_tag(
        settings.model_name,
        HAND_MOVED_TAG,
        f"{at}: gate left {left or 'none'}, found {found or 'none'}",
    )


def tag_gate_decision(settings: TateSettings, versions: list[str], tags: dict[str, str]) -> None:
    """Write the decision's tags (``tate.gate.*``) on each version it concerned."""
    mlflow_client = client(settings)
    for version in dict.fromkeys(versions):
        for key, value in tags.items():
            mlflow_client.set_model_version_tag(
                settings.model_name, version, key, value[:_TAG_LIMIT]
            )


def widen_canary(settings: TateSettings, version: str, fraction: float, since: str) -> None:
    """Raise the canary's risk fraction (the worker reads it at its next poll)."""
    mlflow_client = client(settings)
    mlflow_client.set_model_version_tag(
        settings.model_name, version, CANARY_FRACTION_TAG, f"{fraction:g}"
    )
    mlflow_client.set_model_version_tag(settings.model_name, version, STAGE_SINCE_TAG, since)


def drop_canary(settings: TateSettings, version: str, why: str, *, by: str) -> None:
    """Remove the ``canary`` alias and say why on the version (it stays registered)."""
    mlflow_client = client(settings)
    mlflow_client.delete_registered_model_alias(settings.model_name, CANARY)
    mlflow_client.set_model_version_tag(settings.model_name, version, "rolled_back_by", by)
    mlflow_client.set_model_version_tag(
        settings.model_name, version, "rolled_back_reason", why[:_TAG_LIMIT]
    )


def promote_canary(settings: TateSettings, version: str, *, by: str, why: str) -> str | None:
    """Champion → the canary's version, canary dropped, the old champion tagged retired.

    Returns the retired version (None when there was no champion)."""
    old = alias_version(settings, CHAMPION)
    promote(settings, version=version, by=by)
    if old is None or str(old.version) == version:
        return None
    mlflow_client = client(settings)
    retired = str(old.version)
    mlflow_client.set_model_version_tag(settings.model_name, retired, "retired", "true")
    mlflow_client.set_model_version_tag(
        settings.model_name,
        retired,
        "retired_reason",
        f"replaced by v{version}: {why}"[:_TAG_LIMIT],
    )
    return retired
