"""Trace and span ids in their canonical form: lowercase hex.

The same id reaches slocli in several spellings. Tempo's ``/api/search`` writes
hex with leading zeros stripped, ``/api/traces/<id>`` writes OTLP ``bytes``
fields as base64 because it marshals with gogo jsonpb (``traceId``
``AI7/95gDgQPSabYzgT/HAw==`` is ``008efff798038103d269b633813fc703``), while the
OTLP/JSON specification writes hex. Logs carry whatever the service printed.
"""

from __future__ import annotations

import base64
import binascii
import re

from slocli.core.escape import quote_for_message

__all__ = ["decode_otlp_id", "parse_span_id", "parse_trace_id"]

TRACE_ID_BYTES = 16
SPAN_ID_BYTES = 8

_HEX = re.compile(r"[0-9a-fA-F]+")
# Standard or URL-safe base64 alphabet, with or without padding.
_BASE64 = re.compile(r"[A-Za-z0-9+/\-_]+={0,2}")


def parse_trace_id(text: str) -> str:
    """Parse a trace id from user input or a log field into 32 lowercase hex characters.

    Accepts, after trimming surrounding whitespace:

    - 1 to 32 hex characters in any letter case, with an optional ``0x``
      prefix. Shorter ids are left-padded with zeros, because Tempo's search
      strips leading zeros and 64-bit ids from older tracers are zero-extended.
    - Padded base64 (standard or URL-safe) of exactly 16 bytes, as Tempo's
      trace-by-id JSON writes it. Unpadded base64 is rejected, because a
      22-character unpadded value can also be valid hex.

    Raises ValueError naming the value for anything else, and for the all-zero
    id, which OpenTelemetry defines as invalid.
    """
    return _parse_id(text, size=TRACE_ID_BYTES, kind="trace id")


def parse_span_id(text: str) -> str:
    """Parse a span id into 16 lowercase hex characters.

    Same rules as :func:`parse_trace_id` with 8 bytes: 1 to 16 hex characters,
    or padded base64 of 8 bytes (``fm5NzlE0BTs=`` is ``7e6e4dce5134053b``).
    """
    return _parse_id(text, size=SPAN_ID_BYTES, kind="span id")


def decode_otlp_id(value: str, size: int) -> str:
    """Decode an OTLP id field from a trace JSON body into lowercase hex.

    ``size`` is the id length in bytes: 16 for ``traceId``, 8 for ``spanId``
    and ``parentSpanId``. Accepts base64 as Tempo writes it (standard or
    URL-safe, padded or not), and exactly ``2 * size`` hex characters as the
    OTLP/JSON specification writes it. The two never collide because their
    lengths differ. Returns ``""`` for an empty value, which OTLP uses for a
    root span's parent. The all-zero id is returned as is, so the caller must
    treat both ``""`` and all zeros as "no parent". Raises ValueError for
    anything else.
    """
    if size <= 0:
        raise ValueError(f"invalid id size {size}; pass a positive number of bytes")
    if not value:
        return ""

    if len(value) == 2 * size and _HEX.fullmatch(value):
        return value.lower()
    decoded = _decode_base64(value, size, require_padding=False)
    if decoded is not None:
        return decoded
    raise ValueError(
        f"invalid OTLP id {quote_for_message(value)}, it is neither base64 of "
        f"{size} bytes nor {2 * size} hex characters; check the trace JSON source"
    )


def _parse_id(text: str, *, size: int, kind: str) -> str:
    stripped = text.strip()
    digits = stripped[2:] if stripped[:2] in ("0x", "0X") else stripped

    if 0 < len(digits) <= 2 * size and _HEX.fullmatch(digits):
        result = digits.lower().rjust(2 * size, "0")
    else:
        decoded = _decode_base64(stripped, size, require_padding=True)
        if decoded is None:
            raise ValueError(
                f"invalid {kind} {quote_for_message(text)}; use up to {2 * size} hex "
                f"characters or the padded base64 form of {size} bytes"
            )
        result = decoded

    if result == "0" * (2 * size):
        raise ValueError(
            f"invalid {kind} {quote_for_message(text)}, it is all zeros, which "
            f"OpenTelemetry defines as invalid; use the {kind} of a recorded span"
        )
    return result


def _decode_base64(text: str, size: int, *, require_padding: bool) -> str | None:
    """Return the hex of base64 ``text`` if it decodes to exactly ``size`` bytes."""
    if _BASE64.fullmatch(text) is None:
        return None
    padded_length = 4 * -(-size // 3)
    if require_padding and len(text) != padded_length:
        return None

    standard = text.replace("-", "+").replace("_", "/").rstrip("=")
    standard += "=" * (-len(standard) % 4)
    try:
        raw = base64.b64decode(standard, validate=True)
    except binascii.Error:
        return None
    if len(raw) != size:
        return None
    return raw.hex()
