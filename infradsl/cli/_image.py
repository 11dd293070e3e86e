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
    """Golden images built from code."""


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
    import attrs

    from infradsl.aws._packer import template_of
    from infradsl.cli._loader import load_app
    from infradsl.synth import synthesize

    app = load_app(app_path)
    documents = synthesize(app)
    folder = Path(output).resolve().parent if output else Path.cwd()
    template = template_of(
        app,
        documents,
        image_path,
        stack=stack,
        folder=str(folder),
        origin=_shown(app_path),
        required_plugins=plugins,
    )
    if isinstance(template.base, str):
        # A literal base AMI: infradsl's identity of the image is known before deploy.
        from infradsl.providers.aws.images import image_identity

        template = attrs.evolve(template, identity=image_identity(template.properties))
    return template


def _shown(path: str) -> str:
    try:
        return Path(os.path.relpath(Path(path).resolve())).as_posix()
    except ValueError:  # another drive
        return path


def register(group: click.Group) -> None:
    """Add the ``image`` group to the ``infradsl`` group."""
    if "image" not in group.commands:
        group.add_command(image_group)
