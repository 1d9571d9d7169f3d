"""Campaign texts and their variables: what a customer reads, filled from their profile.

A text may use only the safe variables of :data:`VARIABLES` (never personal data). Each
variant may set a **fallback** per variable; a customer without a value for a variable
the variant uses gets the fallback, and without a fallback is not sent that variant at all
(``MISSING_VALUE``, in the plan): :func:`fill` never leaves a placeholder blank.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from domain.errors import InvalidInput

MAX_TEXT = 2000
#: Placeholders a text may use, filled from the recipient's profile (never personal data).
VARIABLES = frozenset({"member_level", "points_balance", "favourite_category", "lifecycle"})
_PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")


class InvalidTemplate(InvalidInput):
    code = "INVALID_TEMPLATE"


class UnknownVariable(InvalidTemplate):
    """A text or a fallback names a variable that does not exist."""

    code = "UNKNOWN_TEMPLATE_VARIABLE"


#: The longest fallback text of a variable.
MAX_FALLBACK = 64


def check_text(text: str, field: str) -> str:
    cleaned = text.strip()
    if not 1 <= len(cleaned) <= MAX_TEXT:
        raise InvalidTemplate(f"{field} must be 1-{MAX_TEXT} characters", field=field)
    unknown = sorted(set(_PLACEHOLDER.findall(cleaned)) - VARIABLES)
    if unknown:
        raise UnknownVariable(f"{field} uses unknown variables {unknown}; allowed: "
                              f"{sorted(VARIABLES)}", field=field)
    if "{" in _PLACEHOLDER.sub("", cleaned) or "}" in _PLACEHOLDER.sub("", cleaned):
        raise InvalidTemplate(f"{field} has an unmatched brace", field=field)
    return cleaned


def variables_in(text: str) -> frozenset[str]:
    """The variables a text uses."""
    return frozenset(_PLACEHOLDER.findall(text))


def has_value(value: Any) -> bool:
    """Whether a variable's value can fill a placeholder (0 can; None and "" cannot)."""
    return value is not None and str(value).strip() != ""


def render(text: str, values: Mapping[str, Any]) -> str:
    """Fill the safe variables (a missing value becomes empty: use :func:`fill` for what
    reaches a customer)."""
    return _PLACEHOLDER.sub(
        lambda m: str(values[m.group(1)]) if has_value(values.get(m.group(1))) else "", text)


def needs(variant: Mapping[str, Any]) -> frozenset[str]:
    """The variables of a variant's text that have no fallback: a customer without a value
    for one of them cannot be sent the variant."""
    return variables_in(str(variant.get("text") or "")) - set(variant.get("fallbacks") or {})


def fill(variant: Mapping[str, Any], values: Mapping[str, Any]) -> str | None:
    """The exact text a customer gets: each variable with the customer's value, else the
    variant's fallback; None when a value is missing and has no fallback."""
    fallbacks: Mapping[str, str] = variant.get("fallbacks") or {}
    text = str(variant.get("text") or "")
    filled = {}
    for name in variables_in(text):
        value = values.get(name)
        if has_value(value):
            filled[name] = str(value)
        elif name in fallbacks:
            filled[name] = fallbacks[name]
        else:
            return None
    return _PLACEHOLDER.sub(lambda m: filled[m.group(1)], text)


def check_fallbacks(fallbacks: Any, where: str) -> dict[str, str]:
    """``{variable: text}``: known variables, plain texts of 1-:data:`MAX_FALLBACK`
    characters (no placeholder, no brace)."""
    if not fallbacks:
        return {}
    if not isinstance(fallbacks, Mapping):
        raise InvalidTemplate(f"{where}.fallbacks must map variables to texts",
                              field=f"{where}.fallbacks")
    out: dict[str, str] = {}
    for name, value in sorted(fallbacks.items()):
        field = f"{where}.fallbacks.{name}"
        if name not in VARIABLES:
            raise UnknownVariable(f"{field}: unknown variable {name!r}; allowed: "
                                  f"{sorted(VARIABLES)}", field=field)
        text = str(value or "").strip()
        if not 1 <= len(text) <= MAX_FALLBACK or "{" in text or "}" in text:
            raise InvalidTemplate(f"{field} must be 1-{MAX_FALLBACK} characters without "
                                  "braces", field=field)
        out[name] = text
    return out
