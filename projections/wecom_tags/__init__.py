"""The ``wecom_corp_tag`` read model and the ``wecom_tag_map`` view over it: the corp's WeCom
tags as last listed and each platform tag's WeCom tag id (:mod:`.view`, :mod:`.queries`)."""

from projections.wecom_tags.view import WeComTagView, apply, schema_sql

__all__ = ["WeComTagView", "apply", "schema_sql"]
