"""A stream for `call_command(stdout=..., stderr=...)` that keeps what was written."""

from __future__ import annotations


class Capture:
    def __init__(self) -> None:
        self.text = ""

    def write(self, value: str) -> None:
        self.text += value

    def flush(self) -> None:
        pass
