"""Operator mistakes that `models/` can only detect, not fix: too little data, a bad sweep.
(A symbol the cost model cannot value raises ``data_contracts.symbols``' errors.)

Each subclasses `ValueError`, the contract these library functions document for their callers;
the CLI does not rely on that: `flows/errors.py` maps each class by name to exit 2, and any
other `ValueError` is a bug.
"""

from __future__ import annotations


class NotEnoughBarsError(ValueError):
    """The bars given are too few for the feature window, the hold-out or the folds.

    Operator action: widen `--start`/`--end`, or ingest more history for the symbols named.
    """


class SweepError(ValueError):
    """A `--sweep` configuration cannot be tried as given (not a scalar, or a duplicate).

    Operator action: correct the entry the message names in the `--sweep` JSON.
    """


class UnknownStrategyError(ValueError):
    """A strategy name (`--strategy`) that no shipped strategy (``models.strategies``) has.

    Operator action: pass one of the names the message lists.
    """
