"""Rules that name another group are applied once both groups exist: groups may admit
each other inline, and no group waits for another group's rules."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from cloudsnap import owned, recording, run_cli

MUTUAL = """
from infradsl import App, Stack
from infradsl.aws import ec2


class Tiers(Stack):
    def __init__(self, scope, id, **kwargs):
        super().__init__(scope, id, **kwargs)
        vpc = ec2.Vpc(self, "Vpc", cidr_block="10.0.0.0/16")
        web = ec2.SecurityGroup(self, "WebSg", vpc=vpc, description="web",
                                ingress=[ec2.Rule.tcp(443, source="0.0.0.0/0")])
        db = ec2.SecurityGroup(self, "DbSg", vpc=vpc, description="db",
                               ingress=[ec2.Rule.tcp(5432, source=web)])
        web.ingress.append(ec2.Rule.tcp(8080, source=db))  # the callback port


app = App()
Tiers(app, "mutual", region="us-east-1")
"""

CHAIN = """
from infradsl import App, Stack
from infradsl.aws import ec2


class Chain(Stack):
    def __init__(self, scope, id, **kwargs):
        super().__init__(scope, id, **kwargs)
        vpc = ec2.Vpc(self, "Vpc", cidr_block="10.0.0.0/16")
        previous = None
        for i in range(6):
            rules = [ec2.Rule.tcp(8000 + i, source=previous)] if previous else []
            previous = ec2.SecurityGroup(self, f"Tier{i}", vpc=vpc, ingress=rules)


app = App()
Chain(app, "chain", region="us-east-1")
"""


def _write(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str) -> None:
    (tmp_path / "app.py").write_text(text)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("INFRADSL_STATE", str(tmp_path / "state"))


def _rules(cloud: Any, stack: str) -> dict[str, set[tuple[int, str]]]:
    ec2 = cloud.client("ec2")
    groups = ec2.describe_security_groups(
        Filters=[{"Name": "tag:infradsl:stack", "Values": [stack]}]
    )["SecurityGroups"]
    names = {g["GroupId"]: g["Tags"] for g in groups}
    path = {
        gid: next(t["Value"] for t in tags if t["Key"] == "infradsl:path")
        for gid, tags in names.items()
    }
    out: dict[str, set[tuple[int, str]]] = {}
    for group in groups:
        found = set()
        for perm in group["IpPermissions"]:
            for pair in perm.get("UserIdGroupPairs", []):
                found.add((perm["FromPort"], path.get(pair["GroupId"], pair["GroupId"])))
        out[path[group["GroupId"]]] = found
    return out


def test_two_groups_that_admit_each_other_deploy_plan_clean_and_destroy(
    tmp_path: Path, local_cloud: Any, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    _write(tmp_path, monkeypatch, MUTUAL)
    code, out, err = run_cli(["deploy", "app.py", "--yes"], capsys)
    assert code == 0, out + err
    assert _rules(local_cloud, "mutual") == {"WebSg": {(8080, "DbSg")}, "DbSg": {(5432, "WebSg")}}
    code, out, err = run_cli(["plan", "app.py", "--detailed-exitcode"], capsys)
    assert code == 0 and "No changes" in out, out + err
    with recording() as calls:
        code, out, err = run_cli(["destroy", "app.py", "--yes"], capsys)
    assert code == 0, out + err
    assert owned(local_cloud, "mutual") == []
    revoked = [c for c in calls.calls if c[1] == "RevokeSecurityGroupIngress"]
    deleted = [c for c in calls.calls if c[1] == "DeleteSecurityGroup"]
    assert len(revoked) == 2 and len(deleted) == 2


def test_the_synthesized_document_keeps_the_rules_where_they_were_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    import json

    _write(tmp_path, monkeypatch, MUTUAL)
    code, out, err = run_cli(["synth", "app.py", "-o", "out"], capsys)
    assert code == 0, out + err
    doc = json.loads((tmp_path / "out" / "mutual.json").read_text())
    web = doc["resources"]["WebSg"]
    assert web["properties"]["ingress"][1]["source"] == {"ref": "DbSg.id"}
    assert web["deferred"] == ["DbSg"] and "DbSg" in web["depends_on"]
    assert doc["resources"]["DbSg"]["deferred"] == ["WebSg"]


def test_no_group_create_waits_for_another_groups_authorize_call(
    tmp_path: Path, local_cloud: Any, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    _write(tmp_path, monkeypatch, CHAIN)
    with recording() as calls:
        code, out, err = run_cli(["deploy", "app.py", "--yes", "--concurrency", "10"], capsys)
    assert code == 0, out + err
    operations = [(op, params) for _s, op, params in calls.calls]
    creates = [i for i, (op, _p) in enumerate(operations) if op == "CreateSecurityGroup"]
    cross = [
        i
        for i, (op, params) in enumerate(operations)
        if op == "AuthorizeSecurityGroupIngress"
        and any(p.get("UserIdGroupPairs") for p in params.get("IpPermissions", []))
    ]
    assert len(creates) == 6 and len(cross) == 5
    # Without deferral, Tier1's create waited for Tier0's create *and* its rules, and so on.
    assert max(creates) < min(cross), operations
    expected = {f"Tier{i}": {(8000 + i, f"Tier{i - 1}")} for i in range(1, 6)}
    assert _rules(local_cloud, "chain") == {"Tier0": set(), **expected}
    code, out, err = run_cli(["plan", "app.py", "--detailed-exitcode"], capsys)
    assert code == 0, out + err
