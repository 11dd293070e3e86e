"""`infradsl import` on the local cloud, as a new user runs it: a hand-made environment
becomes a module that passes ruff, plans no change, is flagged by `check` for what it
really does wrong, deploys without replacing anything, and destroys to zero."""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from cloudsnap import recording, run_cli
from handmade import build_handmade

pytestmark = pytest.mark.slow

RAW_ID = re.compile(r"^(vpc|subnet|igw|rtb|sg|nat|eipalloc|i|vol|key)-[0-9a-f]{6,}$")
# What the first deploy may do to an adopted resource: add infradsl's tags.
TAGGING = frozenset(
    {
        "CreateTags",
        "TagRole",
        "TagInstanceProfile",
        "TagPolicy",
        "TagResource",
        "PutBucketTagging",
    }
)


@pytest.fixture
def legacy(tmp_path: Path, local_cloud: Any, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The hand-made environment, and a project folder with its own state as the cwd."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("INFRADSL_STATE", str(tmp_path / "state"))
    return build_handmade(local_cloud)


def _import(ids: dict[str, str], capsys: pytest.CaptureFixture[str]) -> str:
    code, out, err = run_cli(["import", "--vpc", ids["vpc"], "-o", "legacy.py"], capsys)
    assert code == 0, out + err
    return out


def _string_values(tree: ast.AST) -> list[str]:
    """String constants passed as arguments of calls (property values, rules, routes)."""
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            for arg in [*node.args, *(k.value for k in node.keywords)]:
                for inner in ast.walk(arg):
                    if isinstance(inner, ast.Constant) and isinstance(inner.value, str):
                        found.append(inner.value)
    return found


def test_an_imported_vpc_is_code_a_person_would_write(
    legacy: dict[str, str], local_cloud: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    acl = local_cloud.client("ec2").create_network_acl(VpcId=legacy["vpc"])["NetworkAcl"]
    out = _import(legacy, capsys)
    assert "imported 15 resources" in out
    source = Path("legacy.py").read_text()
    ruff = subprocess.run(
        [
            sys.executable,
            "-m",
            "ruff",
            "check",
            "--isolated",
            "--select",
            "E,F,W,I,B,UP,SIM",
            "legacy.py",
        ],
        capture_output=True,
        text=True,
    )
    assert ruff.returncode == 0, ruff.stdout + ruff.stderr
    fmt = subprocess.run(
        [sys.executable, "-m", "ruff", "format", "--isolated", "--check", "legacy.py"],
        capture_output=True,
        text=True,
    )
    assert fmt.returncode == 0, fmt.stdout + fmt.stderr
    values = _string_values(ast.parse(source))
    assert [v for v in values if RAW_ID.match(v) or v.startswith("ami-")] == []
    # Objects passed by reference, ids from Name tags, both directions of the groups.
    assert "vpc=legacy," in source and "subnet=private_b," in source
    assert 'ec2.Rule.tcp(5432, source=app_sg, description="app to db")' in source
    assert "app_sg.ingress.append(ec2.Rule.tcp(8080, source=db))" in source
    assert "instance_profile=legacy_db_profile" in source and "role=legacy_db_role" in source
    assert "instance=legacy_db" in source and '"LegacyDb"' in source
    assert 'ec2.ElasticIp(self, "WebIp", instance=web)' in source
    # Defaults left out; what differs from them (and what AWS fixes at creation) kept.
    assert "instance_tenancy" not in source and "monitoring" not in source
    assert "enable_dns_hostnames=False" in source and 'availability_zone="us-east-1b"' in source
    assert 'group_name="db"' in source and 'role_name="legacy-db"' in source
    # AMI ids as named constants; the header says what was left out.
    assert re.search(rf'^[A-Z0-9_]+_IMAGE = "{legacy["image"]}"$', source, re.M)
    header = source.split("\n\n", 1)[0]
    assert "main route table" in header and "default security group" in header
    assert f"network ACL {acl['NetworkAclId']}: infradsl has no network ACLs" in header
    assert "user data" in header


def test_the_first_plan_shows_no_changes_and_check_flags_the_snowflake(
    legacy: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    _import(legacy, capsys)
    code, out, err = run_cli(["plan", "legacy.py", "--detailed-exitcode"], capsys)
    assert code == 0, out + err
    assert "No changes. The cloud matches the code." in out
    assert "14 adopted resources" in out

    code, out, _ = run_cli(["check", "legacy.py"], capsys)
    assert code == 1
    assert re.search(r"SG001 .*legacy/App .*tcp 22 to 0\.0\.0\.0/0", out)
    assert re.search(r"EC2001 .*legacy/LegacyDb", out)
    assert re.search(r"EC2002 .*legacy/Pgdata", out)


def test_the_first_deploy_only_tags_and_destroy_removes_everything(
    legacy: dict[str, str], local_cloud: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    _import(legacy, capsys)
    with recording() as calls:
        code, out, err = run_cli(["deploy", "legacy.py", "--yes"], capsys)
    assert code == 0, out + err
    assert "✓ legacy: infradsl's tags added to 14 adopted resources" in out
    operations = {operation for _s, operation, _p in calls.mutating()}
    assert operations and operations <= TAGGING, operations
    state = json.loads(Path("state/local/legacy.json").read_text())
    assert state["resources"]["LegacyDb"]["physical_id"] == legacy["db"]
    assert state["resources"]["Web"]["physical_id"] == legacy["web"]
    assert not any(r["options"].get("adopted") for r in state["resources"].values())
    ec2 = local_cloud.client("ec2")
    tags = ec2.describe_tags(Filters=[{"Name": "resource-id", "Values": [legacy["db"]]}])["Tags"]
    assert {t["Key"]: t["Value"] for t in tags}["infradsl:path"] == "LegacyDb"

    code, out, _ = run_cli(["plan", "legacy.py", "--detailed-exitcode"], capsys)
    assert code == 0 and "adopted" not in out

    code, out, err = run_cli(["destroy", "legacy.py", "--yes"], capsys)
    assert code == 0, out + err
    assert ec2.describe_vpcs(VpcIds=[])["Vpcs"] == [] or legacy["vpc"] not in {
        v["VpcId"] for v in ec2.describe_vpcs()["Vpcs"]
    }
    live = [
        i["InstanceId"]
        for r in ec2.describe_instances()["Reservations"]
        for i in r["Instances"]
        if i["State"]["Name"] not in ("terminated", "shutting-down")
    ]
    assert live == []
    assert legacy["data"] not in {v["VolumeId"] for v in ec2.describe_volumes()["Volumes"]}
    assert ec2.describe_addresses()["Addresses"] == []
    iam = local_cloud.client("iam")
    assert "legacy-db" not in {r["RoleName"] for r in iam.list_roles()["Roles"]}
    assert iam.list_instance_profiles()["InstanceProfiles"] == []
    assert iam.list_policies(Scope="Local")["Policies"] == []


def test_a_second_import_does_not_adopt_what_a_stack_already_owns(
    legacy: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    _import(legacy, capsys)
    code, out, err = run_cli(["import", "--id", legacy["db"], "-o", "again.py"], capsys)
    assert code == 1, out + err
    assert "nothing to import, nothing was written" in err
    assert f"Instance {legacy['db']}: managed by infradsl stack 'legacy'" in err
    assert not Path("again.py").exists() and not Path("state/local/again.json").exists()


def test_import_refuses_an_unknown_vpc_and_an_existing_file(
    legacy: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    code, _out, err = run_cli(["import", "--vpc", "vpc-0000000000", "-o", "x.py"], capsys)
    assert code == 1 and "no VPC vpc-0000000000 in us-east-1" in err
    assert not Path("x.py").exists()
    Path("legacy.py").write_text("# mine\n")
    code, _out, err = run_cli(["import", "--vpc", legacy["vpc"], "-o", "legacy.py"], capsys)
    assert code == 1 and "--force" in err
    assert Path("legacy.py").read_text() == "# mine\n"


def test_one_server_imported_by_id_looks_its_network_up(
    legacy: dict[str, str], local_cloud: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    secrets = local_cloud.client("secretsmanager")
    secret = secrets.create_secret(Name="legacy/db-password", SecretString="hunter2")["ARN"]
    code, out, err = run_cli(
        ["import", "--id", legacy["db"], "--id", secret, "-o", "db.py"], capsys
    )
    assert code == 0, out + err
    source = Path("db.py").read_text()
    assert "hunter2" not in source and "hunter2" not in Path("state/local/db.json").read_text()
    # Its network is looked up, not adopted; what is part of the server is imported.
    assert f'ec2.Subnet.lookup(self, "PrivateB", id="{legacy["private"]}")' in source
    assert f'ec2.SecurityGroup.lookup(self, "Db", id="{legacy["db_sg"]}")' in source
    assert "ec2.Vpc(" not in source and "ec2.Subnet(" not in source
    for piece in (
        "ec2.Instance(",
        "ec2.Volume(",
        "iam.InstanceProfile(",
        "iam.Role(",
        "iam.Policy(",
    ):
        assert piece in source
    assert 'secrets.Secret(self, "LegacyDbPassword", secret_name="legacy/db-password")' in source
    code, out, err = run_cli(["plan", "db.py", "--detailed-exitcode"], capsys)
    assert code == 0, out + err
    assert "No changes" in out


def test_resources_imported_by_tag(
    legacy: dict[str, str], local_cloud: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    ec2 = local_cloud.client("ec2")
    tag = [{"Key": "team", "Value": "web"}]
    ec2.create_tags(Resources=[legacy["web"], legacy["app_sg"], legacy["public"]], Tags=tag)
    code, out, err = run_cli(["import", "--tag", "team=web", "-o", "web.py"], capsys)
    assert code == 0, out + err
    source = Path("web.py").read_text()
    assert 'tags={"team": "web"}' in source
    assert "ec2.Instance(" in source and "ec2.SecurityGroup(" in source
    # The group admits the db group, which is not tagged: looked up.
    assert f'ec2.SecurityGroup.lookup(self, "Db", id="{legacy["db_sg"]}")' in source
    code, out, err = run_cli(["plan", "web.py", "--detailed-exitcode"], capsys)
    assert code == 0, out + err


def test_replacing_the_servers_moves_the_data_volume_and_the_address(
    legacy: dict[str, str], local_cloud: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    """The golden-image step as far as it exists: a new image replaces both servers; the
    data volume and the elastic IP move to the new ones before the old ones go."""
    _import(legacy, capsys)
    ec2 = local_cloud.client("ec2")
    images = [i["ImageId"] for i in ec2.describe_images(Owners=["amazon"])["Images"]]
    golden = next(i for i in images if i != legacy["image"])
    module = Path("legacy.py")
    module.write_text(module.read_text().replace(f'"{legacy["image"]}"', f'"{golden}"'))
    # The database has a data volume: replacing it without a migration is refused.
    code, out, err = run_cli(["deploy", "legacy.py", "--yes"], capsys)
    assert code == 1, out + err
    assert "LegacyDb has its data on Pgdata and would be replaced" in out + err
    text = module.read_text()
    assert text.count('"LegacyDb",') == 1
    module.write_text(
        text.replace('"LegacyDb",', '"LegacyDb", migration=ec2.Migration(command="true"),')
    )
    with recording() as calls:
        code, out, err = run_cli(["deploy", "legacy.py", "--yes"], capsys)
    assert code == 0, out + err
    assert "Plan: 0 to create, 2 to update, 2 to replace, 0 to delete." in out
    state = json.loads(Path("state/local/legacy.json").read_text())["resources"]
    db, web = state["LegacyDb"]["physical_id"], state["Web"]["physical_id"]
    assert legacy["db"] != db and legacy["web"] != web
    volume = ec2.describe_volumes(VolumeIds=[legacy["data"]])["Volumes"][0]
    assert [(a["InstanceId"], a["Device"]) for a in volume["Attachments"]] == [(db, "/dev/sdf")]
    (address,) = ec2.describe_addresses(AllocationIds=[legacy["eip"]])["Addresses"]
    assert address["InstanceId"] == web
    order = [(o, p.get("InstanceIds") or p.get("InstanceId")) for _s, o, p in calls.calls]
    moved = order.index(("AssociateAddress", web))
    assert moved < order.index(("TerminateInstances", [legacy["web"]]))
