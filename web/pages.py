"""HTML pages: console, login and the agent ticker (placeholder until the web issue lands)."""
