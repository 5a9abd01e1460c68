"""Functions the parse-worker tests run in the worker process (a module that imports nothing heavy)."""

from __future__ import annotations

import os
import time


def sleep_then_pid(seconds: float) -> int:
    time.sleep(seconds)
    return os.getpid()
