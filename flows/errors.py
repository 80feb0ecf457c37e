"""Which exceptions mean "a check said no" (exit 1) and which mean "bad input" (exit 2)."""

from __future__ import annotations


def check_failures() -> tuple[type[BaseException], ...]:
    from flows.data_flows import ValidationFailedError
    from flows.serve import NothingServedError

    return (ValidationFailedError, NothingServedError)


def input_errors() -> tuple[type[BaseException], ...]:
    from mlflow.exceptions import MlflowException

    from data_contracts.mt5_export import Mt5ExportError
    from data_contracts.schema import BarSchemaError
    from data_contracts.store import EmptyRangeError, UnknownSymbolError
    from flows.drift_flow import NoJournaledFeaturesError
    from flows.tracking import AliasNotFoundError

    return (
        Mt5ExportError,
        BarSchemaError,
        UnknownSymbolError,
        EmptyRangeError,
        AliasNotFoundError,
        NoJournaledFeaturesError,
        MlflowException,
        FileNotFoundError,
        ValueError,
    )
