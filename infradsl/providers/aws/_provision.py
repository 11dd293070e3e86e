"""The provisioning of an image builder: the files, their static checks and the user data.

The builder receives its provisioning directory inside its user data, as a base64 tar.gz
(AWS allows 16 KB of user data). The script unpacks it, runs the steps in order (Ansible
with a local connection, shell scripts, copied files), prints a marker to the console and
powers the instance off; the handler waits for ``stopped`` and looks for the marker.
"""

from __future__ import annotations

import base64
import io
import json
import shlex
import shutil
import subprocess
import tarfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from infradsl.aws._image import bundle_directory, bundle_files, files_digest
from infradsl.providers.handler import HandlerError

__all__ = [
    "BUILD_FAILED",
    "BUILD_OK",
    "ProvisionError",
    "builder_user_data",
    "bundle_for",
    "check_statically",
]

USER_DATA_LIMIT = 16384
# What the builder prints to its console at the end (the handler looks for it).
BUILD_OK = "INFRADSL-BUILD-OK"
BUILD_FAILED = "INFRADSL-BUILD-FAILED"


class ProvisionError(HandlerError, RuntimeError):
    """The provisioning files are missing, changed since the plan, too big, or invalid; or
    the steps failed on the builder."""


def bundle_for(props: Mapping[str, Any]) -> Path:
    """The provisioning directory of the image, its files unchanged since the plan.

    Raises:
        ProvisionError: the files are not known to this process, or changed since the plan.
    """
    wanted = str(props.get("content_hash") or "")
    known = bundle_directory(wanted)
    if known is None:
        raise ProvisionError(
            f"the provisioning files of image {wanted} are not known to this run: deploy "
            "from the app that declares the image (infradsl deploy APP)"
        )
    root, digest = known
    if files_digest(root) != digest:
        raise ProvisionError(
            f"the files in {root} changed after the plan was made: plan again, then deploy"
        )
    return root


def check_statically(root: Path, steps: Sequence[Mapping[str, Any]]) -> list[str]:
    """Check what can be checked without booting: ``sh -n`` on scripts and
    ``ansible-playbook --syntax-check`` on playbooks when ansible-core is installed.

    Returns:
        What was checked, one line each (for the progress view and the docs' claims).

    Raises:
        ProvisionError: a script or playbook has a syntax error.
    """
    done: list[str] = []
    for step in steps:
        kind = step.get("kind")
        if kind == "shell":
            script = root / str(step["script"])
            result = subprocess.run(
                ["sh", "-n", str(script)], capture_output=True, text=True, check=False
            )
            if result.returncode != 0:
                raise ProvisionError(
                    f"shell script {step['script']} has a syntax error: {result.stderr.strip()}"
                )
            done.append(f"sh -n {step['script']}: ok")
        elif kind == "ansible":
            ansible = shutil.which("ansible-playbook")
            if ansible is None:
                done.append(f"{step['playbook']}: not checked (ansible-core is not installed)")
                continue
            result = subprocess.run(
                [ansible, "--syntax-check", "-i", "localhost,", str(step["playbook"])],
                cwd=root,
                capture_output=True,
                text=True,
                check=False,
            )
            if result.returncode != 0:
                tail = (result.stderr or result.stdout).strip().splitlines()[-6:]
                raise ProvisionError(
                    f"playbook {step['playbook']} fails ansible-playbook --syntax-check:\n"
                    + "\n".join(tail)
                )
            done.append(f"ansible-playbook --syntax-check {step['playbook']}: ok")
    return done


def _archive(root: Path) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz", compresslevel=9) as archive:
        for relative, path in bundle_files(root):
            info = tarfile.TarInfo(relative)
            data = path.read_bytes()
            info.size = len(data)
            info.mode = 0o755 if path.stat().st_mode & 0o111 else 0o644
            info.mtime = 0
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _step_commands(step: Mapping[str, Any]) -> list[str]:
    kind = step.get("kind")
    if kind == "ansible":
        extra = json.dumps(step.get("extra_vars") or {}, sort_keys=True)
        return [
            "command -v ansible-playbook >/dev/null 2>&1 || "
            "dnf install -y ansible-core || yum install -y ansible-core || "
            "(apt-get update && apt-get install -y ansible) || pip3 install ansible-core",
            f"ansible-playbook -i localhost, -c local -e {shlex.quote(extra)} "
            f"{shlex.quote(str(step['playbook']))}",
        ]
    if kind == "shell":
        env = " ".join(
            f"{key}={shlex.quote(str(value))}"
            for key, value in sorted((step.get("environment") or {}).items())
        )
        return [f"{env + ' ' if env else ''}sh {shlex.quote(str(step['script']))}"]
    if kind == "file":
        return [
            f"install -D -m {shlex.quote(str(step.get('mode', '0644')))} "
            f"{shlex.quote(str(step['source']))} {shlex.quote(str(step['destination']))}"
        ]
    raise ProvisionError(f"unknown provisioning step {step!r}")


def builder_user_data(root: Path, steps: Sequence[Mapping[str, Any]]) -> str:
    """The builder's boot script: unpack, run the steps, print the marker, power off.

    Raises:
        ProvisionError: the result is over AWS's 16 KB of user data.
    """
    payload = base64.b64encode(_archive(root)).decode()
    lines = [
        "#!/bin/sh",
        "# infradsl image builder: provisions this instance, then powers it off.",
        "exec > /var/log/infradsl-build.log 2>&1",
        "fail() { echo " + BUILD_FAILED + " > /dev/console; sync; poweroff; exit 1; }",
        "mkdir -p /opt/infradsl/provision && cd /opt/infradsl/provision || fail",
        "base64 -d > /tmp/infradsl-provision.tgz <<'INFRADSL_BUNDLE'",
        *[payload[i : i + 76] for i in range(0, len(payload), 76)],
        "INFRADSL_BUNDLE",
        "tar -xzf /tmp/infradsl-provision.tgz || fail",
    ]
    for step in steps:
        lines.extend(f"{command} || fail" for command in _step_commands(step))
    lines += [
        "rm -rf /opt/infradsl /tmp/infradsl-provision.tgz",
        f"echo {BUILD_OK} > /dev/console",
        "sync",
        "poweroff",
    ]
    script = "\n".join(lines) + "\n"
    size = len(script.encode())
    if size > USER_DATA_LIMIT:
        raise ProvisionError(
            f"the provisioning files make {size} bytes of builder user data, over AWS's "
            f"{USER_DATA_LIMIT}: keep large files out of the image's directory (install "
            "packages from repositories instead of copying them)"
        )
    return script
