"""Task time limits where Celery does not enforce them.

Celery enforces `soft_time_limit` and `time_limit` only in the prefork pool,
and not even there for a celery-batches task, whose batch it hands to the pool
without them. The GPU worker runs the solo pool and indexing is a batch task,
so the worker arms the limits itself around each task (clipsite.celery's
prerun and postrun signals), the way prefork does: the soft limit raises
`SoftTimeLimitExceeded` in the task from a signal handler; the hard limit kills
the process. A killed worker's messages stay unacknowledged (acks_late) and are
delivered again; its container restarts it.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from types import FrameType
from typing import Any

from celery.exceptions import SoftTimeLimitExceeded

logger = logging.getLogger(__name__)

_hard_timer: threading.Timer | None = None


def limits_for(task: Any) -> tuple[float, float] | None:
    """(soft, hard) seconds for `task`: its own, else the app's defaults; None if it has none."""
    conf = task.app.conf
    soft = task.soft_time_limit or conf.task_soft_time_limit
    hard = task.time_limit or conf.task_time_limit
    if not soft or not hard:
        return None
    return float(soft), float(hard)


def can_arm() -> bool:
    """Signals reach only the main thread; a worker run in a thread (tests) cannot be armed."""
    return threading.current_thread() is threading.main_thread()


def arm(*, soft: float, hard: float, name: str = "task") -> None:
    """Raise `SoftTimeLimitExceeded` in this (main) thread after `soft` s; kill the process
    after `hard` s. Replaces limits armed before; `disarm` ends them."""
    global _hard_timer
    disarm()

    def soft_expired(signum: int, frame: FrameType | None) -> None:
        raise SoftTimeLimitExceeded(f"{name} ran past its soft time limit ({soft:g} s)")

    def hard_expired() -> None:
        logger.critical("%s ran past its hard time limit (%g s): killing the worker", name, hard)
        os.kill(os.getpid(), signal.SIGKILL)

    signal.signal(signal.SIGALRM, soft_expired)
    signal.setitimer(signal.ITIMER_REAL, soft)
    # A thread, not a signal: a task stuck inside C code never returns to the
    # interpreter, so a Python signal handler would never run.
    _hard_timer = threading.Timer(hard, hard_expired)
    _hard_timer.daemon = True
    _hard_timer.start()


def disarm() -> None:
    """Cancel the limits `arm` set, if any."""
    global _hard_timer
    if can_arm():
        signal.setitimer(signal.ITIMER_REAL, 0)
    if _hard_timer is not None:
        _hard_timer.cancel()
        _hard_timer = None
