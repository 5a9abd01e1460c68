"""Sub-commands of ``lantern``; one module each (see :mod:`web.cli.main`)."""
