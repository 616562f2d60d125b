"""Text that comes from input files (node names, folder names, JSON strings) made safe.

Names in datasets are not always valid text: a JSON file may hold a lone surrogate
(``"\\udc80"``), a file name may not be UTF-8 (Python hands it over with surrogate
escapes). Such text cannot be written to Parquet or JSON. ``escape_invalid_text`` keeps
every valid character and spells the invalid ones as backslash escapes, so the name stays
readable, stays distinct, and the escaping can be reported.
"""

from __future__ import annotations


def escape_invalid_text(text: str) -> str:
    """``text`` with every code point UTF-8 cannot encode (lone surrogates) written as
    ``\\udcXX``-style backslash escapes; valid text comes back unchanged."""
    return text.encode("utf-8", errors="backslashreplace").decode("utf-8")


def is_valid_text(text: str) -> bool:
    """Whether ``text`` encodes to UTF-8 as it is (no lone surrogates)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
