"""An `Image` as a Packer HCL2 template: an ``amazon-ebs`` source and the same steps.

`template_of` finds an image in a built app and gathers what the template is made of;
`render_packer` writes it from that plain data. Neither does file or network I/O.

The build mirrors infradsl's own: the provisioning directory is uploaded to
``/tmp/infradsl-provision`` and every step runs from there as root. An `Ansible` step is
an ``ansible-local`` provisioner (the playbook's directory uploaded whole, so its roles
come along; ansible-core installed first when the base image lacks it), a `Shell` step a
``shell`` provisioner running the script with its environment, a `CopyFile` step an
``install -D -m MODE`` of the uploaded file.
"""

from __future__ import annotations

import json
import posixpath
import re
import shlex
import textwrap
from collections.abc import Iterable, Mapping
from pathlib import PurePath
from typing import Any

import attrs

from infradsl.aws._image import Image
from infradsl.core.construct import Construct, closest
from infradsl.core.lookup import is_lookup, lookup_of
from infradsl.core.reference import Reference
from infradsl.errors import LoadError

__all__ = ["PackerTemplate", "Raw", "render_packer", "template_of"]

STAGING = "/tmp/infradsl-provision"
AMAZON_PLUGIN = ("github.com/hashicorp/amazon", ">= 1.2.0")
ANSIBLE_PLUGIN = ("github.com/hashicorp/ansible", ">= 1.1.0")
INSTALL_ANSIBLE = (
    "command -v ansible-playbook >/dev/null 2>&1 || sudo dnf install -y ansible-core || "
    "sudo yum install -y ansible-core || (sudo apt-get update && sudo apt-get install -y "
    "ansible) || sudo pip3 install ansible-core"
)
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")


@attrs.frozen
class Raw:
    """An HCL expression written as is (``var.subnet_id``, ``"${path.root}/x"``)."""

    text: str


@attrs.frozen(kw_only=True)
class PackerTemplate:
    """What a Packer template of an image is made from (plain data, no I/O).

    Attributes:
        stack: the image's stack.
        path: the image's construct path inside the stack.
        region: the stack's region.
        properties: the image's synthesized properties.
        base: the base AMI id; or a lookup query (``owner``, ``name``, ``id``); or
            ``None`` when the base is not known before deploy (another infradsl image):
            the template then takes it as the variable ``source_ami``.
        base_note: what the base is, for the variable's description.
        directory: the provisioning directory relative to the template's folder (posix).
        identity: infradsl's identity of the image (content hash and base AMI) when it is
            known before deploy (a literal base AMI): tagged, so that infradsl reuses an
            image Packer built instead of building it again.
        origin: the app file, for the header.
        subnet_note: what the builder's subnet is, when it is a reference.
        required_plugins: write the ``packer { required_plugins { ... } }`` block (Packer
            1.7 and later; older versions have the builders and provisioners built in).
    """

    stack: str
    path: str
    region: str
    properties: Mapping[str, Any]
    base: str | Mapping[str, Any] | None
    base_note: str = ""
    directory: str
    identity: str | None = None
    origin: str = ""
    subnet_note: str = ""
    required_plugins: bool = True


def template_of(
    app: Construct,
    documents: Mapping[str, Mapping[str, Any]],
    image_path: str,
    *,
    stack: str | None = None,
    folder: str,
    origin: str = "",
    required_plugins: bool = True,
) -> PackerTemplate:
    """What the Packer template of the image ``image_path`` of ``app`` is made of.

    Args:
        app: the app, built.
        documents: its synthesized documents.
        image_path: the image's construct path in its stack (``Golden``), or with the stack
            (``golden/Golden``).
        stack: the image's stack.
        folder: the absolute folder the template goes to; its paths are relative to it.
        origin: the app file, for the header.
        required_plugins: see `PackerTemplate`.

    Raises:
        LoadError: no such image, several, or one that is not built from steps.
    """
    images: dict[str, Image] = {}
    for construct in app.node.walk():
        home = construct.node.stack
        if isinstance(construct, Image) and home is not None and not is_lookup(construct):
            images[f"{home.node.path}/{construct.logical_id}"] = construct
    wanted = image_path.strip("/")
    if stack is not None:
        wanted = f"{stack}/{wanted}"
    image = images.get(wanted)
    if image is None and "/" not in wanted:
        matches = sorted(p for p in images if p.split("/", 1)[1] == wanted)
        if len(matches) > 1:
            raise LoadError(
                f"several stacks have an image {wanted!r}: {matches}; pass --stack or "
                "'STACK/PATH'"
            )
        image = images[matches[0]] if matches else None
    if image is None:
        short = {path.split("/", 1)[1]: path for path in images}
        match = closest(wanted, images) or short.get(closest(wanted, short) or "")
        hint = f" (did you mean {match!r}?)" if match else ""
        known = ", ".join(sorted(images)) or "none"
        shown = f" in {origin}" if origin else ""
        raise LoadError(f"no ec2.Image {image_path!r}{shown}{hint}; its images: {known}")
    home = image.node.stack
    stack_name = home.node.path if home is not None else ""
    document = documents[stack_name]
    props = document["resources"][image.logical_id]["properties"]
    where = f"{stack_name}/{image.logical_id}"
    if image.copy_of is not None:
        source = _target(image.copy_of)
        named = source.node.path if isinstance(source, Construct) else repr(source)
        raise LoadError(
            f"{where} is a copy of {named!r} (copy_of): export that image instead; Packer "
            "copies an image to more regions with ami_regions"
        )
    directory = image.source_directory
    if directory is None:
        raise LoadError(f"{where} has no provisioning directory to export")
    relative = PurePath(posixpath.relpath(directory.as_posix(), PurePath(folder).as_posix()))

    base: Any = props.get("base")
    base_note = ""
    if isinstance(base, Mapping):
        target = _target(image.base)
        found = lookup_of(target)
        if found is not None:
            base = {k: v for k, v in sorted(found.query.items()) if isinstance(v, str) and v}
        else:
            named = target.node.path if isinstance(target, Construct) else "another image"
            base_note = f"the image {named!r}, built by infradsl"
            base = None
    subnet_note = ""
    subnet = props.get("subnet")
    if isinstance(subnet, Mapping) and "ref" in subnet:
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
        directory=relative.as_posix(),
        origin=origin,
        subnet_note=subnet_note,
        required_plugins=required_plugins,
    )


def _target(value: Any) -> Any:
    return value.target if isinstance(value, Reference) else value


def render_packer(template: PackerTemplate) -> str:
    """The HCL2 text of ``template``.

    Example:
        >>> text = render_packer(PackerTemplate(
        ...     stack="demo", path="Golden", region="us-east-1",
        ...     properties={"content_hash": "0" * 32, "steps": [
        ...         {"kind": "shell", "script": "setup.sh", "environment": {}}]},
        ...     base="ami-0123456789abcdef0", directory="provision"))
        >>> 'source_ami    = "ami-0123456789abcdef0"' in text
        True
        >>> 'script          = "${path.root}/provision/setup.sh"' in text
        True
    """
    props = template.properties
    steps = [s for s in props.get("steps") or [] if isinstance(s, Mapping)]
    content = str(props.get("content_hash") or "")
    name = _name(template.stack, template.path)
    out: list[str] = [_header(template, content), ""]
    if template.required_plugins:
        plugins: dict[str, Any] = {
            "amazon": {"source": AMAZON_PLUGIN[0], "version": AMAZON_PLUGIN[1]}
        }
        if any(step.get("kind") == "ansible" for step in steps):
            plugins["ansible"] = {"source": ANSIBLE_PLUGIN[0], "version": ANSIBLE_PLUGIN[1]}
        out += [*_block("packer", [], [("required_plugins", [], list(plugins.items()))]), ""]
    variables = _variables(template)
    for var_name, description in variables:
        body = [("type", Raw("string")), ("default", ""), ("description", description)]
        out += [*_block("variable", [var_name], body), ""]
    build_time = Raw('regex_replace(timestamp(), "[- TZ:]", "")')
    out += [*_block("locals", [], [("build_time", build_time)]), ""]
    out += [*_block("source", ["amazon-ebs", name], _source(template, name, content)), ""]
    sources = [("sources", [Raw(f'"source.amazon-ebs.{name}"')])]
    out += _block("build", [], sources, _build(template, steps))
    return "\n".join(out) + "\n"


# the parts -----------------------------------------------------------------------------


def _header(template: PackerTemplate, content: str) -> str:
    where = f" of {template.origin}" if template.origin else ""
    return "\n".join(
        [
            f"# Packer template of the image {template.stack}/{template.path}{where}, exported by",
            "# `infradsl image export`: the same base image, builder settings and provisioning",
            "# steps. Export it again after changing the image rather than editing it.",
            f"# Content hash {content}: infradsl's identity of these inputs.",
            "# Build: packer init . && packer build .",
        ]
    )


def _name(stack: str, path: str) -> str:
    """The source's name: the image's stack and path as an HCL identifier."""
    text = re.sub(r"[^A-Za-z0-9_-]+", "-", f"{stack}-{path}").strip("-")
    return text if _IDENTIFIER.match(text) else f"image-{text}"


def _variables(template: PackerTemplate) -> list[tuple[str, str]]:
    found = []
    if template.base is None:
        found.append(("source_ami", f"The base AMI id: {template.base_note}."))
    if template.subnet_note:
        found.append(("subnet_id", f"The builder's subnet id: {template.subnet_note}."))
    return found


def _source(template: PackerTemplate, name: str, content: str) -> list[Any]:
    props = template.properties
    ami_name = f"{name}-{content[:12]}-" if content else f"{name}-"
    body: list[Any] = [
        ("region", template.region),
        ("instance_type", str(props.get("instance_type") or "t3.small")),
        ("ssh_username", str(props.get("ssh_username") or "ec2-user")),
        ("ami_name", Raw(f'"{_escape(ami_name)}${{local.build_time}}"')),
    ]
    base = template.base
    if base is None:
        body.append(("source_ami", Raw("var.source_ami")))
    elif isinstance(base, str):
        body.append(("source_ami", base))
    elif base.get("id"):
        body.append(("source_ami", str(base["id"])))
    if template.subnet_note:
        body.append(("subnet_id", Raw("var.subnet_id")))
    tags: dict[str, Any] = {"Name": f"{template.stack}/{template.path}"}
    user_tags = props.get("tags")
    for key, value in sorted((user_tags if isinstance(user_tags, Mapping) else {}).items()):
        if isinstance(value, str):
            tags[str(key)] = value
    tags["infradsl:content-hash"] = content
    tags["infradsl:source-ami"] = "{{ .SourceAMI }}"
    if template.identity:
        tags["infradsl:image-hash"] = template.identity
    body.append(("tags", tags))
    if isinstance(base, Mapping) and not base.get("id"):
        filters: dict[str, Any] = {}
        if base.get("name"):
            filters["name"] = str(base["name"])
        filters["state"] = "available"
        lookup: list[Any] = [("filters", filters), ("most_recent", True)]
        if base.get("owner"):
            lookup.append(("owners", [str(base["owner"])]))
        body.append(("source_ami_filter", [], lookup))
    return body


def _build(template: PackerTemplate, steps: list[Mapping[str, Any]]) -> list[Any]:
    root = template.directory.rstrip("/") or "."
    blocks: list[Any] = [
        _comment(
            "The provisioning directory, where infradsl's own build unpacks it: every step "
            "runs from there, as root."
        ),
        ("provisioner", ["shell"], [("inline", [f"mkdir -p {STAGING}"])]),
        (
            "provisioner",
            ["file"],
            [("source", _local(root, "", directory=True)), ("destination", STAGING)],
        ),
    ]
    for index, step in enumerate(steps):
        blocks.extend(_step(index, step, root))
    blocks.append(_comment("Leave no provisioning files in the image."))
    blocks.append(("provisioner", ["shell"], [("inline", [f"sudo rm -rf {STAGING}"])]))
    return blocks


def _step(index: int, step: Mapping[str, Any], root: str) -> list[Any]:
    kind = step.get("kind")
    where = f"steps[{index}]"
    if kind == "ansible":
        playbook = str(step.get("playbook"))
        extra = json.dumps(step.get("extra_vars") or {}, sort_keys=True)
        body: list[Any] = [
            ("command", "sudo ANSIBLE_FORCE_COLOR=1 PYTHONUNBUFFERED=1 ansible-playbook"),
            ("playbook_file", _local(root, playbook)),
            ("playbook_dir", _local(root, "", directory=False)),
        ]
        if step.get("extra_vars"):
            body.append(("extra_arguments", ["--extra-vars", shlex.quote(extra)]))
        return [
            _comment(f"{where}: the Ansible playbook {playbook}, with a local connection."),
            ("provisioner", ["shell"], [("inline", [INSTALL_ANSIBLE])]),
            ("provisioner", ["ansible-local"], body),
        ]
    if kind == "shell":
        script = str(step.get("script"))
        environment = step.get("environment") or {}
        body = [("script", _local(root, script))]
        if environment:
            body.append(
                ("environment_vars", [f"{k}={v}" for k, v in sorted(environment.items())])
            )
        # Packer's own template: the variables and the uploaded script's path.
        execute = f"cd {STAGING} && sudo env {{{{ .Vars }}}} sh '{{{{ .Path }}}}'"
        body.append(("execute_command", execute))
        return [_comment(f"{where}: the shell script {script}."), ("provisioner", ["shell"], body)]
    if kind == "file":
        source, destination = str(step.get("source")), str(step.get("destination"))
        mode = str(step.get("mode") or "0644")
        command = (
            f"sudo install -D -m {shlex.quote(mode)} {shlex.quote(f'{STAGING}/{source}')} "
            f"{shlex.quote(destination)}"
        )
        return [
            _comment(f"{where}: the file {source}, installed as {destination} ({mode})."),
            ("provisioner", ["shell"], [("inline", [command])]),
        ]
    return [_comment(f"{where}: an unknown kind of step ({kind!r}), not exported.")]


def _local(root: str, relative: str, *, directory: bool = False) -> Raw:
    """A path on the machine running Packer, relative to the template's folder."""
    path = "/".join(part for part in (root, relative) if part and part != ".") or "."
    if directory:
        path += "/"  # the file provisioner uploads a folder's contents with a trailing slash
    return Raw(f'"${{path.root}}/{_escape(path)}"')


# HCL -----------------------------------------------------------------------------------


@attrs.frozen
class _Comment:
    text: str


def _comment(text: str) -> _Comment:
    return _Comment(text)


def _block(
    kind: str, labels: list[str], body: Iterable[Any], blocks: Iterable[Any] = ()
) -> list[str]:
    """An HCL block: ``kind "label" ... { body }``, items ``(key, value)`` or nested
    ``(kind, labels, body)`` blocks and `_Comment` lines."""
    head = " ".join([kind, *(f'"{_escape(label)}"' for label in labels)])
    lines = [head + " {"]
    lines += _body([*body, *blocks], "  ")
    lines.append("}")
    return lines


def _body(items: list[Any], indent: str) -> list[str]:
    lines: list[str] = []
    run: list[tuple[str, Any]] = []  # consecutive attributes, aligned like `packer fmt`

    def flush() -> None:
        width = max((len(key) for key, _ in run), default=0)
        for key, value in run:
            rendered = _value(value, indent)
            lines.append(f"{indent}{key.ljust(width)} = {rendered}")
        run.clear()

    previous_block = False
    for item in items:
        if isinstance(item, _Comment):
            flush()
            if lines:
                lines.append("")
            wrapped = textwrap.wrap(item.text, width=max(40, 92 - len(indent)))
            lines += [f"{indent}# {line}" for line in wrapped]
            previous_block = False
            continue
        if len(item) == 3:
            flush()
            kind, labels, body = item
            if previous_block or (lines and not lines[-1].lstrip().startswith("#")):
                lines.append("")
            head = " ".join([kind, *(f'"{_escape(label)}"' for label in labels)])
            lines.append(f"{indent}{head} {{")
            lines += _body(list(body), indent + "  ")
            lines.append(f"{indent}}}")
            previous_block = True
            continue
        key, value = item
        if previous_block:
            lines.append("")
            previous_block = False
        run.append((key if _IDENTIFIER.match(key) else f'"{_escape(key)}"', value))
    flush()
    return lines


def _value(value: Any, indent: str) -> str:
    if isinstance(value, Raw):
        return value.text
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return json.dumps(value)
    if isinstance(value, str):
        return f'"{_escape(value)}"'
    if isinstance(value, Mapping):
        if not value:
            return "{}"
        inner = indent + "  "
        keys = [k if _IDENTIFIER.match(k) else f'"{_escape(k)}"' for k in map(str, value)]
        width = max(len(k) for k in keys)
        rows = [
            f"{inner}{key.ljust(width)} = {_value(item, inner)}"
            for key, item in zip(keys, value.values(), strict=True)
        ]
        return "{\n" + "\n".join(rows) + f"\n{indent}}}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_value(item, indent) for item in value) + "]"
    return f'"{_escape(str(value))}"'


def _escape(text: str) -> str:
    """``text`` inside an HCL quoted string: escapes, and no template interpolation."""
    text = (
        text.replace("\\", "\\\\")
        .replace('"', '\\"')
        .replace("\n", "\\n")
        .replace("\r", "\\r")
        .replace("\t", "\\t")
    )
    return text.replace("${", "$${").replace("%{", "%%{")
