"""Wiring and infrastructure: settings, storage, the vault, the embedded server, the CLI."""
