"""Building the system: settings -> services -> every package wired together."""
