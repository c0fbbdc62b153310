"""What an identifier may look like before it reaches a query (checklist L6).

PostgreSQL refuses a NUL byte in text and SQLite stores it: the same input must get the same clear
400 on both, decided here before any query runs, not by whichever driver error surfaces.
"""

from __future__ import annotations

import re
import unicodedata

# RFC 6749 Appendix A: client_id = *VSCHAR (%x20-7E). We never issue a space, so refuse it too.
_CLIENT_ID_RE = re.compile(r"[\x21-\x7e]{1,64}")


def has_control_character(text: str) -> bool:
    """True for C0/C1 controls (NUL, CR, LF, ...) and DEL: never part of a valid identifier."""
    return any(unicodedata.category(ch) == "Cc" for ch in text)


def is_encodable(text: str) -> bool:
    """False for text with lone surrogates (possible from JSON escapes): it cannot become UTF-8."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def is_client_id(value: object) -> bool:
    return isinstance(value, str) and _CLIENT_ID_RE.fullmatch(value) is not None


def is_safe_token(value: object, max_length: int = 4096) -> bool:
    """A credential or opaque value we will hash or look up: bounded, encodable, no controls."""
    return (
        isinstance(value, str)
        and 0 < len(value) <= max_length
        and is_encodable(value)
        and not has_control_character(value)
    )
