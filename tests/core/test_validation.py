"""Every kind of bad input gets a message naming the construct path and the user's file:line."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from infradsl.cli._loader import load_app
from infradsl.cli.main import main
from infradsl.errors import ValidationError
from infradsl.synth import synthesize

PRELUDE = """\
from infradsl import App, Output, Stack
from infradsl.aws import ec2, iam, secrets
app = App()
s = Stack(app, "demo")
vpc = ec2.Vpc(s, "Net", cidr_block="10.0.0.0/16")
"""
FIRST_LINE = PRELUDE.count("\n") + 1

# (name, snippet, line of the problem within the snippet (1-based), path, message)
CASES = [
    (
        "invalid cidr",
        'ec2.Vpc(s, "Bad", cidr_block="10.0.0.0/33")',
        1,
        "demo/Bad",
        "'cidr_block' must be a CIDR like 10.0.0.0/16 (got '10.0.0.0/33')",
    ),
    (
        "cidr with host bits",
        'ec2.Vpc(s, "Bad", cidr_block="10.0.0.1/16")',
        1,
        "demo/Bad",
        "'cidr_block' must be a CIDR like 10.0.0.0/16 (got '10.0.0.1/16'); did you mean "
        "'10.0.0.0/16'?",
    ),
    (
        "vpc cidr too large",
        'ec2.Vpc(s, "Big", cidr_block="10.0.0.0/8")',
        1,
        "demo/Big",
        "'cidr_block' must be a CIDR between /16 and /28 (got '10.0.0.0/8')",
    ),
    (
        "vpc cidr too small",
        'ec2.Vpc(s, "Tiny", cidr_block="10.0.0.0/30")',
        1,
        "demo/Tiny",
        "'cidr_block' must be a CIDR between /16 and /28 (got '10.0.0.0/30')",
    ),
    (
        "subnet outside its vpc",
        'ec2.Subnet(s, "Out", vpc=vpc, cidr_block="10.1.0.0/24")',
        1,
        "demo/Out",
        "'cidr_block' 10.1.0.0/24 is outside its VPC 'Net' (10.0.0.0/16); pick a range inside it",
    ),
    (
        "overlapping sibling subnets",
        'ec2.Subnet(s, "A", vpc=vpc, cidr_block="10.0.1.0/24")\n'
        'ec2.Subnet(s, "B", vpc=vpc, cidr_block="10.0.1.128/25")',
        2,
        "demo/B",
        "'cidr_block' 10.0.1.128/25 overlaps subnet 'A' (10.0.1.0/24) in the same VPC",
    ),
    (
        "port out of range",
        'ec2.SecurityGroup(s, "Sg", vpc=vpc, ingress=[ec2.Rule.tcp(70000, source="0.0.0.0/0")])',
        1,
        "demo/Sg",
        "'ingress[0].from_port' must be a port in 0..65535 (got 70000)",
    ),
    (
        "negative port",
        'ec2.SecurityGroup(s, "Sg", vpc=vpc, ingress=[ec2.Rule.udp(-1, 53, source="0.0.0.0/0")])',
        1,
        "demo/Sg",
        "'ingress[0].from_port' must be a port in 0..65535 (got -1)",
    ),
    (
        "reversed port range",
        'ec2.SecurityGroup(s, "Sg", vpc=vpc, ingress=[ec2.Rule.tcp(443, 80, source="0.0.0.0/0")])',
        1,
        "demo/Sg",
        "'ingress[0]' port range is reversed: from_port 443 > to_port 80",
    ),
    (
        "unknown protocol",
        'ec2.SecurityGroup(s, "Sg", vpc=vpc, ingress=[\n'
        '    ec2.Rule(protocol="gre", from_port=0, to_port=0, source="10.0.0.0/8")])',
        1,
        "demo/Sg",
        "'ingress[0].protocol' must be one of 'tcp', 'udp', 'icmp', 'all' (got 'gre')",
    ),
    (
        "duplicate id in one scope",
        'ec2.Vpc(s, "Net", cidr_block="10.1.0.0/16")',
        1,
        "demo/Net",
        "duplicate id 'Net' in scope 'demo' (first defined at app.py:5); ids must be unique "
        "among siblings",
    ),
    (
        "illegal id characters",
        'ec2.Vpc(s, "my vpc!", cidr_block="10.1.0.0/16")',
        1,
        "demo/my vpc!",
        "id 'my vpc!' is not valid: use letters, digits, '-' and '_' (up to 128, "
        "starting with a letter or digit)",
    ),
    (
        "dependency cycle",
        'a = ec2.Subnet(s, "A", vpc=vpc, cidr_block="10.0.1.0/24")\n'
        'b = ec2.Subnet(s, "B", vpc=vpc, cidr_block="10.0.2.0/24", depends_on=[a])\n'
        "a.options = type(a.options)(depends_on=(b,))",
        1,
        "demo/A",
        "dependency cycle: A -> B -> A; remove one of these references or depends_on",
    ),
    (
        "dependency cycle through depends_on",
        'x = ec2.ElasticIp(s, "X")\n'
        'y = ec2.ElasticIp(s, "Y", depends_on=[x])\n'
        'z = ec2.ElasticIp(s, "Z", depends_on=[y])\n'
        "x.options = type(x.options)(depends_on=(z,))",
        1,
        "demo/X",
        "dependency cycle: X -> Z -> Y -> X; remove one of these references or depends_on",
    ),
    (
        "reference to another app",
        "def foreign():\n"
        '    return ec2.Vpc(Stack(App(), "other"), "Vpc", cidr_block="10.0.0.0/16")\n'
        'ec2.Subnet(s, "Sub", vpc=foreign(), cidr_block="10.0.1.0/24")',
        3,
        "demo/Sub",
        "'vpc' refers to 'other/Vpc', a resource of another App; constructs of one app cannot "
        "reference another app's resources",
    ),
    (
        "plain string where a secret belongs",
        'secrets.Secret(s, "Pw", value="hunter2")',
        1,
        "demo/Pw",
        "'value' must be a secret source, not a plain string: secrets never appear in "
        "code; use value=secrets.SecretValue.env('NAME') or generate=secrets.Generate()",
    ),
    (
        "wrong property type",
        'ec2.Vpc(s, "T", cidr_block=16)',
        1,
        "demo/T",
        "'cidr_block' must be str (got int 16)",
    ),
    (
        "wrong resource type",
        'ec2.Subnet(s, "Sub", vpc=iam.Role(s, "R", assumed_by="ec2.amazonaws.com"), '
        'cidr_block="10.0.1.0/24")',
        1,
        "demo/Sub",
        "'vpc' must be aws.ec2.Vpc (got Role Role('demo/R'))",
    ),
    (
        "unknown property name",
        'ec2.Subnet(s, "Sub", vpc=vpc, cidr_block="10.0.1.0/24", map_public_ip=True)',
        1,
        "demo/Sub",
        "unknown property 'map_public_ip' for aws.ec2.Subnet (did you mean "
        "'map_public_ip_on_launch'?)",
    ),
    (
        "missing required property",
        'ec2.Subnet(s, "Sub", vpc=vpc)',
        1,
        "demo/Sub",
        "missing required property 'cidr_block' for aws.ec2.Subnet",
    ),
    (
        "availability zone in another region",
        'ec2.Subnet(s, "Sub", vpc=vpc, cidr_block="10.0.1.0/24", availability_zone="eu-west-1a")',
        1,
        "demo/Sub",
        "'availability_zone' 'eu-west-1a' is not in the stack's region "
        "'us-east-1'; use a zone like us-east-1a",
    ),
    (
        "user data over 16 KiB in UTF-8 bytes though under 16384 characters",
        'ec2.Instance(s, "Web", image="ami-12345678", instance_type="t3.micro", '
        'subnet=ec2.Subnet(s, "Sub", vpc=vpc, cidr_block="10.0.1.0/24"), user_data="é" * 8193)',
        1,
        "demo/Web",
        "'user_data' must be at most 16384 bytes in UTF-8 (got 16386 bytes)",
    ),
    (
        "managed policy document over 6144 characters",
        'iam.Policy(s, "P", statements=[iam.Statement(actions=["s3:GetObject"], '
        'resources=[f"arn:aws:s3:::logs/{i:04}/*" for i in range(300)])])',
        1,
        "demo/P",
        "'statements' must make a policy document of at most 6144 characters without "
        "whitespace (got 8196); split them across several iam.Policy attached to the same "
        "roles",
    ),
    (
        "role default policy grown over 6144 characters by add_to_policy",
        'r = iam.Role(s, "R", assumed_by="ec2.amazonaws.com")\n'
        "for i in range(300):\n"
        '    r.add_to_policy(iam.Statement(actions=["s3:GetObject"], '
        'resources=[f"arn:aws:s3:::logs/{i:04}/*"]))',
        3,
        "demo/R/DefaultPolicy",
        "'statements' must make a policy document of at most 6144 characters without "
        "whitespace (got 25538); split them across several iam.Policy attached to the same "
        "roles",
    ),
    (
        "trust policy over 2048 characters",
        'iam.Role(s, "R", assumed_by="arn:aws:iam::123456789012:role/" + "x" * 2000)',
        1,
        "demo/R",
        "'assumed_by' must make a trust policy of at most 2048 characters without whitespace "
        "(got 2137); 2048 is AWS's default quota",
    ),
    (
        "more tags than AWS allows next to the system tags",
        'ec2.Vpc(s, "T", cidr_block="10.1.0.0/16", tags={f"k{i}": "v" for i in range(47)})',
        1,
        "demo/T",
        "'tags' must have at most 46 tags: AWS allows 50 per resource and infradsl adds 4 "
        "(Name, infradsl:stack, infradsl:path, infradsl:token) (got 47)",
    ),
    (
        "tag key over 128 characters",
        'ec2.Vpc(s, "T", cidr_block="10.1.0.0/16", tags={"k" * 129: "v"})',
        1,
        "demo/T",
        "'tags' keys must be 1..128 characters (got 129: '" + "k" * 56 + "...)",
    ),
    (
        "tag value over 256 characters",
        'ec2.Vpc(s, "T", cidr_block="10.1.0.0/16", tags={"team": "v" * 257})',
        1,
        "demo/T",
        "'tags' value for 'team' must be at most 256 characters (got 257)",
    ),
    (
        "tag key starting with aws: in any case",
        'ec2.Vpc(s, "T", cidr_block="10.1.0.0/16", tags={"AWS:team": "web"})',
        1,
        "demo/T",
        "'tags' key 'AWS:team' is reserved: 'aws:' and 'infradsl:' tags are set by AWS and "
        "infradsl",
    ),
    (
        "stack tags and resource tags together over the limit",
        't = Stack(app, "tagged", tags={f"s{i}": "v" for i in range(30)})\n'
        'ec2.Vpc(t, "V", cidr_block="10.1.0.0/16", tags={f"r{i}": "v" for i in range(20)})',
        2,
        "tagged/V",
        "'tags' must have at most 46 tags with the stack's tags merged in: AWS allows 50 per "
        "resource and infradsl adds 4 (Name, infradsl:stack, infradsl:path, infradsl:token) "
        "(got 50: 20 of the resource and 30 more from stack 'tagged')",
    ),
    (
        "more stack tags than AWS allows",
        'Stack(app, "tagged", tags={f"s{i}": "v" for i in range(47)})',
        1,
        "tagged",
        "'tags' must have at most 46 tags: AWS allows 50 per resource and infradsl adds 4 "
        "(Name, infradsl:stack, infradsl:path, infradsl:token) (got 47)",
    ),
    (
        "stack tag key starting with aws:",
        'Stack(app, "tagged", tags={"aws:cloudformation:stack-name": "web"})',
        1,
        "tagged",
        "'tags' key 'aws:cloudformation:stack-name' is reserved: 'aws:' and 'infradsl:' tags "
        "are set by AWS and infradsl",
    ),
    (
        "stack tag value over 256 characters",
        'Stack(app, "tagged", tags={"team": "v" * 257})',
        1,
        "tagged",
        "'tags' value for 'team' must be at most 256 characters (got 257)",
    ),
    (
        "stack tag value that is not a str",
        'Stack(app, "tagged", tags={"cost-center": 42})',
        1,
        "tagged",
        "'tags' value for 'cost-center' must be a str (got int 42)",
    ),
    (
        "stack name and path too long for the Name tag",
        'ec2.Vpc(Stack(app, "S" * 128), "V" * 128, cidr_block="10.0.0.0/16")',
        1,
        "S" * 128 + "/" + "V" * 128,
        "the 'Name' tag '<stack>/<path>' must be at most 256 characters (got 257); use "
        "shorter ids for the stack, its components or this resource",
    ),
    (
        "stack name with a dot",
        'Stack(app, "web.prod")',
        1,
        "web.prod",
        "id 'web.prod' is not valid: use letters, digits, '-' and '_' (up to 128, "
        "starting with a letter or digit)",
    ),
    (
        "stack name that climbs out of the state folder",
        'Stack(app, "../prod")',
        1,
        "../prod",
        "id '../prod' is not valid: use letters, digits, '-' and '_' (up to 128, "
        "starting with a letter or digit)",
    ),
    (
        "stack names differing only by case",
        'Stack(app, "Demo")',
        1,
        "Demo",
        "stack name 'Demo' differs from stack 'demo' (defined at app.py:4) only by case: "
        "their state files would be one file on macOS and Windows; rename one of them",
    ),
    (
        "stack named after a Windows device",
        'Stack(app, "aux")',
        1,
        "aux",
        "stack name 'aux' is a device name on Windows, where its state file 'aux.json' "
        "cannot be written: pick another name",
    ),
    (
        "acknowledgement without a reason",
        'vpc.node.acknowledge("SG001", reason="ok")',
        1,
        "demo/Net",
        "acknowledging rule 'SG001' needs a written reason of at least 10 characters (got 'ok')",
    ),
]


def write_app(tmp_path: Path, snippet: str) -> Path:
    path = tmp_path / "app.py"
    path.write_text(PRELUDE + textwrap.dedent(snippet) + "\n")
    return path


@pytest.mark.parametrize(
    ("snippet", "line", "path", "message"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_bad_input_is_reported_with_path_and_file_line(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    snippet: str,
    line: int,
    path: str,
    message: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    app = load_app(str(write_app(tmp_path, snippet)))
    with pytest.raises(ValidationError) as info:
        synthesize(app)
    expected = f"app.py:{FIRST_LINE + line - 1}: {path}: {message}"
    assert expected in [str(p) for p in info.value.problems]


@pytest.mark.parametrize(
    ("snippet", "line", "path", "message"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_the_cli_prints_bad_input_without_a_traceback_and_exits_1(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    snippet: str,
    line: int,
    path: str,
    message: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    app_file = write_app(tmp_path, snippet)
    with pytest.raises(SystemExit) as info:
        main(["synth", str(app_file)])
    assert info.value.code == 1
    err = capsys.readouterr().err
    assert f"app.py:{FIRST_LINE + line - 1}: {path}: {message}" in err
    assert "Traceback" not in err
    assert not (tmp_path / "infradsl.out").exists(), "nothing is written when input is bad"


def test_all_problems_of_an_app_are_reported_together(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    snippet = "\n".join(case[1] for case in CASES if "\n" not in case[1] and "Net" not in case[1])
    app = load_app(str(write_app(tmp_path, snippet)))
    with pytest.raises(ValidationError) as info:
        synthesize(app)
    text = str(info.value)
    assert text.startswith(f"{len(info.value.problems)} problems in the app:")
    assert len(info.value.problems) >= 12
    lines = [int(p.location.rsplit(":", 1)[1]) for p in info.value.problems]
    assert lines == sorted(lines), "problems are listed in source order"


def test_a_scope_that_is_not_a_construct_is_refused_at_once() -> None:
    from infradsl.aws import ec2
    from infradsl.errors import ConstructError

    with pytest.raises(ConstructError, match=r"test_validation\.py:\d+: the scope of Vpc"):
        ec2.Vpc("not a scope", "Vpc", cidr_block="10.0.0.0/16")  # type: ignore[arg-type]
