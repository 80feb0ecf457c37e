"""tate's exit codes, the exceptions of `flows/`, and the one table that maps exceptions to codes.

The CLI contract (DESIGN, "Outside contracts"): 0 ok; 1 a check or gate said no; 2 bad input or
configuration, said in one line naming the file, line, option, variable, symbol or alias, with
no traceback; 3 an unexpected error, i.e. a bug, shown with its traceback.

Each exception says in its docstring what the operator does about it, as freqtrade's do, and
is mapped to its code in `EXIT_CODES` below, in one place. Where the classes live follows the
import rules: `data_contracts/` imports nothing of ours and `models/` only `data_contracts`, so
an exception raised down there cannot derive from a class of `flows/`. It lives in the module
(or, for `models/`, the `models/errors.py`) that raises it, and `EXIT_CODES` names it. The
exceptions raised in `flows/` live here.

Nothing is mapped by a builtin base class. A `ValueError`, `KeyError`, `FileNotFoundError` or
`MlflowException` that is not a class named in the table is a bug and exits 3 with its
traceback: a blanket catch would call a bug "bad input" and hide it. Where an MLflow error is
the operator's mistake (a version that does not exist), `flows/tracking.py` translates it
into one of the classes here. A subclass of a listed class maps like its parent.

The table holds dotted names rather than imported classes, so mapping an error never imports
`serving/` or MLflow on the way out (an import failing there would replace the error being
reported); `tests/unit/test_exit_codes.py` imports every name and checks it is an exception
with an operator action, so a renamed or moved class fails a test instead of turning into a
silent exit 3. Later issues add their exceptions to this table.

Every line printed here passes through `redact` (the worker's JSON logs use the same
`serving.logs.redact_text`), so a password in `MLFLOW_TRACKING_URI=http://user:pass@…` or a
token in an environment variable never reaches a terminal or a CI log, tracebacks included.
"""

from __future__ import annotations

import logging
import os
import sys
import traceback
from typing import Final

from serving.logs import REDACTED, SECRET_KEY, redact_text

OK: Final = 0
SAID_NO: Final = 1
BAD_INPUT: Final = 2
BUG: Final = 3


class BadSettingError(Exception):
    """A `TATE_` variable has a value tate cannot use, or `TATE_HOME` cannot be written.

    Operator action: correct the variable the message names (the settings and their bounds
    are in `flows/settings.py`).
    """


class BadOptionError(Exception):
    """A command-line option (or a flow parameter from the Prefect UI) has a value tate cannot use.

    Operator action: correct the option the message names (`tate <command> --help` lists them).
    """


class AliasNotFoundError(Exception):
    """A model alias the command needs (``champion``, ``canary``) is not set in the registry.

    Operator action: run `tate train` (a first version that passes the gate becomes champion,
    a later one canary), or name a version explicitly where the command allows it.
    """


class VersionNotFoundError(Exception):
    """A model version named on the command line does not exist in the registry.

    Operator action: check the number in the MLflow UI (or `MLFLOW_TRACKING_URI`'s registry)
    and pass an existing version.
    """


class NoJournaledFeaturesError(Exception):
    """The worker has not journaled any decision for the model version asked about.

    Operator action: run `tate serve` first (or point `TATE_JOURNAL_URL` at the journal the
    worker writes), then ask again.
    """


class TerminalUnavailableError(Exception):
    """The chosen MT5 terminal cannot be reached or is not installed on this platform.

    Operator action: install the package the message names, start the terminal and check its
    login, or `TATE_MT5LINUX_HOST` / `TATE_MT5LINUX_PORT` for the bridge; or use `--terminal sim`.
    """


class TrackingServerUnreachableError(Exception):
    """The MLflow tracking server (the model registry) did not answer.

    Not the same as a model without a `champion`: nothing was asked of the registry at all.
    Operator action: start the server (`tate up`), or fix `MLFLOW_TRACKING_URI` (unset, it is
    the store under `TATE_HOME`); then run the command again.
    """


class StackStartError(Exception):
    """A service of `tate up` could not start or did not become healthy.

    The usual cause is a port already in use by another program, or a misconfiguration the
    service's log shows. Operator action: read the log the message names; free the port or
    choose another (`TATE_PREFECT_PORT`, `TATE_MLFLOW_PORT`, `TATE_METRICS_PORT`); `tate down`
    stops what did start.
    """


class ValidationFailedError(Exception):
    """An error-level data check failed, so the data set is blocked from training.

    The message names the symbol, the check and the rows, and where the Data Docs are.
    Operator action: fix or re-export the data (the raw store is never edited), ingest again,
    re-run `tate validate`.
    """


class GateFailedError(Exception):
    """The promotion gate said no to a freshly trained version.

    The version stays registered with no alias (the first version too: it becomes champion
    only when it passes the absolute checks); the message lists the failed checks.
    Operator action: read the checks, change the data, features or parameters, and retrain;
    or overrule with `tate promote --version N --force --by WHO --reason TEXT` if you accept
    the risk.
    """


class PromotionRefusedError(Exception):
    """`tate promote` was asked for a version whose training gate failed, without `--force`.

    Nothing is changed; the message lists the failed checks. Operator action: retrain, or
    overrule the gate knowingly with `--force --by WHO --reason TEXT` (recorded on the
    version's tags).
    """


class DriftFlaggedError(Exception):
    """The drift flow flagged data, prediction or concept drift (and halted the model when
    drift broke a halting threshold).

    Operator action: read the drift report the message names; retrain on recent data (the
    flow may already have started `retrain/on-demand`), then clear the halt with
    `tate resume --by WHO`.
    """


class CanaryRolledBackError(Exception):
    """The canary gate rolled the canary back: its live evidence was worse than the champion's.

    The ``canary`` alias is gone and the version's tags say why (``tate.gate.*``); the
    report under TATE_HOME/reports/canary-gate/ has the numbers.
    Operator action: read the report; retrain, or set the alias again in the MLflow UI if
    you accept the risk (the gate respects a person's alias change).
    """


class LookaheadFailedError(Exception):
    """A strategy's features or signals read the future, or need more history than it declares.

    Raised by `tate lookahead` and by the look-ahead step of every retraining (which then stops
    before fitting anything). The message names the strategy, the feature and the first
    timestamp (or the warm-up it would need), and where the report is.
    Operator action: fix the feature (no `shift(-1)`, centred windows or whole-sample
    statistics; a longer declared window for a longer feature), then run `tate lookahead`.
    """


class NothingServedError(Exception):
    """A worker run ended without a single decision: no role had a model it could load.

    The message carries the run's summary and why each alias served nothing.
    Operator action: fix the registry (an alias on a version that loads and verifies).
    """


EXIT_CODES: Final[dict[str, int]] = {
    # a check or gate said no
    "flows.errors.ValidationFailedError": SAID_NO,
    "flows.errors.GateFailedError": SAID_NO,
    "flows.errors.NothingServedError": SAID_NO,
    "flows.errors.CanaryRolledBackError": SAID_NO,
    "flows.errors.PromotionRefusedError": SAID_NO,
    "flows.errors.DriftFlaggedError": SAID_NO,
    "flows.errors.LookaheadFailedError": SAID_NO,
    "serving.journal_backup.BackupFailedError": SAID_NO,
    "serving.account_lock.AccountLockLostError": SAID_NO,
    # bad input or configuration: flows
    "flows.errors.BadSettingError": BAD_INPUT,
    "flows.errors.BadOptionError": BAD_INPUT,
    "flows.errors.AliasNotFoundError": BAD_INPUT,
    "flows.errors.VersionNotFoundError": BAD_INPUT,
    "flows.errors.NoJournaledFeaturesError": BAD_INPUT,
    "flows.errors.TerminalUnavailableError": BAD_INPUT,
    "flows.errors.StackStartError": BAD_INPUT,
    "flows.errors.TrackingServerUnreachableError": BAD_INPUT,
    # bad input: data_contracts
    "data_contracts.schema.BarSchemaError": BAD_INPUT,
    "data_contracts.mt5_export.Mt5ExportError": BAD_INPUT,
    "data_contracts.store.UnknownSymbolError": BAD_INPUT,
    "data_contracts.store.EmptyRangeError": BAD_INPUT,
    "data_contracts.store.EmptyStoreError": BAD_INPUT,
    "data_contracts.store.NoUniverseError": BAD_INPUT,
    "data_contracts.symbols.UnknownSymbolSpecError": BAD_INPUT,
    "data_contracts.symbols.UnconvertibleCurrencyError": BAD_INPUT,
    "data_contracts.symbols.BadSymbolError": BAD_INPUT,
    "data_contracts.store.ConflictingBarsError": BAD_INPUT,
    "data_contracts.universe.BadListingError": BAD_INPUT,
    "data_contracts.symbol_records.BadSymbolSpecError": BAD_INPUT,
    "data_contracts.calendar_sessions.SessionCalendarError": BAD_INPUT,
    # bad input: models
    "models.errors.NotEnoughBarsError": BAD_INPUT,
    "models.errors.SweepError": BAD_INPUT,
    "models.errors.UnknownStrategyError": BAD_INPUT,
    # bad input: serving
    "serving.mt5.rates.TerminalDataError": BAD_INPUT,
    "serving.account_lock.AccountLockedError": BAD_INPUT,
    "serving.journal_integrity.JournalRefusedError": BAD_INPUT,
}


MIN_SECRET_LENGTH = 4  # shorter values would blank out ordinary words


def redact(text: str) -> str:
    """``text`` as the operator may see it: URL passwords, ``secret=value`` fragments and the
    values of secret-looking environment variables (``MLFLOW_TRACKING_PASSWORD``, …) masked."""
    text = redact_text(text)
    for name, value in os.environ.items():
        if len(value) >= MIN_SECRET_LENGTH and SECRET_KEY.search(name) and value in text:
            text = text.replace(value, REDACTED)
    return text


def exit_code(error: BaseException) -> int:
    """The exit code of an exception: its class's (or nearest listed parent's), else `BUG`."""
    for cls in type(error).__mro__:
        code = EXIT_CODES.get(f"{cls.__module__}.{cls.__qualname__}")
        if code is not None:
            return code
    return BUG


def message(error: BaseException) -> str:
    """What the operator reads: the exception's own words (KeyError's str() adds quotes)."""
    if isinstance(error, KeyError) and error.args:
        return str(error.args[0])
    return str(error) or type(error).__name__


def report(error: BaseException) -> int:
    """Say what went wrong on stderr and return the exit code.

    Codes 1 and 2: `tate: <message>`, no traceback. Anything else is a bug: the traceback,
    then one line saying so.
    """
    code = exit_code(error)
    if code == BUG:
        print(redact("".join(traceback.format_exception(error))), end="", file=sys.stderr)
        print(
            f"tate: unexpected error (a bug, exit {BUG}): {type(error).__name__}; "
            "please report it with the traceback above",
            file=sys.stderr,
        )
    else:
        print(redact(f"tate: {message(error)}"), file=sys.stderr)
    return code


class _NoTracebackForOperatorErrors(logging.Filter):
    """Drop the traceback Prefect attaches to a failed task or flow run when the error is the
    operator's (exit 1 or 2): the log line keeps the message, the CLI prints it once more."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if error is not None and exit_code(error) in (SAID_NO, BAD_INPUT):
            record.exc_info = None
            record.exc_text = None
        return True


PREFECT_RUN_LOGGERS = ("prefect.flow_runs", "prefect.task_runs")


def quiet_operator_tracebacks() -> None:
    """Install the filter on Prefect's run loggers (idempotent; Prefect need not be imported)."""
    for name in PREFECT_RUN_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, _NoTracebackForOperatorErrors) for f in logger.filters):
            logger.addFilter(_NoTracebackForOperatorErrors())
