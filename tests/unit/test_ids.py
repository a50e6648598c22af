"""Tests for slocli.core.ids."""

from __future__ import annotations

import pytest

from slocli.core.ids import decode_otlp_id, parse_span_id, parse_trace_id


def test_trace_id_base64_from_tempo() -> None:
    assert parse_trace_id("AI7/95gDgQPSabYzgT/HAw==") == (
        "008efff798038103d269b633813fc703"
    )


def test_span_id_base64_from_tempo() -> None:
    assert parse_span_id("fm5NzlE0BTs=") == "7e6e4dce5134053b"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("008efff798038103d269b633813fc703", "008efff798038103d269b633813fc703"),
        # Tempo's search strips leading zeros.
        ("8efff798038103d269b633813fc703", "008efff798038103d269b633813fc703"),
        ("4BF92F3577B34DA6A3CE929D0E0E4736", "4bf92f3577b34da6a3ce929d0e0e4736"),
        ("0x4bf92f3577b34da6a3ce929d0e0e4736", "4bf92f3577b34da6a3ce929d0e0e4736"),
        ("0XABC", "00000000000000000000000000000abc"),
        ("a3ce929d0e0e4736", "0000000000000000a3ce929d0e0e4736"),
        ("  4bf92f3577b34da6a3ce929d0e0e4736\n", "4bf92f3577b34da6a3ce929d0e0e4736"),
        ("W47/95gDgQPSabYzgT/HAA==", "5b8efff798038103d269b633813fc700"),
        ("W47_95gDgQPSabYzgT_HAA==", "5b8efff798038103d269b633813fc700"),
    ],
)
def test_parse_trace_id_valid(text: str, expected: str) -> None:
    assert parse_trace_id(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "xyz",
        "0x",
        "4bf92f3577b34da6a3ce929d0e0e47361",  # 33 hex characters
        "AI7/95gDgQPSabYzgT/HAw",  # base64 without padding
        "fm5NzlE0BTs=",  # base64 of 8 bytes, a span id
        "4bf92f35-77b3-4da6-a3ce-929d0e0e4736",
    ],
)
def test_parse_trace_id_invalid(text: str) -> None:
    with pytest.raises(ValueError, match="invalid trace id"):
        parse_trace_id(text)


@pytest.mark.parametrize(
    "text", ["00000000000000000000000000000000", "0", "0x0", "AAAAAAAAAAAAAAAAAAAAAA=="]
)
def test_parse_trace_id_all_zero(text: str) -> None:
    with pytest.raises(ValueError, match="all zeros"):
        parse_trace_id(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("7e6e4dce5134053b", "7e6e4dce5134053b"),
        ("7E6E4DCE5134053B", "7e6e4dce5134053b"),
        ("e6e4dce5134053b", "0e6e4dce5134053b"),
        ("7uGbfsPBsQA=", "eee19b7ec3c1b100"),
    ],
)
def test_parse_span_id_valid(text: str, expected: str) -> None:
    assert parse_span_id(text) == expected


@pytest.mark.parametrize(
    "text", ["7e6e4dce5134053b0", "AI7/95gDgQPSabYzgT/HAw==", "fm5NzlE0BTs", "zz"]
)
def test_parse_span_id_invalid(text: str) -> None:
    with pytest.raises(ValueError, match="invalid span id"):
        parse_span_id(text)


def test_parse_span_id_all_zero() -> None:
    with pytest.raises(ValueError, match="all zeros"):
        parse_span_id("AAAAAAAAAAA=")


@pytest.mark.parametrize(
    ("value", "size", "expected"),
    [
        ("AI7/95gDgQPSabYzgT/HAw==", 16, "008efff798038103d269b633813fc703"),
        ("AI7/95gDgQPSabYzgT/HAw", 16, "008efff798038103d269b633813fc703"),
        ("fm5NzlE0BTs=", 8, "7e6e4dce5134053b"),
        ("7uGbfsPBsQA=", 8, "eee19b7ec3c1b100"),
        ("008EFFF798038103D269B633813FC703", 16, "008efff798038103d269b633813fc703"),
        ("7e6e4dce5134053b", 8, "7e6e4dce5134053b"),
        ("AAAAAAAAAAA=", 8, "0000000000000000"),
        ("", 8, ""),
    ],
)
def test_decode_otlp_id(value: str, size: int, expected: str) -> None:
    assert decode_otlp_id(value, size) == expected


@pytest.mark.parametrize(
    ("value", "size"),
    [
        ("fm5NzlE0BTs=", 16),
        ("8efff798038103d269b633813fc703", 16),  # hex must have full length
        ("not an id!", 8),
        ("7e6e4dce5134053b", 16),
    ],
)
def test_decode_otlp_id_invalid(value: str, size: int) -> None:
    with pytest.raises(ValueError, match="invalid OTLP id"):
        decode_otlp_id(value, size)


def test_decode_otlp_id_bad_size() -> None:
    with pytest.raises(ValueError, match="invalid id size 0"):
        decode_otlp_id("AA==", 0)
