"""Typed parsers for settings from the environment: every boolean, number, choice and rate.

Each takes the environment as a mapping (so it is tested without Django), the
variable's name and its default, and either returns a value of its type or
raises `ConfigError` naming the variable and the value it got. A blank value
counts as unset, so `X=` in a compose file or `.env` means the default; only
lists tell "empty" from "unset".
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence

from django.core.exceptions import ImproperlyConfigured

TRUE_VALUES = frozenset({"1", "true", "yes", "on"})
FALSE_VALUES = frozenset({"0", "false", "no", "off"})
# What DRF's throttles parse: a count, "/", and a period whose first letter
# is s, m, h or d ("300/min", "10/second", "1000/day").
_RATE = re.compile(r"(\d+)/([smhd][a-z]*)")


class ConfigError(ImproperlyConfigured, ValueError):
    """A setting in the environment has a value that cannot work.

    An `ImproperlyConfigured`, so it reads as Django's own settings failures
    do (and `manage.py` reports it in one line), and a `ValueError`, for
    callers outside Django.
    """


def _raw(env: Mapping[str, str], name: str) -> str | None:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return None
    return raw.strip()


def env_bool(env: Mapping[str, str], name: str, default: bool = False) -> bool:
    """1/0, true/false, yes/no, on/off in any case; anything else is an error, not "off"."""
    raw = _raw(env, name)
    if raw is None:
        return default
    value = raw.lower()
    if value in TRUE_VALUES:
        return True
    if value in FALSE_VALUES:
        return False
    raise ConfigError(f"{name} must be a boolean (1/0, true/false, yes/no, on/off), got {raw!r}")


def env_int(
    env: Mapping[str, str],
    name: str,
    default: int,
    *,
    minimum: int = 0,
    maximum: int | None = None,
) -> int:
    raw = _raw(env, name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from None
    _check_range(name, raw, value, minimum, maximum)
    return value


def env_float(
    env: Mapping[str, str],
    name: str,
    default: float,
    *,
    minimum: float = 0.0,
    maximum: float | None = None,
) -> float:
    raw = _raw(env, name)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number, got {raw!r}") from None
    # float() accepts "nan" and "inf", and NaN passes every range comparison.
    if not math.isfinite(value):
        raise ConfigError(f"{name} must be a finite number, got {raw!r}")
    _check_range(name, raw, value, minimum, maximum)
    return value


def _check_range(name: str, raw: str, value: float, minimum: float, maximum: float | None) -> None:
    if maximum is None:
        if value < minimum:
            raise ConfigError(f"{name} must be at least {minimum}, got {raw!r}")
    elif not minimum <= value <= maximum:
        raise ConfigError(f"{name} must be between {minimum} and {maximum}, got {raw!r}")


def env_list(env: Mapping[str, str], name: str, default: list[str]) -> list[str]:
    """Comma-separated items. Set but blank is the empty list (e.g. no allowed IPs)."""
    raw = env.get(name)
    if raw is None:
        return list(default)
    return [item.strip() for item in raw.split(",") if item.strip()]


def env_choice(env: Mapping[str, str], name: str, default: str, choices: Sequence[str]) -> str:
    """One of `choices`, matched without regard to case and returned as spelled there."""
    raw = _raw(env, name)
    if raw is None:
        return default
    for choice in choices:
        if raw.lower() == choice.lower():
            return choice
    raise ConfigError(f"{name} must be one of {', '.join(choices)}; got {raw!r}")


def env_rate(env: Mapping[str, str], name: str, default: str) -> str:
    """A throttle rate, "<count>/<period>" with a period of s, m, h or d ("300/min")."""
    raw = _raw(env, name)
    if raw is None:
        return default
    compact = raw.replace(" ", "").lower()
    if not _RATE.fullmatch(compact):
        raise ConfigError(
            f"{name} must be a rate such as 300/min (a count per s, m, h or d), got {raw!r}"
        )
    return compact
