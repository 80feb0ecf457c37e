"""Which Prefect API a command talks to, decided without importing Prefect.

Prefect 3 has no server-less mode: a flow or task called without an API starts a temporary
server (7-30 s per command on a busy two-core machine). So a command uses an API only when one
answers: the user's `PREFECT_API_URL`, else the server `tate up` runs for this home. Without
one, flows are called as plain functions (`flows.plain_runs`). Commands that only read the
registry or the journal never reach this module's callers, so they never import Prefect.
"""

from __future__ import annotations

import os
import urllib.error
import urllib.request

from flows.settings import TateSettings

ANSWER_WITHIN_S = 1.5  # a local server answers /health in milliseconds; a dead one never does


def api_answers(url: str | None, timeout_s: float = ANSWER_WITHIN_S) -> bool:
    """True when `url`'s `/health` answers 200 within `timeout_s` seconds."""
    if not url:
        return False
    try:
        with urllib.request.urlopen(f"{url.rstrip('/')}/health", timeout=timeout_s) as answer:
            return bool(answer.status == 200)
    except (urllib.error.URLError, OSError, ValueError):
        return False


def adopt_stack_api(settings: TateSettings) -> str | None:
    """Point `PREFECT_API_URL` at `tate up`'s server when the user set none and it runs.

    Called before Prefect is imported (it reads its settings then). Returns the URL adopted.
    """
    from flows.stack import prefect_api_url, running_pid

    if os.environ.get("PREFECT_API_URL") or running_pid(settings, "prefect") is None:
        return None
    url = prefect_api_url(settings)
    if not api_answers(url):
        return None
    os.environ["PREFECT_API_URL"] = url
    return url
