"""A reference's value is only known at deploy time: using it as a known str is refused.

Operations on the reference itself raise at once, at the user's line; str operations on a
string that already holds one leave a damaged placeholder, reported at synth with the
line of the construct it was passed to. What works keeps working: f-strings, ``+``,
passing references, ``repr()``, ``infradsl.testing``.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import re
import textwrap
from pathlib import Path

import pytest

from infradsl import App, Output, Stack
from infradsl.aws import ec2
from infradsl.cli._loader import load_app
from infradsl.cli.main import main
from infradsl.errors import ReferenceAttributeError, ReferenceUseError, ValidationError
from infradsl.synth import synthesize, synthesize_stack
from infradsl.testing import Match, Template

PRELUDE = """\
from infradsl import App, Output, Stack
from infradsl.aws import ec2
app = App()
s = Stack(app, "demo")
vpc = ec2.Vpc(s, "Net", cidr_block="10.0.0.0/16")
"""
FIRST_LINE = PRELUDE.count("\n") + 1
KNOWN_AT_DEPLOY = "'demo/Net.id' is a reference whose value is only known at deploy time: "
USE_WHOLE = "; use it whole in an f-string or pass it as a property"

# (name, snippet, line of the error within the snippet (1-based), message after file:line)
RAISED = [
    (
        "if ref:",
        "if vpc.id:\n    pass",
        1,
        KNOWN_AT_DEPLOY + "if, and, or, not and bool() cannot test it" + USE_WHOLE,
    ),
    (
        "ref or default",
        'cidr = vpc.id or "none"',
        1,
        KNOWN_AT_DEPLOY + "if, and, or, not and bool() cannot test it" + USE_WHOLE,
    ),
    ("len(ref)", "len(vpc.id)", 1, KNOWN_AT_DEPLOY + "len() cannot measure it" + USE_WHOLE),
    (
        "ref[:-3]",
        "prefix = vpc.id[:-3]",
        1,
        KNOWN_AT_DEPLOY + "indexing and slicing cannot cut it" + USE_WHOLE,
    ),
    (
        "ref.upper()",
        "name = vpc.id.upper()",
        1,
        KNOWN_AT_DEPLOY + "the str method .upper() needs its text" + USE_WHOLE,
    ),
    (
        "ref.split()",
        'parts = vpc.arn.split(":")',
        1,
        "'demo/Net.arn' is a reference whose value is only known at deploy time: the str "
        "method .split() needs its text" + USE_WHOLE,
    ),
    (
        "{ref!r} in an f-string",
        'Output(s, "Id", f"id={vpc.id!r}")',
        1,
        KNOWN_AT_DEPLOY + "!r and %r would write the text 'Reference(Net.id)', not its "
        "value; write {ref} without !r, or pass it as a property",
    ),
    (
        "{ref=} in an f-string",
        'Output(s, "Id", f"{vpc.id=}")',
        1,
        KNOWN_AT_DEPLOY + "!r and %r would write the text 'Reference(Net.id)', not its "
        "value; write {ref} without !r, or pass it as a property",
    ),
    (
        "%r formatting",
        'Output(s, "Id", "id=%r" % vpc.id)',
        1,
        KNOWN_AT_DEPLOY + "!r and %r would write the text 'Reference(Net.id)', not its "
        "value; write {ref} without !r, or pass it as a property",
    ),
    (
        "a format spec",
        'Output(s, "Id", f"{vpc.id:>30}")',
        1,
        KNOWN_AT_DEPLOY + "the format spec '>30' cannot apply to it; write {ref} without a "
        "spec, or pass it as a property",
    ),
    (
        "ref == 'literal'",
        'if vpc.id == "vpc-0123":\n    pass',
        1,
        KNOWN_AT_DEPLOY + "== and != cannot compare it with 'vpc-0123'" + USE_WHOLE,
    ),
    (
        "'x' in ref",
        'if "vpc-" in vpc.id:\n    pass',
        1,
        KNOWN_AT_DEPLOY + "'in' cannot search it" + USE_WHOLE,
    ),
    (
        "iterating over ref",
        "letters = list(vpc.id)",
        1,
        KNOWN_AT_DEPLOY + "a for loop, list() or unpacking cannot iterate over it" + USE_WHOLE,
    ),
    ("int(ref)", "n = int(vpc.id)", 1, KNOWN_AT_DEPLOY + "int() cannot convert it" + USE_WHOLE),
    (
        "ref + a number",
        "n = vpc.id + 1",
        1,
        KNOWN_AT_DEPLOY + "+ cannot join int 1 to it; only a str can be joined to it, with + "
        "or in an f-string",
    ),
    (
        "inside a component",
        "from infradsl import Construct\n"
        "class Net(Construct):\n"
        "    def __init__(self, scope, id):\n"
        "        super().__init__(scope, id)\n"
        '        self.vpc = ec2.Vpc(self, "Vpc", cidr_block="10.1.0.0/16")\n'
        '        if self.vpc.arn.endswith("x"):\n'
        "            pass\n"
        'Net(s, "Comp")',
        6,
        "'demo/Comp/Vpc.arn' is a reference whose value is only known at deploy time: the str "
        "method .endswith() needs its text" + USE_WHOLE,
    ),
]

# (name, snippet, line of the construct within the snippet, path, message as a regex)
DAMAGE = "holds a reference placeholder cut or changed by a str operation"
INSTEAD = (
    ": slicing, .upper(), .replace() and other str methods act on the placeholder, not on "
    "the value, which is only known at deploy time; use the reference whole in an f-string "
    "or pass it as a property"
)
NUMBER = r"\d+"
DAMAGED = [
    (
        'f"...{ref}"[:-3]',
        'sub = ec2.Subnet(s, "A", vpc=vpc, cidr_block="10.0.1.0/24")\n'
        'ec2.Instance(s, "Web", image="ami-12345678", instance_type="t3.micro", subnet=sub,\n'
        '             user_data=f"#!/bin/sh\\nping {vpc.id}"[:-3])',
        2,
        "demo/Web",
        re.escape(f"'user_data' {DAMAGE} ('") + r"\$\{InfraDsl(:\d*)?'" + re.escape(")" + INSTEAD),
    ),
    (
        'f"{ref}"[:-1]',
        'Output(s, "Cut", f"{vpc.id}"[:-1])',
        1,
        "demo/Cut",
        # Digits without their brace may be cut short: they name no reference.
        re.escape(f"'value' {DAMAGE} ('${{InfraDsl:") + NUMBER + re.escape("')" + INSTEAD),
    ),
    (
        'f"{ref}..."[1:]',
        'Output(s, "Cut", f"{vpc.id}/24"[1:])',
        1,
        "demo/Cut",
        re.escape(f"'value' {DAMAGE} ('InfraDsl:")
        + NUMBER
        + re.escape(f"}}' from 'demo/Net.id', read at app.py:{FIRST_LINE})" + INSTEAD),
    ),
    (
        'f"{ref}".upper()',
        'ec2.Vpc(s, "Other", cidr_block="10.1.0.0/16", tags={"peer": f"{vpc.id}".upper()})',
        1,
        "demo/Other",
        re.escape(f"\"tags['peer']\" {DAMAGE} ('${{INFRADSL:")
        + NUMBER
        + re.escape(f"}}' from 'demo/Net.id', read at app.py:{FIRST_LINE})" + INSTEAD),
    ),
    (
        'f"{ref}".lower()',
        'Output(s, "Low", f"name-{vpc.id}".lower())',
        1,
        "demo/Low",
        re.escape(f"'value' {DAMAGE} ('${{infradsl:")
        + NUMBER
        + re.escape(f"}}' from 'demo/Net.id', read at app.py:{FIRST_LINE})" + INSTEAD),
    ),
    (
        'f"{ref}".replace(":", "-")',
        'Output(s, "Rep", f"{vpc.arn}".replace(":", "-"))',
        1,
        "demo/Rep",
        re.escape(f"'value' {DAMAGE} ('${{InfraDsl')" + INSTEAD),
    ),
    (
        "a reference as a dict key",
        'Output(s, "Peers", {vpc.id: "peer"})',
        1,
        "demo/Peers",
        re.escape(
            "'value' has a key that is the reference 'demo/Net.id': keys must be known at "
            "synth time; put the reference in a value instead"
        ),
    ),
    (
        "a key made from a reference in an f-string",
        'ec2.Vpc(s, "Other", cidr_block="10.1.0.0/16", tags={f"peer-{vpc.id}": "yes"})',
        1,
        "demo/Other",
        re.escape(
            "'tags' has a key that holds the reference 'demo/Net.id': keys must be known at "
            "synth time; put the reference in a value instead"
        ),
    ),
    (
        "a hand-written placeholder",
        'Output(s, "Fake", "${InfraDsl:999999999}")',
        1,
        "demo/Fake",
        re.escape("'value' holds an unknown reference token in '${InfraDsl:999999999}'"),
    ),
]


def write_app(tmp_path: Path, snippet: str) -> Path:
    path = tmp_path / "app.py"
    path.write_text(PRELUDE + textwrap.dedent(snippet) + "\n")
    return path


@pytest.mark.parametrize(
    ("snippet", "line", "message"),
    [case[1:] for case in RAISED],
    ids=[case[0] for case in RAISED],
)
def test_an_operation_that_needs_the_value_is_refused_at_the_users_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, snippet: str, line: int, message: str
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ReferenceUseError) as info:
        load_app(str(write_app(tmp_path, snippet)))
    assert str(info.value) == f"app.py:{FIRST_LINE + line - 1}: {message}"
    assert info.value.location == f"app.py:{FIRST_LINE + line - 1}"
    assert isinstance(info.value, TypeError)


@pytest.mark.parametrize(
    ("snippet", "line", "message"),
    [case[1:] for case in RAISED[:6]],
    ids=[case[0] for case in RAISED[:6]],
)
def test_the_cli_shows_the_refusal_without_a_traceback_and_exits_1(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    snippet: str,
    line: int,
    message: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as info:
        main(["synth", str(write_app(tmp_path, snippet))])
    assert info.value.code == 1
    err = capsys.readouterr().err
    assert f"app.py:{FIRST_LINE + line - 1}: {message}" in err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("snippet", "line", "path", "pattern"),
    [case[1:] for case in DAMAGED],
    ids=[case[0] for case in DAMAGED],
)
def test_a_placeholder_damaged_by_a_str_operation_is_reported_at_synth(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    snippet: str,
    line: int,
    path: str,
    pattern: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    app = load_app(str(write_app(tmp_path, snippet)))
    with pytest.raises(ValidationError) as info:
        synthesize(app)
    problems = [str(p) for p in info.value.problems]
    assert len(problems) == 1, problems
    assert re.fullmatch(
        re.escape(f"app.py:{FIRST_LINE + line - 1}: {path}: ") + pattern, problems[0]
    )


def test_a_str_method_on_a_reference_is_also_an_attribute_error() -> None:
    vpc = ec2.Vpc(Stack(App(), "t"), "Vpc", cidr_block="10.0.0.0/16")
    with pytest.raises(ReferenceAttributeError, match=r"test_reference_use\.py:\d+: "):
        vpc.id.startswith("vpc-")
    assert not hasattr(vpc.id, "upper")
    assert getattr(vpc.id, "split", None) is None
    with pytest.raises(AttributeError, match="'Reference' object has no attribute 'nope'"):
        vpc.id.nope  # noqa: B018


def test_references_in_f_strings_and_concatenation_still_make_joins() -> None:
    stack = Stack(App(), "t")
    vpc = ec2.Vpc(stack, "Vpc", cidr_block="10.0.0.0/16")
    ref = vpc.id
    Output(stack, "F", f"a{ref}b")
    Output(stack, "Empty", f"{ref:}")
    Output(stack, "S", f"{ref!s}")
    Output(stack, "Plus", "a" + ref + "b")
    Output(stack, "Both", vpc.arn + ref)
    Output(stack, "Str", str(ref))
    Output(stack, "Percent", "id=%s" % ref)  # noqa: UP031
    Output(stack, "Format", "id={}".format(ref))  # noqa: UP032
    outputs = synthesize_stack(stack)["outputs"]
    assert outputs == {
        "F": {"join": ["a", {"ref": "Vpc.id"}, "b"]},
        "Empty": {"ref": "Vpc.id"},
        "S": {"ref": "Vpc.id"},
        "Plus": {"join": ["a", {"ref": "Vpc.id"}, "b"]},
        "Both": {"join": [{"ref": "Vpc.arn"}, {"ref": "Vpc.id"}]},
        "Str": {"ref": "Vpc.id"},
        "Percent": {"join": ["id=", {"ref": "Vpc.id"}]},
        "Format": {"join": ["id=", {"ref": "Vpc.id"}]},
    }


def test_repr_identity_copies_and_containers_keep_working(caplog: pytest.LogCaptureFixture) -> None:
    stack = Stack(App(), "t")
    vpc = ec2.Vpc(stack, "Vpc", cidr_block="10.0.0.0/16")
    group = ec2.SecurityGroup(stack, "Sg", vpc=vpc)
    ref = group.id
    assert repr(ref) == "Reference(Sg.id)"
    assert "source=Reference(Sg.id)" in repr(ec2.Rule.tcp(22, source=ref))  # attrs' repr

    @dataclasses.dataclass
    class Pair:
        ref: object

    assert repr(Pair(ref)).endswith("Pair(ref=Reference(Sg.id))")
    with caplog.at_level(logging.INFO):
        logging.getLogger("t").info("using %r", ref)
    assert "using Reference(Sg.id)" in caplog.text
    assert ref == ref and ref != group.id and ref in [ref] and {ref: 1}[ref] == 1
    assert ec2.Rule.tcp(22, source=ref) == ec2.Rule.tcp(22, source=ref)
    assert copy.deepcopy(ref).attribute == "id"


def test_infradsl_testing_works_with_references() -> None:
    stack = Stack(App(), "t")
    vpc = ec2.Vpc(stack, "Vpc", cidr_block="10.0.0.0/16")
    ec2.Subnet(stack, "A", vpc=vpc.id, cidr_block="10.0.1.0/24")
    ec2.SecurityGroup(stack, "Sg", vpc=vpc, description=f"group of {vpc.id}")
    template = Template.from_stack(stack)
    template.has_resource_properties(ec2.Subnet, {"vpc": Match.ref(vpc.id)})
    template.has_resource_properties(
        ec2.SecurityGroup, {"description": {"join": ["group of ", {"ref": "Vpc.id"}]}}
    )
