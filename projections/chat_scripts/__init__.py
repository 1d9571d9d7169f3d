"""The chat-script library read models (``chat_script``, ``chat_script_version``,
``chat_script_usage``): fold and view (:mod:`.view`, ``chat_scripts.sql``) and the queries the
API answers from them (:mod:`.queries`)."""

from projections.chat_scripts.view import ChatScriptView, script_row

__all__ = ["ChatScriptView", "script_row"]
