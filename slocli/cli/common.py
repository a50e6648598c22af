"""Glue between parsed options and a Runtime."""

from __future__ import annotations

from typing import Any

import typer

from slocli.runtime import CommonOptions, Runtime, build_runtime


def command_line(ctx: typer.Context) -> list[str]:
    """The command as run, rebuilt from parsed options, for evidence bundles."""
    words = ctx.command_path.split()[1:]
    for name, value in sorted(ctx.params.items()):
        if value is None or value is False or name in ("record", "replay", "debug"):
            continue
        flag = "--" + name.replace("_", "-")
        if value is True:
            words.append(flag)
        else:
            words.extend([flag, str(getattr(value, "value", value))])
    return words


def open_runtime(
    ctx: typer.Context, options: CommonOptions, meta: dict[str, Any] | None = None
) -> Runtime:
    return build_runtime(options, argv=command_line(ctx), meta=meta)
