"""Between bars, make sure the running worker still holds its account's lock.

An advisory lock lives as long as its PostgreSQL session: a server restart, a terminated
backend or a network cut releases it, and a second worker may then take the account while
this one still trades it (each would take the other's orders for its own). So the worker asks
between bars, at most once a second of wall time (a fast replay does not ask the server per
bar; a live H1 worker asks every bar). A lost lock is taken back once; if another worker has
it, or the server does not answer, the worker is stopped before its next bar and the reason
kept for the command to exit with.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from serving.account_lock import AccountLockLostError, HeldLock

logger = logging.getLogger(__name__)

CHECK_EVERY_SECONDS = 1.0


class LockWatch:
    """Called after each bar (the worker's ``on_bar``): asks ``lock.held`` when a second has
    passed on ``monotonic`` since the last ask, retakes a lost lock, or calls ``stop``.

    ``lost`` holds the `AccountLockLostError` once the lock is gone for good.
    """

    def __init__(
        self,
        lock: HeldLock,
        stop: Callable[[], None],
        *,
        every_seconds: float = CHECK_EVERY_SECONDS,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.lock, self._stop = lock, stop
        self.every_seconds, self._monotonic = every_seconds, monotonic
        self._due: float | None = None  # the first bar asks
        self.lost: AccountLockLostError | None = None

    def __call__(self) -> None:
        now = self._monotonic()
        if self.lost is not None or (self._due is not None and now < self._due):
            return
        self._due = now + self.every_seconds
        if self.lock.held:
            return
        try:
            self.lock.retake()
        except AccountLockLostError as error:
            self.lost = error
            logger.error("%s", error)
            self._stop()
            return
        logger.warning(
            "account %s: the worker lost its lock while running and took it back (it was free)",
            self.lock.account,
        )
