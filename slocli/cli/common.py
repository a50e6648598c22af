"""Glue between parsed options and a Runtime."""

from __future__ import annotations

from typing import Any

import typer

from slocli.errors import UsageError
from slocli.runtime import CommonOptions, Runtime, build_runtime


def command_line(ctx: typer.Context) -> list[str]:
    """Rebuild the command as run from its parsed options, for evidence bundles."""
    words = ["slo", *ctx.command_path.split()[1:]]
    positional = {
        param.name
        for param in ctx.command.params
        if param.param_type_name == "argument"
    }
    for name in sorted(positional):
        value = ctx.params.get(name)
        if value is not None:
            words.append(str(value))
    for name, value in sorted(ctx.params.items()):
        if (
            value is None
            or value is False
            or name in positional
            or name in ("record", "replay", "debug")
        ):
            continue
        option = next(p for p in ctx.command.params if p.name == name)
        flag = max(option.opts, key=len) if option.opts else "--" + name

        if value is True:
            words.append(flag)
        else:
            words.extend([flag, str(getattr(value, "value", value))])
    return words


def open_runtime(
    ctx: typer.Context, options: CommonOptions, meta: dict[str, Any] | None = None
) -> Runtime:
    return build_runtime(options, argv=command_line(ctx), meta=meta)


# Longer keys make request URLs that servers and proxies reject (Loki's and
# Tempo's Go servers allow 1 MiB of headers, many proxies 8 KiB).
MAX_TEXT_ARGUMENT = 4096


def check_text_argument(value: str, name: str) -> str:
    """Reject text no backend can match: invalid UTF-8 from the shell, or huge values."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise UsageError(
            f"invalid {name}, it is not valid UTF-8 text; check the terminal's "
            "encoding, or copy the value from JSON output"
        ) from None
    if len(value) > MAX_TEXT_ARGUMENT:
        raise UsageError(
            f"invalid {name}, it is {len(value)} characters long; values longer "
            f"than {MAX_TEXT_ARGUMENT} cannot be sent in a query URL"
        )
    return value
