"""Multi-term matching in one pass over a message: a compact Aho-Corasick automaton.

A lexicon has hundreds to a few thousand terms and a chat message a few hundred
characters; testing each term with ``in`` costs terms times length per message. The
automaton is built once per lexicon version (a trie of the terms with failure
links, each node's outputs merged from its failure chain) and reads each
character of a message once: O(length + hits).

Text and terms are folded the same way before matching (:func:`fold`): NFKC
(full-width letters and digits become ASCII), case-folded, and without white
space or the separators people insert to dodge a filter ("私 单", "飞-单").
"""

from __future__ import annotations

import unicodedata
from collections import deque
from collections.abc import Iterable

#: Characters dropped before matching (besides white space).
SEPARATORS = frozenset("-_.*~|/\\,'\"`\u00b7\u2022\uff0c\u3002\u3001")


#: ``str.translate`` table deleting separators and every white-space character (one C pass
#: instead of a Python test per character: folding is on the ingestion path of every message).
_DROP = dict.fromkeys([*map(ord, SEPARATORS),
                       *(i for i in range(0x3001) if chr(i).isspace())])


def fold(text: str) -> str:
    return unicodedata.normalize("NFKC", text).casefold().translate(_DROP)


class Matcher:
    """Finds which of ``terms`` (key → term) occur in a text; keys in first-seen order."""

    def __init__(self, terms: Iterable[tuple[str, str]]) -> None:
        self._goto: list[dict[str, int]] = [{}]
        self._out: list[list[str]] = [[]]
        for key, term in terms:
            folded = fold(term)
            if not folded:
                continue
            node = 0
            for char in folded:
                nxt = self._goto[node].get(char)
                if nxt is None:
                    nxt = len(self._goto)
                    self._goto[node][char] = nxt
                    self._goto.append({})
                    self._out.append([])
                node = nxt
            self._out[node].append(key)
        self._fail = [0] * len(self._goto)
        queue = deque(self._goto[0].values())
        while queue:
            node = queue.popleft()
            for char, child in self._goto[node].items():
                queue.append(child)
                fallback = self._fail[node]
                while fallback and char not in self._goto[fallback]:
                    fallback = self._fail[fallback]
                target = self._goto[fallback].get(char, 0)
                self._fail[child] = target if target != child else 0
                self._out[child] = self._out[child] + self._out[self._fail[child]]

    def __len__(self) -> int:
        return len(self._goto) - 1

    def find(self, text: str) -> list[str]:
        """The keys of the terms found in ``text``, each once, in order of first match end."""
        found: dict[str, None] = {}
        node = 0
        goto, fail, out = self._goto, self._fail, self._out
        for char in fold(text):
            while node and char not in goto[node]:
                node = fail[node]
            node = goto[node].get(char, 0)
            for key in out[node]:
                found.setdefault(key)
        return list(found)
