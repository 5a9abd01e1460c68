"""Crash points for the real-process crash tests; inert unless the environment names one.

``LANTERN_TEST_CRASH_AT=<point>`` (or ``<point>@<n>``: the n-th time it is reached, default the first) makes a
``lantern serve`` process stop dead at that point: it writes the point's name to the file named by
``LANTERN_TEST_CRASH_FILE`` and then blocks the thread it runs on, so nothing after the point happens, until
the test (``tests/support_crash.py``) kills it with SIGKILL.  Without the variable :func:`reached` returns at
once; production never sets it.

Points, in the order a mention travels::

    poll.fetched        a page is fetched and parsed, nothing of it stored yet          (mid-poll)
    pipeline.stored     mentions stored, not yet classified                            (mid-classify)
    incidents.attached  the incident write committed; listeners (alert state) not told (after the incident write)
    pipeline.announced  listeners told, ``notified_at`` not yet written
    alerts.posted       the robot accepted an alert; the row is still ``sending``      (mid-delivery)
"""

from __future__ import annotations

import os
import threading
import time

POINTS = ("poll.fetched", "pipeline.stored", "incidents.attached", "pipeline.announced", "alerts.posted")
_SPEC = os.environ.get("LANTERN_TEST_CRASH_AT", "")
_POINT, _, _NTH = _SPEC.partition("@")
_lock = threading.Lock()
_hits = 0


def reached(point: str) -> None:
    """Stop here for good if the crash test asked for ``point`` (see the module docstring)."""
    if not _POINT or point != _POINT:
        return
    global _hits
    with _lock:
        _hits += 1
        if _hits != int(_NTH or 1):
            return
    path = os.environ.get("LANTERN_TEST_CRASH_FILE")
    if path:
        with open(path, "w", encoding="utf-8") as out:
            out.write(point)
    while True:  # frozen at the crash point until SIGKILL
        time.sleep(3600)
