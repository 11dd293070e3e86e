"""Golden images built from code (`Image`) and the provisioning steps they run.

Re-exported by `infradsl.aws.ec2`: users write ``ec2.Image``, ``ec2.Ansible``,
``ec2.Shell`` and ``ec2.CopyFile``.

An image's identity is a content hash over the bytes of every file of its provisioning
directory (sorted relative paths), its base image, its steps and their variables: the
same inputs are never built twice in one account and region, and a change to any input
file is a new image, which replaces every instance that uses it.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import attrs

from infradsl.aws import _lookup as lk
from infradsl.aws import _validators as v
from infradsl.aws._common import Taggable
from infradsl.core.construct import Construct
from infradsl.core.lookup import is_lookup, make_lookup
from infradsl.core.reference import Reference, attribute
from infradsl.core.resource import Resource, prop, resource

__all__ = [
    "Ansible",
    "CopyFile",
    "Image",
    "Shell",
    "bundle_directory",
    "bundle_files",
    "content_hash",
    "files_digest",
]

_AMI = v.matches(r"^ami-[0-9a-f]{8,17}$", "ami-0123456789abcdef0")
# Kept out of the hash and the bundle: editor, VCS and Python droppings.
_SKIPPED = frozenset({".git", ".hg", ".svn", "__pycache__", ".DS_Store", ".venv"})
# A builder gets the provisioning files through its user data (16 KB raw, base64 inside).
MAX_BUNDLE_BYTES = 64 * 1024 * 1024


@attrs.frozen(kw_only=True)
class Ansible:
    """Run an Ansible playbook on the builder, with a local connection.

    Args:
        playbook: the playbook, relative to the image's ``directory``; roles next to it
            (``roles/``) are found as usual.
        extra_vars: variables passed with ``--extra-vars`` (str, int or bool values; never
            a secret: they end up in the image and in the synthesized document).
    """

    playbook: str
    extra_vars: dict[str, Any] = attrs.field(factory=dict)
    kind: str = attrs.field(default="ansible", init=False)


@attrs.frozen(kw_only=True)
class Shell:
    """Run a shell script (``/bin/sh``) on the builder, as root.

    Args:
        script: the script, relative to the image's ``directory``.
        environment: variables set while it runs.
    """

    script: str
    environment: dict[str, str] = attrs.field(factory=dict)
    kind: str = attrs.field(default="shell", init=False)


@attrs.frozen(kw_only=True)
class CopyFile:
    """Copy a file of the image's ``directory`` into the image.

    Args:
        source: relative to the image's ``directory``.
        destination: an absolute path on the image.
        mode: octal permission bits as a str, e.g. ``"0644"``.
    """

    source: str
    destination: str
    mode: str = "0644"
    kind: str = attrs.field(default="file", init=False)


Step = Ansible | Shell | CopyFile


def bundle_files(directory: Path) -> list[tuple[str, Path]]:
    """Every file of a provisioning directory as ``(relative posix path, path)``, sorted."""
    found: list[tuple[str, Path]] = []
    for root, dirs, files in os.walk(directory):
        dirs[:] = sorted(d for d in dirs if d not in _SKIPPED)
        for name in files:
            if name in _SKIPPED or name.endswith((".pyc", "~")):
                continue
            path = Path(root, name)
            found.append((path.relative_to(directory).as_posix(), path))
    return sorted(found)


def files_digest(directory: Path) -> str:
    """sha256 over every file of a provisioning directory: sorted paths, sizes and bytes."""
    digest = hashlib.sha256()
    for relative, path in bundle_files(directory):
        data = path.read_bytes()
        digest.update(f"\0{relative}\0{len(data)}\0".encode())
        digest.update(data)
    return digest.hexdigest()


def content_hash(files: str, base: Any, steps: Iterable[Mapping[str, Any]]) -> str:
    """The identity of an image (32 hex): its files' digest (`files_digest`), its base image
    as written and its steps.

    ``base`` is the base as written (an AMI id or a lookup's query); the handler mixes in
    the resolved AMI id, so a new upstream image is a new identity too.
    """
    text = json.dumps({"base": base, "files": files, "steps": list(steps)}, sort_keys=True)
    return hashlib.sha256(f"infradsl-image-1\0{text}".encode()).hexdigest()[:32]


# content hash -> (the provisioning directory on this machine, its files' digest). The
# synthesized document holds the directory as the user wrote it; the builder needs the
# files themselves, unchanged since the plan.
_BUNDLES: dict[str, tuple[Path, str]] = {}


def bundle_directory(hash_: str) -> tuple[Path, str] | None:
    """The provisioning directory of the image with content hash ``hash_`` and the digest
    its files had when the tree was built, if this process built the tree that declares it."""
    return _BUNDLES.get(hash_)


def _step_dict(step: Step) -> dict[str, Any]:
    return {f.name: getattr(step, f.name) for f in attrs.fields(type(step))}


def _is_subnet(name: str, value: Any) -> None:
    target = value.target if isinstance(value, Reference) else value
    if isinstance(target, Resource) and target.__infradsl_type__ != "aws.ec2.Subnet":
        raise ValueError(f"{name!r} must be aws.ec2.Subnet (got {target.__infradsl_type__})")


def _is_image(name: str, value: Any) -> None:
    if isinstance(value, str):
        _AMI(name, value)
        return
    target = value.target if isinstance(value, Reference) else value
    if isinstance(target, Resource) and not isinstance(target, Image):
        raise ValueError(
            f"{name!r} must be an AMI id like ami-0123456789abcdef0 or an ec2.Image "
            f"(got {target.__infradsl_type__} {target.logical_id!r})"
        )


@resource("aws.ec2.Image")
class Image(Taggable):
    """A golden machine image (AMI) built from a base image and provisioning steps.

    The build boots a builder instance from ``base``, runs the ``steps`` on it (Ansible
    with a local connection, shell scripts, copied files), makes an image of it and
    terminates the builder. Each image is tagged with its content hash; an image with the
    same hash in the account and region is reused, never rebuilt. The last ``keep``
    images are kept for rolling back; older ones are deregistered with their snapshots
    once a deploy succeeded (never one an instance still uses).

    Args:
        base: the base AMI id, or a looked-up image (`Image.lookup`), resolved when
            planning and pinned in state: a new upstream AMI shows in the plan.
        directory: the provisioning directory, relative to the file that declares the
            image; every file in it is part of the image's identity.
        steps: `Ansible`, `Shell` and `CopyFile` steps, run in order.
        instance_type: the builder's instance type.
        subnet: where the builder runs (needs outbound access to install packages);
            the account's default VPC when omitted.
        ssh_username: the base image's login user (used by the Packer export).
        keep: how many images of this `Image` to keep, the current one included.
        copy_of: an `Image` of another stack (another region) to copy here, under the
            same content hash, instead of building.
        tags: extra tags.

    Example:
        >>> from infradsl import App, Stack
        >>> stack = Stack(App(), "demo", region="us-east-1")
        >>> golden = Image(stack, "Golden", base="ami-0123456789abcdef0",
        ...                directory=".", steps=[])
        >>> golden.id
        Reference(Golden.id)
    """

    base: Any = prop(str, Resource, default=None, check=_is_image, replace=True)
    directory: str | None = prop(str, default=None)
    steps: list[Step] = prop(list, items=(Ansible, Shell, CopyFile), factory=list)
    instance_type: str = prop(
        str, default="t3.small", check=v.matches(r"^[a-z][a-z0-9-]*\.[a-z0-9-]+$", "t3.small")
    )
    subnet: Any = prop(Resource, default=None, check=_is_subnet)
    ssh_username: str = prop(str, default="ec2-user")
    keep: int = prop(int, default=3, check=v.int_range(1, 100))
    copy_of: Any = prop(Resource, default=None, replace=True)
    source_region: str | None = prop(str, default=None, replace=True)
    content_hash: str | None = prop(str, default=None, replace=True)

    name = attribute("The image's name.")
    snapshot_ids = attribute("The EBS snapshots behind the image.")

    def _prepare(self, properties: dict[str, Any]) -> None:
        self._source_dir: Path | None = None
        self._computed_given = "content_hash" in properties or "source_region" in properties
        if self._computed_given:
            self.node.add_problem(
                "'content_hash' and 'source_region' are computed by infradsl: remove them"
            )

    def _finish(self) -> None:
        if self._computed_given:
            return
        if self.copy_of is not None:
            self._init_copy()
        else:
            self._init_build()

    def _init_copy(self) -> None:
        source = self.copy_of
        if not isinstance(source, Image) or is_lookup(source):
            self.node.add_problem(
                "'copy_of' must be an ec2.Image of another stack (got "
                f"{type(source).__name__} {source!r})"
            )
            return
        extra = [n for n in ("base", "directory") if getattr(self, n) is not None]
        if extra or self.steps:
            names = ", ".join(repr(n) for n in extra + (["steps"] if self.steps else []))
            self.node.add_problem(f"an image with 'copy_of' is copied, not built: remove {names}")
        here, there = _region_of(self), _region_of(source)
        if here is not None and here == there:
            self.node.add_problem(
                f"'copy_of' names {source.node.path!r}, in the same region ({here}): use it "
                "directly (image=...) instead of copying it"
            )
        self.source_region = there
        self.content_hash = source.content_hash

    def _init_build(self) -> None:
        if self.base is None:
            self.node.add_problem(
                "missing 'base': pass an AMI id (base='ami-...') or a looked-up image "
                "(base=ec2.Image.lookup(self, 'Base', owner='amazon', name='al2023-ami-*'))"
            )
        if self.directory is None:
            self.node.add_problem(
                "missing 'directory': the folder with the provisioning files, relative to "
                "this file (directory='provision')"
            )
            return
        caller = Path(self.node.location[0]) if self.node.location else Path.cwd()
        root = Path(self.directory)
        if not root.is_absolute():
            root = (caller.parent if caller.suffix == ".py" else Path.cwd()) / root
        if not root.is_dir():
            self.node.add_problem(
                f"'directory' {self.directory!r} is not a folder (looked in {root}): create "
                "it or fix the path (relative to the file that declares the image)"
            )
            return
        steps = [_step_dict(step) for step in self.steps if attrs.has(type(step))]
        for problem in _step_problems(root, steps):
            self.node.add_problem(problem)
        source = self._source_dir = root.resolve()
        base = self.base if isinstance(self.base, str) else _base_query(self.base)
        files = files_digest(source)
        self.content_hash = content_hash(files, base, steps)
        _BUNDLES[self.content_hash] = (source, files)

    @property
    def source_directory(self) -> Path | None:
        """The resolved provisioning directory (``None`` for a copy or a lookup)."""
        return getattr(self, "_source_dir", None)

    @classmethod
    def lookup(
        cls,
        scope: Construct,
        id: str,
        *,
        image_id: str | None = None,
        owner: str | None = None,
        name: str | None = None,
    ) -> Image:
        """An existing image, found when planning: the newest one matching all criteria.

        Use it as an image's ``base``: the AMI id found is pinned in state, so a newer
        upstream image shows in the next plan as a replacement, never as a surprise.

        Args:
            scope: where it goes in the construct tree.
            id: its id in ``scope``.
            image_id: an AMI id.
            owner: an account id, ``"self"``, ``"amazon"`` or another owner alias.
            name: a name pattern (``*`` and ``?`` wildcards).

        Example:
            >>> from infradsl import App, Stack
            >>> stack = Stack(App(), "demo")
            >>> base = Image.lookup(stack, "Base", owner="amazon", name="al2023-ami-*")
        """
        return make_lookup(
            cls,
            scope,
            id,
            {"id": image_id, "owner": owner, "name": name},
            checks={
                "id": lk.resource_id("ami"),
                "owner": lk.text(r"^(\d{12}|self|amazon|aws-marketplace|[\w.-]+)$", "amazon"),
                "name": lk.text(r"^[\w*?.()\[\]/ @'-]{1,128}$", "al2023-ami-*"),
            },
        )

    def validate(self) -> Iterator[str]:
        if self.copy_of is None and isinstance(self.keep, int) and self.keep < 1:
            yield "'keep' must be at least 1"


def _region_of(res: Resource) -> str | None:
    stack = res.node.stack
    region = getattr(stack, "region", None)
    return region if isinstance(region, str) else None


def _base_query(base: Any) -> Any:
    """What stands for a base that is not a literal AMI id in the content hash."""
    target = base.target if isinstance(base, Reference) else base
    if isinstance(target, Resource):
        from infradsl.core.lookup import lookup_of

        found = lookup_of(target)
        if found is not None:
            return {"lookup": {k: v for k, v in sorted(found.query.items()) if isinstance(v, str)}}
        return {"image": target.logical_id}
    return repr(base)


def _step_problems(root: Path, steps: list[dict[str, Any]]) -> Iterator[str]:
    """Missing files and bad destinations in ``steps``."""
    for index, step in enumerate(steps):
        where = f"steps[{index}]"
        kind = step.get("kind")
        source = step.get("playbook") or step.get("script") or step.get("source")
        if not isinstance(source, str) or not source:
            yield f"'{where}' needs a file name"
            continue
        path = Path(source)
        if path.is_absolute() or ".." in path.parts:
            yield (
                f"'{where}' names {source!r}: give a path inside the image's directory, "
                "without '..'"
            )
            continue
        if not (root / path).is_file():
            yield f"'{where}' names {source!r}, which is not a file in {root}"
        if kind == "file":
            destination = step.get("destination")
            if not isinstance(destination, str) or not destination.startswith("/"):
                yield f"'{where}.destination' must be an absolute path (got {destination!r})"
            mode = step.get("mode")
            if not isinstance(mode, str) or not all(c in "01234567" for c in mode):
                yield f"'{where}.mode' must be octal like '0644' (got {mode!r})"
        if kind == "ansible":
            for key, value in (step.get("extra_vars") or {}).items():
                if not isinstance(value, (str, int, bool)) or isinstance(value, float):
                    yield (
                        f"'{where}.extra_vars[{key!r}]' must be str, int or bool "
                        f"(got {type(value).__name__})"
                    )
