"""A real ``lantern demo`` process for the journey tests, and signing in to it in Chromium."""

from __future__ import annotations

import asyncio
import re
import signal
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.support_servers import free_port

ACCOUNT_LINE = re.compile(r"^\s+(?P<name>[\w.]+)\s+(?P<password>demo-[0-9a-f]+)\s+(?P<role>\w+)\s+(?P<team>\S+)\s+"
                          r"(?P<display>\S+)\s*$")
READY = "Ctrl-C"  # the demo's last line of its announcement


@dataclass
class Demo:
    url: str
    accounts: dict[str, dict[str, str]]  # login name -> password, role, team, display name
    output: list[str] = field(default_factory=list)

    def password(self, name: str) -> str:
        return self.accounts[name]["password"]


async def run_demo(tmp_path: Path, *extra: str) -> AsyncIterator[Demo]:
    """``lantern demo`` on a free port until its announcement is printed; stopped with SIGINT afterwards."""
    port = free_port()
    log = (tmp_path / "demo-stderr.log").open("wb")
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "web", "demo", "--port", str(port), *extra,
        stdout=asyncio.subprocess.PIPE, stderr=log)
    assert proc.stdout is not None
    demo = Demo(url=f"http://127.0.0.1:{port}", accounts={})
    drain: asyncio.Task[None] | None = None
    try:
        async with asyncio.timeout(120):
            while True:
                raw = await proc.stdout.readline()
                if not raw:
                    raise AssertionError("lantern demo exited:\n" + "\n".join(demo.output) +
                                         (tmp_path / "demo-stderr.log").read_text(errors="replace")[-3000:])
                line = raw.decode("utf-8", errors="replace").rstrip("\n")
                demo.output.append(line)
                match = ACCOUNT_LINE.match(line)
                if match:
                    demo.accounts[match["name"]] = match.groupdict()
                if READY in line:
                    break
        drain = asyncio.create_task(_drain(proc.stdout, demo.output))
        yield demo
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGINT)
            try:
                await asyncio.wait_for(proc.wait(), 30)
            except TimeoutError:
                proc.kill()
                await proc.wait()
        log.close()
        if drain is not None:
            drain.cancel()


async def _drain(stream: asyncio.StreamReader, into: list[str]) -> None:
    while raw := await stream.readline():
        into.append(raw.decode("utf-8", errors="replace").rstrip("\n"))


async def sign_in(browser: Any, demo: Demo, name: str, *, lang: str = "") -> Any:
    """A new browser context signed in as ``name`` (the login page's own form and redirect)."""
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    page = await context.new_page()
    page.errors = []
    page.on("pageerror", lambda e: page.errors.append(str(e)))
    await page.goto(f"{demo.url}/login" + (f"?lang={lang}" if lang else ""))
    await page.fill("input[name=name]", name)
    await page.fill("input[name=password]", demo.password(name))
    await page.click("button[type=submit]")
    await page.wait_for_load_state("networkidle")
    return page


async def api_get(page: Any, path: str) -> Any:
    """GET an API path with the page's session (what the console itself does)."""
    return await page.evaluate("p => fetch(p, {headers: {Accept: 'application/json'}}).then(r => r.json())", path)


# Run in an agent's ticker page with [script id, text]: window.__seen becomes the time (ms) the exact text is on
# screen. Critical scripts pin in place beside the crawling track, so the item is looked for anywhere in the ticker.
WATCH = """([sid, text]) => {
  window.__seen = null;
  const check = () => {
    if (window.__seen !== null) return;
    for (const body of document.querySelectorAll(`.lt-item[data-id="${sid}"] .lt-body`)) {
      if (body.textContent === text) { window.__seen = Date.now(); return; }
    }
  };
  new MutationObserver(check).observe(document.body, { subtree: true, childList: true, characterData: true });
  check();
}"""
