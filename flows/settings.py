"""tate's own settings: built once at the entry point, frozen, and passed down.

Ecosystem settings keep their own names (`MLFLOW_TRACKING_URI`, `PREFECT_API_URL`); only what tate
itself decides is read here, from `TATE_*` variables. A value tate cannot use is refused here,
while the settings are built and before anything starts: choices are `Literal`s, numbers carry
their bounds, and the timeframe and server time are checked by the code that owns those facts.
The rules themselves are plain functions in `flows/setting_checks.py`; the validators here call
them. The CLI turns the refusal into one line naming the `TATE_` variable (exit 2).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from flows import setting_checks as checks
from models.slo import EXECUTION_SLO_TARGET, LATENCY_SLO_SECONDS, LATENCY_SLO_TARGET
from serving.logs import LogFormat
from serving.risk.policy import TrippedPolicy

if TYPE_CHECKING:
    from models.canary_evidence import GatePolicy  # scipy: not on every command's start-up

DEFAULT_SYMBOLS = ("EURUSD", "GBPUSD", "USDJPY", "USDCHF")
SIGNING_KEY_FILE = "signing.key"

AccountMode = Literal["hedging", "netting"]

# Settings that name a host tate listens on or talks to with no authentication at all.
REMOTE_HOST_SETTINGS = {
    "metrics_host": "serves /metrics",
    "mt5linux_host": "sends orders through an mt5linux bridge (an RPyC service that runs any "
    "code a client sends)",
}


class TateSettings(BaseSettings):
    """Everything a tate command needs to know that is not a command-line argument."""

    # allow_inf_nan: `inf` seconds or lots is never what an operator meant
    model_config = SettingsConfigDict(
        env_prefix="TATE_", frozen=True, extra="forbid", allow_inf_nan=False
    )

    home: Path = Field(default=Path("var"), description="root of everything tate writes")
    timeframe: str = "H1"
    symbols: Annotated[tuple[str, ...], NoDecode] = Field(
        default=DEFAULT_SYMBOLS, description="EURUSD,GBPUSD or a JSON list"
    )
    seed: int = Field(default=7, ge=0)
    model_name: str = Field(default="tate-lgbm-momentum", min_length=1)
    experiment: str = Field(default="tate", min_length=1)
    server_time: str = Field(
        default="NY+7", description="broker server time of MT5 exports: UTC, UTC+N, UTC-N or NY+7"
    )
    magic: int = Field(default=2611270, ge=0, lt=2**63)
    deviation_points: int = Field(default=20, ge=0)
    canary_fraction: float = Field(
        default=0.05, gt=0.0, le=1.0, description="canary's size as a fraction of the champion's"
    )
    max_volume: float = Field(default=1.0, gt=0.0)
    metrics_host: str = "127.0.0.1"
    metrics_port: int = Field(default=9464, ge=0, le=65535, description="0: any free port")
    journal_url: SecretStr | None = Field(
        default=None,
        description="SQLAlchemy URL of the journal (may hold a password: never logged)",
    )
    poll_seconds: float = Field(
        default=5.0,
        gt=0.0,
        le=3600.0,
        description="alias and halt polling (a halt waits this long)",
    )
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
    sim_pace_seconds: float = Field(
        default=1.0,
        gt=0.0,
        le=3600.0,
        description="seconds between bars of the simulated worker `tate up` starts",
    )
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
    log_format: LogFormat = Field(
        default="auto",
        description="worker logs: auto (text on a terminal, else JSON lines), json or text",
    )
    allow_remote_binds: bool = Field(
        default=False,
        description="let TATE_METRICS_HOST / TATE_MT5LINUX_HOST leave the loopback interface",
    )
    signing_key: Path | None = Field(
        default=None,
        description="the trainer's Ed25519 private key (PEM PKCS8), e.g. in a desk's secret "
        "store; default $TATE_HOME/keys/signing.key, created on first use",
    )
    trusted_keys: Annotated[tuple[Path, ...], NoDecode] = Field(
        default=(),
        description="public keys the worker trusts: .pub files or folders of them, comma-"
        "separated or a JSON list; default $TATE_HOME/keys",
    )
    revoked_keys: Annotated[tuple[str, ...], NoDecode] = Field(
        default=(),
        description="key ids (16 hex digits) whose signatures the worker refuses",
    )

    @field_validator("home")
    @classmethod
    def _absolute_home(cls, value: Path) -> Path:
        # Relative homes are resolved once so a chdir in a flow run cannot move the store.
        return value.expanduser().resolve()

    @field_validator("symbols", mode="before")
    @classmethod
    def _symbol_list(cls, value: Any) -> Any:
        return checks.split_symbols(value)

    @field_validator("symbols")
    @classmethod
    def _plain_symbols(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return checks.plain_symbols(value)

    @field_validator("log_level")
    @classmethod
    def _known_log_level(cls, value: str) -> str:
        return checks.known_log_level(value)

    @model_validator(mode="after")
    def _loopback_unless_allowed(self) -> TateSettings:
        # The model validator sees the opt-in whatever the order of the fields; its message
        # names the variable itself (the CLI prints it after "bad setting").
        if self.allow_remote_binds:
            return self
        for field, what in REMOTE_HOST_SETTINGS.items():
            host = getattr(self, field)
            if not checks.is_loopback(host):
                raise ValueError(
                    f"TATE_{field.upper()}={host!r}: not a loopback address, and tate {what} "
                    "with no authentication; use 127.0.0.1, or set TATE_ALLOW_REMOTE_BINDS=true "
                    "to mean it"
                )
        return self

    @field_validator("gate_cron")
    @classmethod
    def _cron(cls, value: str) -> str:
        return checks.cron(value)

    @field_validator("gate_stages")
    @classmethod
    def _rising_stages(cls, value: tuple[float, ...]) -> tuple[float, ...]:
        return checks.rising_stages(value)

    @field_validator("timeframe")
    @classmethod
    def _known_timeframe(cls, value: str) -> str:
        return checks.known_timeframe(value)

    @field_validator("server_time")
    @classmethod
    def _known_server_time(cls, value: str) -> str:
        return checks.known_server_time(value)

    @field_validator("trusted_keys", "revoked_keys", mode="before")
    @classmethod
    def _listed(cls, value: Any) -> Any:
        return checks.listed(value)

    @field_validator("signing_key")
    @classmethod
    def _expanded_key(cls, value: Path | None) -> Path | None:
        return checks.expanded_key(value)

    @field_validator("trusted_keys")
    @classmethod
    def _expanded_keys(cls, value: tuple[Path, ...]) -> tuple[Path, ...]:
        return checks.expanded_keys(value)

    @field_validator("revoked_keys")
    @classmethod
    def _key_ids(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return checks.key_ids(value)

    @field_validator("journal_url")
    @classmethod
    def _usable_journal_url(cls, value: SecretStr | None) -> SecretStr | None:
        return checks.usable_journal_url(value)

    def remote_hosts(self) -> list[str]:
        """One warning line per host setting that leaves the loopback interface (opted in)."""
        return [
            f"TATE_{field.upper()}={getattr(self, field)!r} is not loopback: tate {what} "
            "with no authentication beyond this machine (TATE_ALLOW_REMOTE_BINDS=true)"
            for field, what in REMOTE_HOST_SETTINGS.items()
            if not checks.is_loopback(getattr(self, field))
        ]

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
    def locks_dir(self) -> Path:
        """One lock file per trading account a worker holds (`serving/account_lock.py`)."""
        return self.home / "locks"

    @property
    def keys_dir(self) -> Path:
        """Where the trainer keeps its signing key and publishes public keys (mode 0700)."""
        return self.home / "keys"

    @property
    def signing_key_path(self) -> Path:
        return self.signing_key or self.keys_dir / SIGNING_KEY_FILE

    @property
    def trusted_key_locations(self) -> tuple[Path, ...]:
        """What the worker trusts: ``trusted_keys`` when set, else every .pub in ``keys_dir``."""
        return self.trusted_keys or (self.keys_dir,)

    @property
    def run_dir(self) -> Path:
        """Where `tate up` keeps the pids and logs of what it started."""
        return self.home / "run"
