"""Wiring: settings, the CLI, the processes and their clients, the demo, the mall importer."""
