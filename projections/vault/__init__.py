"""Reads of the personal-data vault (``siyu_vault_key``, ``siyu_vault_value``: written by the
recorder, see :mod:`siyu.vault`): sealed values, opened by the caller with the vault's key."""
