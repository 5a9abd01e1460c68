"""What every part of the web layer stands on: storage, settings, logging, metrics, i18n, Redis, rate limits."""
