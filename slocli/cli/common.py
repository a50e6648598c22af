"""Glue between parsed options and a Runtime."""

from __future__ import annotations

from typing import Any

import typer

from slocli.runtime import CommonOptions, Runtime, build_runtime


def command_line(ctx: typer.Context) -> list[str]:
    """The command as run, rebuilt from parsed options, for evidence bundles."""
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
