"""``SIYU_FUNNEL_KEPT_CUSTOMERS``: how many customers' merge trees the funnel keeps between
pages, from the environment to the view (docs/operations.md, *The funnel's kept trees*)."""

from __future__ import annotations

import pickle
from functools import partial
from pathlib import Path

import pytest

from projections.funnels import FunnelView
from projections.funnels.kept import LIMIT
from siyu.processes import read_model_views, views_of
from siyu.settings import SettingsError, from_env


def env(tmp_path: Path, **values: str) -> dict[str, str]:
    return {"SIYU_DATA_DIR": str(tmp_path), "SIYU_SECRET": "s" * 32, **values}


def funnel_limit(views: list[object]) -> int:
    funnel = next(v for v in views if isinstance(v, FunnelView))
    return funnel.kept.memory.limit


def test_the_default_is_the_funnel_views_own(tmp_path: Path) -> None:
    # Given no setting, Then the settings and a view built without one keep as many trees
    assert from_env(env(tmp_path)).funnel_kept_customers == LIMIT
    assert funnel_limit(list(read_model_views())) == LIMIT


def test_a_set_number_reaches_the_funnel_of_every_list_of_views(tmp_path: Path) -> None:
    # Given the setting at 200,000
    kept = from_env(env(tmp_path, SIYU_FUNNEL_KEPT_CUSTOMERS="200000")).funnel_kept_customers
    # Then every list of views built with it holds a funnel keeping that many
    assert kept == 200_000
    assert funnel_limit(list(read_model_views(kept))) == 200_000
    assert funnel_limit(list(views_of(["analytics"], kept))) == 200_000
    # And the rebuild's list of views, sent by name to its processes, carries it too
    everything_of = pickle.loads(pickle.dumps(partial(read_model_views, kept)))
    assert funnel_limit(list(everything_of())) == 200_000


def test_zero_keeps_no_tree_and_a_malformed_value_is_refused(tmp_path: Path) -> None:
    assert from_env(env(tmp_path, SIYU_FUNNEL_KEPT_CUSTOMERS="0")).funnel_kept_customers == 0
    for value in ("-1", "lots", "1e6"):
        with pytest.raises(SettingsError, match="SIYU_FUNNEL_KEPT_CUSTOMERS"):
            from_env(env(tmp_path, SIYU_FUNNEL_KEPT_CUSTOMERS=value))
