"""The write side: aggregates, their events and the commands that decide them.

Imports only the standard library and ``eventsourcing``.
"""
