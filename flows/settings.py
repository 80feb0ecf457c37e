"""tate's own settings: built once at the entry point, frozen, and passed down.

Ecosystem settings keep their own names (`MLFLOW_TRACKING_URI`, `PREFECT_API_URL`); only what tate
itself decides is read here, from `TATE_*` variables.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_SYMBOLS = ("EURUSD", "GBPUSD", "USDJPY", "USDCHF")


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
    deviation_points: int = 20
    canary_fraction: float = 0.05
    max_volume: float = 1.0
    metrics_host: str = "127.0.0.1"
    metrics_port: int = 9464
    journal_url: str | None = None
    poll_seconds: float = 5.0
    replay_refresh_bars: int = Field(
        default=24,
        ge=1,
        description="a full-speed replay re-reads aliases every N bars (a swap lands there)",
    )
    prefect_port: int = 4200
    account_mode: str = Field(
        default="hedging", description="SimTerminal account: hedging (canary trades) or netting"
    )
    sim_balance: float = 100_000.0
    mt5linux_host: str = "127.0.0.1"
    mt5linux_port: int = 18812
    mlflow_port: int = 5000
    tripped_policy: str = Field(
        default="hold", description="positions when a breaker trips: hold, reduce or close"
    )
    daily_loss_limit: float | None = Field(
        default=None, description="account-currency loss per UTC day that trips daily_loss"
    )
    latency_slo_seconds: float = 0.25
    psi_threshold: float = 0.25
    drift_sizing: bool = True
    log_level: str = "INFO"

    @field_validator("home")
    @classmethod
    def _absolute_home(cls, value: Path) -> Path:
        # Relative homes are resolved once so a chdir in a flow run cannot move the store.
        return value.expanduser().resolve()

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
        return self.journal_url or f"sqlite:///{self.home / 'journal.sqlite'}"

    @property
    def run_dir(self) -> Path:
        """Where `tate up` keeps the pids and logs of what it started."""
        return self.home / "run"
