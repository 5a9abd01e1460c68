// The /ticker page: reads its data block and mounts the shared ticker full-width.
import { Ticker } from "./ticker-core.js";

const page = JSON.parse(document.getElementById("lantern-page").textContent);
const scheme = location.protocol === "https:" ? "wss:" : "ws:";
const params = new URLSearchParams(location.search);
const motion = params.get("motion"); // ?motion=reduced forces the static flip (for screens and tests)
window.lanternTicker = new Ticker({
  root: document.getElementById("lantern-ticker"),
  wsUrl: `${scheme}//${location.host}${page.ws_path}`,
  strings: page.strings,
  reducedMotion: motion === "reduced" ? true : undefined,
});
