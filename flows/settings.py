"""tate's own settings: built once at the entry point, frozen, and passed down.

Ecosystem settings keep their own names (`MLFLOW_TRACKING_URI`, `PREFECT_API_URL`); only what tate
itself decides is read here, from `TATE_*` variables. A value tate cannot use is refused here,
while the settings are built and before anything starts: choices are `Literal`s, numbers carry
their bounds, and the timeframe and server time are checked by the code that owns those facts.
The CLI turns the refusal into one line naming the `TATE_` variable (exit 2).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from serving.risk.policy import TrippedPolicy

DEFAULT_SYMBOLS = ("EURUSD", "GBPUSD", "USDJPY", "USDCHF")

AccountMode = Literal["hedging", "netting"]


class TateSettings(BaseSettings):
    """Everything a tate command needs to know that is not a command-line argument."""

    model_config = SettingsConfigDict(env_prefix="TATE_", frozen=True, extra="forbid")

    home: Path = Field(default=Path("var"), description="root of everything tate writes")
    timeframe: str = "H1"
    symbols: tuple[str, ...] = DEFAULT_SYMBOLS
    seed: int = 7
    model_name: str = "tate-lgbm-momentum"
    experiment: str = "tate"
    server_time: str = Field(
        default="NY+7", description="broker server time of MT5 exports: UTC, UTC+N, UTC-N or NY+7"
    )
    magic: int = 2611270
    deviation_points: int = Field(default=20, ge=0)
    canary_fraction: float = Field(default=0.05, ge=0.0, le=1.0)
    max_volume: float = Field(default=1.0, gt=0.0)
    metrics_host: str = "127.0.0.1"
    metrics_port: int = Field(default=9464, ge=0, le=65535, description="0: any free port")
    journal_url: SecretStr | None = Field(
        default=None,
        description="SQLAlchemy URL of the journal (may hold a password: never logged)",
    )
    poll_seconds: float = Field(default=5.0, gt=0.0)
    replay_refresh_bars: int = Field(
        default=24,
        ge=1,
        description="a full-speed replay re-reads aliases every N bars (a swap lands there)",
    )
    prefect_port: int = Field(default=4200, ge=1, le=65535)
    account_mode: AccountMode = Field(
        default="hedging", description="SimTerminal account: hedging (canary trades) or netting"
    )
    sim_balance: float = Field(default=100_000.0, gt=0.0)
    mt5linux_host: str = "127.0.0.1"
    mt5linux_port: int = Field(default=18812, ge=1, le=65535)
    mlflow_port: int = Field(default=5000, ge=1, le=65535)
    tripped_policy: TrippedPolicy = Field(
        default="hold", description="positions when a breaker trips: hold, reduce or close"
    )
    daily_loss_limit: float | None = Field(
        default=None, gt=0.0, description="account-currency loss per UTC day that trips daily_loss"
    )
    latency_slo_seconds: float = Field(default=0.25, gt=0.0)
    psi_threshold: float = Field(
        default=0.25,
        gt=0.0,
        description="PSI that trips the worker's drift breaker and, on a key feature, halts",
    )
    drift_key_features: int = Field(
        default=5, ge=1, description="the model's top features by gain whose PSI may halt it"
    )
    concept_drift_z: float = Field(
        default=3.0, gt=0.0, description="half-width of the concept-drift band, standard errors"
    )
    concept_drift_min_outcomes: int = Field(
        default=20, ge=1, description="independent known outcomes before concept drift is judged"
    )
    drift_retrain: bool = Field(
        default=False,
        description="a halt by the drift flow starts `retrain/on-demand` when a Prefect API is up",
    )
    drift_sizing: bool = True
    log_level: str = "INFO"

    @field_validator("home")
    @classmethod
    def _absolute_home(cls, value: Path) -> Path:
        # Relative homes are resolved once so a chdir in a flow run cannot move the store.
        return value.expanduser().resolve()

    @field_validator("timeframe")
    @classmethod
    def _known_timeframe(cls, value: str) -> str:
        from data_contracts.schema import TIMEFRAME_SECONDS  # the one list; pandas, so late

        if value not in TIMEFRAME_SECONDS:
            raise ValueError(
                f"unknown timeframe {value!r}; expected one of {list(TIMEFRAME_SECONDS)}"
            )
        return value

    @field_validator("server_time")
    @classmethod
    def _known_server_time(cls, value: str) -> str:
        from data_contracts.mt5_export import ServerTime

        ServerTime.parse(value)  # raises ValueError naming the value and the accepted forms
        return value

    @field_validator("journal_url")
    @classmethod
    def _usable_journal_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError

        try:
            make_url(value.get_secret_value()).get_dialect()
        except ArgumentError as error:  # its words never repeat the URL (or its password)
            raise ValueError(f"not a database URL SQLAlchemy can use: {error}") from None
        return value

    @property
    def data_dir(self) -> Path:
        return self.home / "data"

    @property
    def reports_dir(self) -> Path:
        return self.home / "reports"

    @property
    def mlflow_dir(self) -> Path:
        return self.home / "mlflow"

    @property
    def mlflow_db_uri(self) -> str:
        return f"sqlite:///{self.mlflow_dir / 'mlflow.db'}"

    @property
    def artifact_root(self) -> Path:
        return self.mlflow_dir / "artifacts"

    @property
    def prefect_home(self) -> Path:
        return self.home / "prefect"

    @property
    def journal(self) -> str:
        """The journal's SQLAlchemy URL, password included: to connect with, never to print."""
        if self.journal_url is not None:
            return self.journal_url.get_secret_value()
        return f"sqlite:///{self.home / 'journal.sqlite'}"

    @property
    def journal_label(self) -> str:
        """The journal's URL with any password masked, for messages and logs."""
        from sqlalchemy.engine import make_url

        return make_url(self.journal).render_as_string(hide_password=True)

    @property
    def run_dir(self) -> Path:
        """Where `tate up` keeps the pids and logs of what it started."""
        return self.home / "run"
