"""Settings read from the environment. Every AUDITLENS_* variable is documented in README.md."""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from sql.errors import ConfigurationError

DATABASE_URL_ENV = "AUDITLENS_DATABASE_URL"
READ_DATABASE_URL_ENV = "AUDITLENS_READ_DATABASE_URL"
DATA_DIR_ENV = "AUDITLENS_DATA_DIR"
STATEMENT_TIMEOUT_ENV = "AUDITLENS_STATEMENT_TIMEOUT_MS"
MAX_ROWS_ENV = "AUDITLENS_MAX_ROWS"

_N = TypeVar("_N", int, float)


def positive_int_env(name: str, default: int) -> int:
    """The whole number > 0 in environment variable `name`, or `default` when unset or blank."""
    return _positive_env(name, default, int, "a whole number")


def positive_float_env(name: str, default: float) -> float:
    """The number > 0 in environment variable `name`, or `default` when unset or blank."""
    return _positive_env(name, default, float, "a number")


def _positive_env(name: str, default: _N, parse: Callable[[str], _N], kind: str) -> _N:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = parse(raw)
    except ValueError:
        raise ConfigurationError(f"{name} must be {kind}, got: {raw!r}") from None
    # float() takes 'nan' and 'inf', which no interval or limit can mean.
    if not (math.isfinite(value) and value > 0):
        raise ConfigurationError(f"{name} must be {kind} greater than 0, got: {raw.strip()}")
    return value


@dataclass(frozen=True)
class Settings:
    """What the storage layer needs to know; built from the environment by `from_env`."""

    database_url: str | None
    data_dir: Path
    statement_timeout_ms: int = 15_000
    max_rows: int = 10_000
    # A hot standby of `database_url` for reads that may lag (`Database.org_session`).
    read_database_url: str | None = None

    @classmethod
    def from_env(cls) -> Settings:
        url = os.environ.get(DATABASE_URL_ENV) or None
        read_url = (os.environ.get(READ_DATABASE_URL_ENV) or "").strip() or None
        return cls(
            database_url=url.strip() if url else None,
            data_dir=Path(os.environ.get(DATA_DIR_ENV) or ".auditlens").resolve(),
            statement_timeout_ms=positive_int_env(STATEMENT_TIMEOUT_ENV, 15_000),
            max_rows=positive_int_env(MAX_ROWS_ENV, 10_000),
            read_database_url=read_url,
        )
