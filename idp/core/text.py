"""Sentences for people, without a language: use cases say what to show, the surface translates it.

A use case returns ``Text("Use at least %(num)d characters.", num=8)``; a page shows it through the
request's gettext (``idp.http.i18n.translate``), the CLI in English (``str``). The first argument is
the catalogue's msgid: Babel extracts it (``Text`` is one of the keywords in ``idp.http.i18n``).
"""

from __future__ import annotations

from collections.abc import Callable


class Text:
    __slots__ = ("msgid", "params")

    def __init__(self, msgid: str, **params: object) -> None:
        self.msgid, self.params = msgid, params

    def translate(self, gettext: Callable[[str], str]) -> str:
        """This sentence in the language ``gettext`` speaks."""
        translated = gettext(self.msgid)
        return translated % self.params if self.params else translated

    def __str__(self) -> str:
        return self.translate(lambda msgid: msgid)

    def __repr__(self) -> str:
        return f"Text({self.msgid!r}, **{self.params!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Text) and (self.msgid, self.params) == (other.msgid, other.params)

    def __hash__(self) -> int:
        return hash((self.msgid, tuple(sorted(self.params.items()))))
