"""``infradsl image export``: a golden image as a Packer HCL2 template."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import click

from infradsl.errors import LoadError

__all__ = ["register"]


@click.group(name="image")
def image_group() -> None:
    """Golden images (ec2.Image)."""


@image_group.command(name="export")
@click.argument("app")
@click.option(
    "--image",
    "image_path",
    required=True,
    help="The image's construct path: 'Golden' in the stack, or 'STACK/Golden'.",
)
@click.option("--stack", default=None, help="The image's stack, when the app has several.")
@click.option(
    "-o",
    "--output",
    default=None,
    help="Write the template to this file (e.g. golden.pkr.hcl) instead of standard output.",
)
@click.option(
    "--no-required-plugins",
    is_flag=True,
    help="Leave out the packer { required_plugins } block, for Packer older than 1.7.",
)
def export_command(
    app: str, image_path: str, stack: str | None, output: str | None, no_required_plugins: bool
) -> None:
    """Export an image as a Packer HCL2 template: an amazon-ebs source with the same base
    image and builder settings, and the same provisioning steps."""
    from infradsl.aws._packer import render_packer

    template = packer_template(app, image_path, stack, output, not no_required_plugins)
    text = render_packer(template)
    if output is None:
        click.echo(text, nl=False)
        return
    target = Path(output)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise LoadError(f"cannot write {output}: {exc.strerror or exc}") from exc
    click.echo(f"wrote {output}", err=True)


def packer_template(
    app_path: str, image_path: str, stack: str | None, output: str | None, plugins: bool
) -> Any:
    """The `PackerTemplate` of the image ``image_path`` of the app at ``app_path``.

    Raises:
        LoadError: the app does not load, or names no such image, or it cannot be exported.
    """
    from infradsl.aws._image import Image
    from infradsl.aws._packer import PackerTemplate
    from infradsl.cli._loader import load_app
    from infradsl.core.construct import closest
    from infradsl.core.lookup import is_lookup, lookup_of
    from infradsl.core.reference import Reference
    from infradsl.synth import synthesize

    app = load_app(app_path)
    documents = synthesize(app)
    images = {
        f"{c.node.stack.node.path}/{c.logical_id}": c
        for c in app.node.walk()
        if isinstance(c, Image) and c.node.stack is not None and not is_lookup(c)
    }
    wanted = image_path.strip("/")
    if stack is not None:
        wanted = f"{stack}/{wanted}"
    found = images.get(wanted)
    if found is None and "/" not in image_path.strip("/") and stack is None:
        matches = [p for p in images if p.split("/", 1)[1] == wanted]
        if len(matches) > 1:
            raise LoadError(
                f"several stacks have an image {wanted!r}: {sorted(matches)}; pass --stack or "
                "'STACK/PATH'"
            )
        found = images[matches[0]] if matches else None
    if found is None:
        known = sorted(images) or ["none"]
        short = {path.split("/", 1)[1]: path for path in images}
        match = closest(wanted, images) or short.get(closest(wanted, short) or "")
        hint = f" (did you mean {match!r}?)" if match else ""
        raise LoadError(
            f"no ec2.Image {image_path!r} in {app_path}{hint}; its images: {', '.join(known)}"
        )
    image: Image = found
    stack_name = image.node.stack.node.path if image.node.stack is not None else ""
    document = documents[stack_name]
    entry = document["resources"][image.logical_id]
    props = entry["properties"]
    where = f"{stack_name}/{image.logical_id}"
    if image.copy_of is not None:
        source = image.copy_of.target if isinstance(image.copy_of, Reference) else image.copy_of
        raise LoadError(
            f"{where} is a copy of {source.node.path!r} (copy_of): export that image instead; "
            "Packer copies an image to more regions with ami_regions"
        )
    directory = image.source_directory
    if directory is None:
        raise LoadError(f"{where} has no provisioning directory to export")
    folder = Path(output).resolve().parent if output else Path.cwd()
    relative = Path(os.path.relpath(directory, folder)).as_posix()

    base: Any = props.get("base")
    base_note = ""
    target = image.base.target if isinstance(image.base, Reference) else image.base
    if isinstance(base, dict):
        query = lookup_of(target)
        if query is not None:
            base = {k: v for k, v in sorted(query.query.items()) if isinstance(v, str) and v}
        else:
            base_note = f"the image {target.node.path!r}, built by infradsl"
            base = None
    identity = None
    if isinstance(base, str):
        from infradsl.providers.aws.images import image_identity

        identity = image_identity(props)
    subnet_note = ""
    subnet = props.get("subnet")
    if isinstance(subnet, dict) and "ref" in subnet:
        subnet_path = str(subnet["ref"]).rpartition(".")[0]
        subnet_note = (
            f"the subnet {subnet_path!r} of stack {subnet.get('stack', stack_name)!r} "
            "(see `infradsl state show`); empty for the account's default VPC"
        )
    return PackerTemplate(
        stack=stack_name,
        path=image.logical_id,
        region=str(document.get("region") or ""),
        properties=props,
        base=base,
        base_note=base_note,
        directory=relative,
        identity=identity,
        origin=_shown(app_path),
        subnet_note=subnet_note,
        required_plugins=plugins,
    )


def _shown(path: str) -> str:
    try:
        return Path(os.path.relpath(Path(path).resolve())).as_posix()
    except ValueError:  # another drive
        return path


def register(group: click.Group) -> None:
    """Add the ``image`` group to the ``infradsl`` group."""
    if "image" not in group.commands:
        group.add_command(image_group)
