"""What ``monitor`` needs from the database; ``web`` injects the implementation."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, TypeVar

import sqlite_utils

T = TypeVar("T")


class Store(Protocol):
    async def read(self, fn: Callable[[sqlite_utils.Database], T]) -> T: ...

    async def write(self, fn: Callable[[sqlite_utils.Database], T]) -> T: ...
