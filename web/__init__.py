"""The aiohttp application, CLI and settings: the composition root of Lantern."""
