"""Following work done elsewhere (the workers) from a management command, by what is left."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from django.core.management.base import CommandError
from tqdm import tqdm


def follow_progress(
    left: Callable[[], int],
    *,
    total: int,
    stall_seconds: float,
    desc: str,
    rerun: str,
    file: Any,  # a stream tqdm writes to (a command's stderr)
) -> None:
    """Show a progress bar of `total - left()` until nothing is left.

    Raises `CommandError` after `stall_seconds` without progress, saying to
    run `rerun` again (every command that follows workers resumes).
    """
    waiting = left()
    last_change = time.monotonic()
    with tqdm(total=total, unit="img", desc=desc, file=file) as bar:
        while waiting:
            bar.n = total - waiting
            bar.refresh()
            time.sleep(1)
            now = left()
            if now != waiting:
                waiting, last_change = now, time.monotonic()
            elif time.monotonic() - last_change > stall_seconds:
                raise CommandError(
                    f"No progress for {stall_seconds / 60:.0f} minutes with {waiting} images "
                    f"left: are the workers running? Run {rerun} again to resume."
                )
        bar.n = total
        bar.refresh()
