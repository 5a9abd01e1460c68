"""Headless Chromium for the browser tests: the ``browser`` fixture, their marks, and screenshots.

Importing this module skips the importing test module when Playwright is not installed; ``BROWSER_MARKS``
skips its tests when there is no /usr/bin/chromium.  Screenshots go to ``test-artifacts/`` at the
repository root.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run"]
BROWSER_MARKS = [pytest.mark.browser, pytest.mark.skipif(not CHROMIUM.exists(), reason="needs /usr/bin/chromium")]

playwright_api = pytest.importorskip("playwright.async_api")


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    async with playwright_api.async_playwright() as p:
        chromium = await p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            yield chromium
        finally:
            await chromium.close()


async def shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


async def toast(page: Any) -> str:
    """The text of the toast the last action showed (read once: it is removed, so the next call waits anew)."""
    note = page.locator("#flash .flash").last
    await note.wait_for()
    text = str(await note.text_content())
    await page.evaluate("document.getElementById('flash').replaceChildren()")
    return text
