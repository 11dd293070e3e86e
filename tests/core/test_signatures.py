"""Resource constructors are visible to type checkers, editors and `inspect.signature`."""

from __future__ import annotations

import functools
import importlib.util
import inspect
import re
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from infradsl import App, Construct, Stack
from infradsl.aws import ec2
from infradsl.core.resource import _TYPES, Resource

ROOT = Path(__file__).resolve().parents[2]


@functools.cache
def _tool() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "signatures_tool", ROOT / "tools" / "signatures.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_resource_class_carries_an_up_to_date_generated_constructor() -> None:
    stale, problems = _tool().run(write=False)
    assert problems == []
    assert stale == [], (
        f"constructor signatures out of date in {[str(p) for p in stale]}: "
        "run `python tools/signatures.py`"
    )


def test_inspect_signature_lists_scope_id_then_properties_and_options_keyword_only() -> None:
    params = inspect.signature(ec2.Instance).parameters
    positional = [n for n, p in params.items() if p.kind is inspect.Parameter.POSITIONAL_ONLY]
    assert positional == ["scope", "id"]
    keyword = {n: p for n, p in params.items() if p.kind is inspect.Parameter.KEYWORD_ONLY}
    assert len(keyword) == len(params) - 2
    # Required properties have no default; the others show theirs (a factory's value).
    assert keyword["image"].default is inspect.Parameter.empty
    assert keyword["instance_type"].default is inspect.Parameter.empty
    assert keyword["subnet"].default is inspect.Parameter.empty
    assert keyword["root_volume_type"].default == "gp3"
    assert keyword["require_imdsv2"].default is True
    assert keyword["role"].default is None
    assert keyword["security_groups"].default == []
    assert keyword["tags"].default == {}
    # Annotations say what construction accepts: a reference where a str or a resource is.
    assert keyword["instance_type"].annotation == "str | Reference"
    assert keyword["subnet"].annotation == "Subnet | Reference"
    assert keyword["security_groups"].annotation == "Sequence[SecurityGroup | Reference]"
    assert keyword["require_imdsv2"].annotation == "bool"
    assert keyword["tags"].annotation == "Mapping[str, str | Reference]"
    options = {
        "depends_on": (),
        "protect": False,
        "ignore_changes": (),
        "replace_on_changes": (),
        "delete_before_replace": False,
        "retain_on_delete": False,
        "aliases": (),
    }
    assert {n: keyword[n].default for n in options} == options
    # The class's own properties first, inherited ones (tags) next, the options last.
    names = list(keyword)
    assert names.index("monitoring") < names.index("tags") < names.index("depends_on")


def test_the_signature_lists_exactly_the_properties_construction_accepts() -> None:
    for cls in {c for c in _TYPES.values() if c.__module__.startswith("infradsl.aws")}:
        names = set(inspect.signature(cls).parameters) - {"scope", "id"}
        props = {n for n in cls._props if n not in cls._computed}
        assert names - props == {
            "depends_on",
            "protect",
            "ignore_changes",
            "replace_on_changes",
            "delete_before_replace",
            "retain_on_delete",
            "aliases",
        }, cls
        assert props <= names, cls


def test_a_subclass_keeps_its_parents_signature_unless_it_writes_its_own_init() -> None:
    class Tagged(ec2.Vpc):
        pass

    assert inspect.signature(Tagged) == inspect.signature(ec2.Vpc)

    class Custom(ec2.Vpc):
        def __init__(self, scope: Construct, id: str, *, size: int = 16) -> None:
            super().__init__(scope, id, cidr_block=f"10.0.0.0/{size}")

    assert (
        str(inspect.signature(Custom))
        == "(scope: 'Construct', id: 'str', *, size: 'int' = 16) -> 'None'"
    )
    assert list(inspect.signature(Resource).parameters) == ["scope", "id", "kwargs"]


@pytest.fixture
def computed_type() -> Iterator[type[Resource]]:
    from infradsl.core.resource import prop, resource

    @resource("test.Computed")
    class Computed(Resource):
        name: str = prop(str)
        digest: str | None = prop(str, default=None, computed=True)

    yield Computed
    del _TYPES["test.Computed"]


def test_a_computed_property_is_no_parameter_and_passing_it_is_a_problem(
    computed_type: type[Resource],
) -> None:
    assert "digest" not in inspect.signature(computed_type).parameters
    stack = Stack(App(), "demo")
    computed_type(stack, "C", name="x", digest="abc")
    computed_type(stack, "D", name="x", digestt="abc")
    messages = [p.message for p in stack.node.problems]
    assert messages == [
        "'digest' is computed by infradsl, not an argument of test.Computed: remove it",
        "unknown property 'digestt' for test.Computed",
    ]


# A user's stack: everything here is valid except the two marked lines.
USER_STACK = """\
from __future__ import annotations

from typing import Any

from infradsl import App, Construct, Output, Stack
from infradsl.aws import ec2, iam, s3, secrets


class Web(Stack):
    def __init__(self, scope: Construct, id: str, **kwargs: Any) -> None:
        super().__init__(scope, id, **kwargs)
        vpc = ec2.Vpc(self, "Vpc", cidr_block="10.0.0.0/16", protect=True)
        subnet = ec2.Subnet(self, "A", vpc=vpc.id, cidr_block="10.0.1.0/24")
        ec2.Subnet(self, "B", vpc=vpc, cidr_block="10.0.2.0/24", map_public_ip=True)  # misspelt
        https = ec2.Rule.tcp(443, source="0.0.0.0/0")
        sg = ec2.SecurityGroup(self, "Sg", vpc=vpc, ingress=(https,))
        role = iam.Role(self, "Role", assumed_by="ec2.amazonaws.com", tags={"team": vpc.id})
        password = secrets.Secret(self, "Pw", generate=secrets.Generate(length=32))
        password.grant_read(role)
        web = ec2.Instance(
            self,
            "Web",
            image="ami-12345678",
            instance_type="t3.micro",
            subnet=subnet,
            security_groups=[sg],
            role=role,
            user_data=f"#!/bin/sh\\nfetch {password.arn}\\n",
            depends_on=vpc,
            ignore_changes=["user_data"],
        )
        s3.Bucket(self, "Logs", versioned="yes")  # wrong type
        Output(self, "Ip", web.public_ip)


Web(App(), "web")
"""


def test_mypy_reports_a_misspelt_keyword_and_a_wrong_type_and_passes_the_examples(
    tmp_path: Path,
) -> None:
    stack = tmp_path / "user_stack.py"
    stack.write_text(USER_STACK)
    files = [stack]
    # Examples are all named app.py: copies with distinct names are checked in one run.
    for example in sorted((ROOT / "examples").glob("*/app.py")):
        copy = tmp_path / f"example_{example.parent.name.replace('-', '_')}.py"
        copy.write_text(example.read_text())
        files.append(copy)
        # The modules an example's app.py imports from its folder (golden_web.py).
        for module in sorted(example.parent.glob("*.py")):
            if module.name not in ("app.py", "conftest.py", "__init__.py") and not (
                module.name.startswith("test_")
            ):
                (tmp_path / module.name).write_text(module.read_text())
                files.append(tmp_path / module.name)
    # From the checkout (its infradsl and its mypy configuration, strict), reusing the
    # project's mypy cache.
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--no-error-summary", *map(str, files)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    errors = [
        re.sub(r"^.*?user_stack\.py", "user_stack.py", line)
        for line in result.stdout.splitlines()
        if ": error:" in line
    ]
    misspelt = USER_STACK.splitlines().index(
        next(line for line in USER_STACK.splitlines() if line.endswith("# misspelt"))
    )
    wrong = USER_STACK.splitlines().index(
        next(line for line in USER_STACK.splitlines() if line.endswith("# wrong type"))
    )
    assert errors == [
        f'user_stack.py:{misspelt + 1}: error: Unexpected keyword argument "map_public_ip" '
        'for "Subnet"  [call-arg]',
        f'user_stack.py:{wrong + 1}: error: Argument "versioned" to "Bucket" has incompatible '
        'type "str"; expected "bool"  [arg-type]',
    ], result.stdout + result.stderr


def _generate(tmp_path: Path, source: str) -> tuple[ModuleType, str]:
    """Write ``source`` as a module, import it, and run the generator over it."""
    package = tmp_path / "sigpkg"
    package.mkdir(exist_ok=True)
    (package / "__init__.py").write_text("")
    (package / "things.py").write_text(textwrap.dedent(source))
    sys.path.insert(0, str(tmp_path))
    before = set(_TYPES)
    try:
        tool = _tool()
        sys.modules.pop("sigpkg.things", None)
        sys.modules.pop("sigpkg", None)
        module = importlib.import_module("sigpkg.things")
        classes = tool.catalog(["sigpkg"])[module]
        _, _old, new = tool.render(module, classes)
        return tool, new
    finally:
        sys.path.remove(str(tmp_path))
        for name in set(_TYPES) - before:
            del _TYPES[name]


THINGS = '''\
"""Things."""

from __future__ import annotations

from infradsl.aws._common import Taggable
from infradsl.core.resource import prop, resource


@resource("test.Thing")
class Thing(Taggable):
    """A thing."""

    size: int = prop(int, default=1)
    names: list[str] = prop(list, items=(str,), factory=list)

    def describe(self) -> str:
        return "thing"
'''


def test_the_generator_adds_the_imports_it_needs_and_a_second_run_changes_nothing(
    tmp_path: Path,
) -> None:
    _, new = _generate(tmp_path, THINGS)
    assert "from typing import TYPE_CHECKING\n\nfrom infradsl.aws._common" in new
    assert (
        "if TYPE_CHECKING:\n    from collections.abc import Iterable, Mapping, Sequence\n\n"
        "    from infradsl.core.construct import Construct\n"
        "    from infradsl.core.reference import Reference\n"
    ) in new
    assert "            size: int | Reference = 1,\n" in new
    assert "            names: Sequence[str | Reference] = ...,\n" in new
    # Placed after the props, before the methods.
    assert new.index("def __init__(") < new.index("def describe")
    _, again = _generate(tmp_path, new)
    assert again == new
    check = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--isolated", "--select", "E,F,W,I", "-"],
        input=new,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert check.returncode == 0, check.stdout


def test_the_generator_refuses_a_resource_that_writes_its_own_init(tmp_path: Path) -> None:
    source = THINGS.replace(
        "    def describe(self) -> str:",
        "    def __init__(self, scope, id, /, **kwargs):\n"
        "        super().__init__(scope, id, **kwargs)\n\n"
        "    def describe(self) -> str:",
    )
    tool = _tool()
    with pytest.raises(tool.SignatureError) as info:
        _generate(tmp_path, source)
    assert str(info.value).endswith(
        "Thing defines __init__; use the _prepare/_finish hooks of Resource instead (its "
        "constructor signature is generated)"
    )
