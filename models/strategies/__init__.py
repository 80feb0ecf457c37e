"""The shipped strategies, by name: what `tate train --strategy` and `tate lookahead` choose from.

Each family is one self-contained file here (see ``models.strategy``); this registry is the only
place that names them, so training, packaging and the worker keep taking a strategy as an
argument.
"""

from __future__ import annotations

from models.errors import UnknownStrategyError
from models.strategies.lgbm_momentum import STRATEGY as LGBM_MOMENTUM
from models.strategies.sk_logistic import STRATEGY as SK_LOGISTIC
from models.strategy import Strategy

DEFAULT_STRATEGY = LGBM_MOMENTUM.name

STRATEGIES: dict[str, Strategy] = {
    LGBM_MOMENTUM.name: LGBM_MOMENTUM,
    SK_LOGISTIC.name: SK_LOGISTIC,
}


def strategy_named(name: str) -> Strategy:
    """The shipped strategy called ``name``.

    Raises:
        UnknownStrategyError: no shipped strategy has that name.
    """
    try:
        return STRATEGIES[name]
    except KeyError:
        raise UnknownStrategyError(
            f"unknown strategy {name!r}; shipped: {', '.join(sorted(STRATEGIES))}"
        ) from None
