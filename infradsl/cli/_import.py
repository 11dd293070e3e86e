"""``infradsl import``: write hand-made resources as a Python module and adopt them."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import click

__all__ = ["import_command", "register"]


def _tag(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> Any:
    pairs = []
    for value in values:
        key, sep, tag_value = value.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"expected KEY=VALUE (got {value!r})", ctx=ctx, param=param)
        pairs.append((key, tag_value))
    return tuple(pairs)


def _default_region() -> str:
    return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"


def _stack_from(output: Path) -> str:
    name = re.sub(r"[^A-Za-z0-9_-]+", "-", output.stem).strip("-_") or "imported"
    return name if name[0].isalnum() else f"s{name}"


@click.command("import")
@click.option("--vpc", default=None, help="A VPC id: the VPC and everything in it.")
@click.option("--id", "ids", multiple=True, help="A resource id or ARN (repeatable).")
@click.option(
    "--tag",
    "tags",
    multiple=True,
    callback=_tag,
    help="KEY=VALUE the resources carry (repeatable).",
)
@click.option("--region", default=None, help="Region (default: AWS_REGION, else us-east-1).")
@click.option("-o", "--output", required=True, help="The Python module to write, e.g. legacy.py.")
@click.option("--stack", default=None, help="Stack name (default: the module's file name).")
@click.option("--force", is_flag=True, help="Overwrite the output file if it exists.")
@click.pass_obj
def import_command(
    obj: Any,
    vpc: str | None,
    ids: tuple[str, ...],
    tags: tuple[tuple[str, str], ...],
    region: str | None,
    output: str,
    stack: str | None,
    force: bool,
) -> None:
    """Write existing resources as code and adopt them: the first plan shows no changes.

    Nothing in the cloud changes; state records the resources as adopted by the stack.
    """
    # Imported here, not at the top: registering the command stays cheap for the others.
    from infradsl.cli._deploy import RefusedError, make_session
    from infradsl.engine.importer import import_scope, record_adoption
    from infradsl.providers.aws.discovery import AwsDiscovery
    from infradsl.providers.discovery import Scope
    from infradsl.state.backend import check_stack_name

    if not (vpc or ids or tags):
        raise RefusedError("say what to import: --vpc VPC_ID, --id ID (repeatable) or --tag K=V")
    path = Path(output)
    if path.suffix != ".py":
        raise RefusedError(f"-o must name a Python file, e.g. legacy.py (got {output!r})")
    if path.exists() and not force:
        raise RefusedError(f"{output} exists: pass --force to overwrite it")
    region = region or _default_region()
    name = check_stack_name(stack or _stack_from(path))
    scope = Scope(vpc=vpc, ids=ids, tags=tags)
    command = f"infradsl import {scope.describe()} --region {region} -o {path.name}"
    session = make_session(obj.target, obj.state, None)
    if session.backend.read(name) is not None:
        raise RefusedError(
            f"stack {name!r} has a state already: import into another stack (--stack NAME) "
            "or name the module differently; nothing was written"
        )
    result = import_scope(
        session,
        AwsDiscovery(),
        scope,
        region=region,
        stack=name,
        command=command,
        filename=path.name,
    )
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(result.generated.source, encoding="utf-8")
    tmp.replace(path)
    try:
        record_adoption(session.backend, result, command)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    managed = len(result.generated.paths)
    looked_up = len(result.generated.lookups)
    click.echo(
        f"imported {managed} resource{'s' if managed != 1 else ''} from {region} into "
        f"{output} (stack {name!r}); state records them as adopted"
        + (f"; {looked_up} more are looked up" if looked_up else "")
    )
    left = [*result.notes, *(str(s) for s in result.inventory.skipped)]
    if left:
        click.echo(f"not imported ({len(left)}, also listed in the module's header):")
        for line in left:
            click.echo(f"  - {line}")
    click.echo(
        f"next: `infradsl plan {output}` (no changes), `infradsl check {output}`; the first "
        "deploy only adds infradsl's tags"
    )


def register(group: click.Group) -> None:
    """Add the command to the ``infradsl`` group."""
    group.add_command(import_command)
