"""tate's own settings: built once at the entry point, frozen, and passed down.

Ecosystem settings keep their own names (`MLFLOW_TRACKING_URI`, `PREFECT_API_URL`); only what tate
itself decides is read here, from `TATE_*` variables. A value tate cannot use is refused here,
while the settings are built and before anything starts: choices are `Literal`s, numbers carry
their bounds, and the timeframe and server time are checked by the code that owns those facts.
The CLI turns the refusal into one line naming the `TATE_` variable (exit 2).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from models.slo import EXECUTION_SLO_TARGET, LATENCY_SLO_SECONDS, LATENCY_SLO_TARGET
from serving.risk.policy import TrippedPolicy

if TYPE_CHECKING:
    from models.canary_evidence import GatePolicy  # scipy: not on every command's start-up

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
    latency_slo_seconds: float = Field(
        default=LATENCY_SLO_SECONDS,
        gt=0.0,
        description="decision-latency threshold: the latency breaker and the latency SLO",
    )
    latency_slo_target: float = Field(
        default=LATENCY_SLO_TARGET, gt=0.0, lt=1.0, description="share of decisions within it"
    )
    execution_slo_target: float = Field(
        default=EXECUTION_SLO_TARGET,
        gt=0.0,
        lt=1.0,
        description="share of sent orders that end filled, placed or a documented non-error",
    )
    slo_window_days: float = Field(default=28.0, gt=0.0, description="SLOs' rolling window")
    gate_cron: str = Field(default="0 * * * *", description="when the canary gate runs (UTC)")
    gate_min_bars: int = Field(default=100, ge=1)
    gate_min_trades: int = Field(default=30, ge=2)
    gate_alpha: float = Field(default=0.05, gt=0.0, lt=0.5)
    gate_slippage_margin_points: float = Field(default=1.0, ge=0.0)
    gate_error_rate_margin: float = Field(default=0.01, ge=0.0, le=1.0)
    gate_latency_margin_seconds: float = Field(default=0.05, ge=0.0)
    gate_stages: tuple[float, ...] = Field(
        default=(0.05, 0.10, 0.25, 0.50), description="canary risk fractions, widened in order"
    )
    psi_threshold: float = Field(default=0.25, gt=0.0)
    drift_sizing: bool = True
    log_level: str = "INFO"

    @field_validator("home")
    @classmethod
    def _absolute_home(cls, value: Path) -> Path:
        # Relative homes are resolved once so a chdir in a flow run cannot move the store.
        return value.expanduser().resolve()

    @field_validator("gate_stages")
    @classmethod
    def _rising_stages(cls, value: tuple[float, ...]) -> tuple[float, ...]:
        if not value or any(not 0 < v <= 1 for v in value) or list(value) != sorted(set(value)):
            raise ValueError("stages must be rising fractions in (0, 1], e.g. [0.05, 0.1, 0.25]")
        return value

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

    def gate_policy(self) -> GatePolicy:
        """The canary gate's thresholds (``models.canary_evidence``)."""
        from models.canary_evidence import GatePolicy

        return GatePolicy(
            min_bars=self.gate_min_bars,
            min_trades=self.gate_min_trades,
            alpha=self.gate_alpha,
            slippage_margin_points=self.gate_slippage_margin_points,
            error_rate_margin=self.gate_error_rate_margin,
            latency_margin_seconds=self.gate_latency_margin_seconds,
            stages=self.gate_stages,
        )

    @property
    def run_dir(self) -> Path:
        """Where `tate up` keeps the pids and logs of what it started."""
        return self.home / "run"
