"""Moment tasks (企业朋友圈): the ``moment_task`` read model and its queries."""
