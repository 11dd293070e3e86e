"""SEC002 finds a secret read at boot that the instance's role cannot read; SEC003 finds a
secret's value outside the secret."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from infradsl import App, Output, Stack
from infradsl.aws import ec2, iam, secrets
from infradsl.check import Severity, run_checks
from infradsl.cli.main import main
from infradsl.synth import synthesize

ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/db-AbCdEf"
VALUE = "Tr0ub4dor-and-3"


def found(app: App, rule_id: str) -> list[tuple[str, str, str]]:
    """(stack, path, message) of the findings of one rule."""
    return [
        (f.stack, f.path, f.message) for f in run_checks(synthesize(app)) if f.rule_id == rule_id
    ]


def web(stack: Stack, user_data: str, role: iam.Role | None = None, **kwargs: Any) -> None:
    vpc = ec2.Vpc(stack, "Vpc", cidr_block="10.0.0.0/16")
    subnet = ec2.Subnet(stack, "Public", vpc=vpc, cidr_block="10.0.1.0/24")
    ec2.Instance(stack, "Web", image="ami-12345678", instance_type="t3.micro", subnet=subnet,
                 role=role, user_data=user_data, **kwargs)


def app_with(*, grant: bool = False, statements: list[iam.Statement] = (),  # type: ignore[assignment]
             managed: list[str] = (), role: bool = True,  # type: ignore[assignment]
             secret_name: str | None = None) -> App:
    app = App()
    stack = Stack(app, "demo", region="us-east-1")
    password = secrets.Secret(stack, "DbPassword", generate=secrets.Generate(),
                              secret_name=secret_name)
    web_role = iam.Role(stack, "Role", assumed_by="ec2.amazonaws.com",
                        managed_policies=list(managed)) if role else None
    if grant and web_role is not None:
        password.grant_read(web_role)
    for statement in statements:
        assert web_role is not None
        web_role.add_to_policy(statement)
    web(stack, f"#!/bin/sh\n{password.fetch_at_boot(to='/run/db-password')}", web_role)
    return app


# SEC002 ---------------------------------------------------------------------------------


def test_a_secret_read_at_boot_without_a_grant_is_found() -> None:
    assert found(app_with(), "SEC002") == [
        ("demo", "Web", "user_data reads secret 'DbPassword' at boot, but role 'Role' cannot "
                        "read it (no statement allows secretsmanager:GetSecretValue on it): it "
                        "would fail at boot"),
    ]
    (finding,) = [f for f in run_checks(synthesize(app_with())) if f.rule_id == "SEC002"]
    assert finding.severity is Severity.HIGH


def test_grant_read_satisfies_it() -> None:
    assert found(app_with(grant=True), "SEC002") == []


def test_an_instance_without_a_role_is_found() -> None:
    assert found(app_with(role=False), "SEC002") == [
        ("demo", "Web", "user_data reads secret 'DbPassword' at boot, but the instance has no "
                        "role: it would fail at boot"),
    ]


@pytest.mark.parametrize("resource", [
    "*",
    "arn:aws:secretsmanager:*:*:secret:*",
    "arn:aws:secretsmanager:us-east-1:123456789012:secret:*",
    "arn:*:secretsmanager:us-east-1:*:*",
])
@pytest.mark.parametrize("action", ["secretsmanager:GetSecretValue", "secretsmanager:*",
                                    "secretsmanager:Get*", "*"])
def test_a_wildcard_covering_the_secret_satisfies_it(resource: str, action: str) -> None:
    statement = iam.Statement(actions=[action], resources=[resource])
    assert found(app_with(statements=[statement]), "SEC002") == []


@pytest.mark.parametrize(("statement", "why"), [
    (iam.Statement(actions=["secretsmanager:DescribeSecret"], resources=["*"]),
     "no statement allows secretsmanager:GetSecretValue on it"),
    (iam.Statement(actions=["secretsmanager:GetSecretValue"],
                   resources=["arn:aws:secretsmanager:eu-west-1:*:secret:*"]),
     "no statement allows secretsmanager:GetSecretValue on it"),
    (iam.Statement(actions=["secretsmanager:GetSecretValue"],
                   resources=["arn:aws:secretsmanager:us-east-1:123456789012:secret:other-??????"]),
     "no statement allows secretsmanager:GetSecretValue on it"),
    (iam.Statement(actions=["s3:GetObject"], resources=["*"]),
     "no statement allows secretsmanager:GetSecretValue on it"),
])
def test_a_statement_that_does_not_cover_the_secret_is_found(
    statement: iam.Statement, why: str
) -> None:
    assert [m for _, _, m in found(app_with(statements=[statement]), "SEC002")] == [
        f"user_data reads secret 'DbPassword' at boot, but role 'Role' cannot read it ({why}): "
        "it would fail at boot"
    ]


def test_a_named_secret_is_covered_by_a_pattern_on_its_name() -> None:
    ok = iam.Statement(actions=["secretsmanager:GetSecretValue"],
                       resources=["arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/db-*"])
    assert found(app_with(statements=[ok], secret_name="prod/db"), "SEC002") == []
    other = iam.Statement(actions=["secretsmanager:GetSecretValue"],
                          resources=["arn:aws:secretsmanager:us-east-1:*:secret:prod/web-*"])
    assert len(found(app_with(statements=[other], secret_name="prod/db"), "SEC002")) == 1


def test_a_deny_statement_wins_over_the_grant() -> None:
    deny = iam.Statement(actions=["secretsmanager:*"], resources=["*"], effect="Deny")
    assert [m for _, _, m in found(app_with(grant=True, statements=[deny]), "SEC002")] == [
        "user_data reads secret 'DbPassword' at boot, but role 'Role' cannot read it "
        "(statements[1] of policy 'Role/DefaultPolicy' denies it): it would fail at boot"
    ]


def test_managed_policies_are_judged_by_a_table_and_unknown_ones_leave_it_open() -> None:
    aws = "arn:aws:iam::aws:policy/"
    assert found(app_with(managed=[aws + "SecretsManagerReadWrite"]), "SEC002") == []
    assert found(app_with(managed=["arn:aws:iam::123456789012:policy/custom"]), "SEC002") == []
    assert len(found(app_with(managed=[aws + "AmazonSSMManagedInstanceCore"]), "SEC002")) == 1


def test_a_role_infradsl_does_not_manage_is_left_open() -> None:
    app = App()
    stack = Stack(app, "demo", region="us-east-1")
    password = secrets.Secret(stack, "DbPassword", generate=secrets.Generate())
    web(stack, f"#!/bin/sh\n{password.fetch_at_boot(env='PW')}",
        iam.Role.lookup(stack, "Ops", name="ops-role"))
    assert found(app, "SEC002") == []


def test_a_secret_and_a_grant_in_another_stack_are_followed() -> None:
    app = App()
    shared = Stack(app, "shared", region="us-east-1")
    stack = Stack(app, "web", region="us-east-1")
    password = secrets.Secret(shared, "DbPassword", generate=secrets.Generate())
    token = secrets.Secret(shared, "ApiToken", generate=secrets.Generate())
    role = iam.Role(stack, "Role", assumed_by="ec2.amazonaws.com")
    password.grant_read(role)
    web(stack, f"#!/bin/sh\n{password.fetch_at_boot(to='/run/pw')}"
               f"{token.fetch_at_boot(env='API_TOKEN')}", role)
    assert found(app, "SEC002") == [
        ("web", "Web", "user_data reads secret 'shared/ApiToken' at boot, but role 'Role' "
                       "cannot read it (no statement allows secretsmanager:GetSecretValue on "
                       "it): it would fail at boot"),
    ]


def test_an_explicit_instance_profile_leads_to_its_role() -> None:
    app = App()
    stack = Stack(app, "demo", region="us-east-1")
    password = secrets.Secret(stack, "DbPassword", generate=secrets.Generate())
    role = iam.Role(stack, "Role", assumed_by="ec2.amazonaws.com")
    web(stack, f"#!/bin/sh\n{password.fetch_at_boot(to='/run/pw')}",
        instance_profile=role.instance_profile())
    assert [p for _, p, _ in found(app, "SEC002")] == ["Web"]


def test_a_literal_secret_arn_in_user_data_is_checked_against_the_patterns() -> None:
    def app_reading(resource: str) -> App:
        app = App()
        stack = Stack(app, "demo", region="us-east-1")
        role = iam.Role(stack, "Role", assumed_by="ec2.amazonaws.com")
        role.add_to_policy(iam.Statement(actions=["secretsmanager:GetSecretValue"],
                                         resources=[resource]))
        web(stack, f"#!/bin/sh\n{secrets.fetch_at_boot(ARN.removesuffix('-AbCdEf'), env='X')}",
            role)
        return app

    assert found(app_reading("arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/*"),
                 "SEC002") == []
    assert found(app_reading("arn:aws:secretsmanager:us-east-1:123456789012:secret:dev/*"),
                 "SEC002") == [
        ("demo", "Web", "user_data reads secret "
                        "'arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/db' at boot, "
                        "but role 'Role' cannot read it (no statement allows "
                        "secretsmanager:GetSecretValue on it): it would fail at boot"),
    ]


def test_user_data_that_names_no_secret_is_not_checked() -> None:
    app = App()
    web(Stack(app, "demo", region="us-east-1"), "#!/bin/sh\necho hello\n")
    assert found(app, "SEC002") == []


def test_an_acknowledged_sec002_passes() -> None:
    app = app_with()
    app.node.find_child("demo").node.find_child("Web").node.acknowledge(
        "SEC002", reason="the role gets its policy from an SCP-managed baseline")
    (finding,) = [f for f in run_checks(synthesize(app)) if f.rule_id == "SEC002"]
    assert finding.acknowledged == "the role gets its policy from an SCP-managed baseline"


# SEC003 ---------------------------------------------------------------------------------


def env_secret_app(monkeypatch: pytest.MonkeyPatch, **where: Any) -> App:
    monkeypatch.setenv("DB_PASSWORD", VALUE)
    app = App()
    stack = Stack(app, "demo", region="us-east-1")
    secrets.Secret(stack, "DbPassword", value=secrets.SecretValue.env("DB_PASSWORD"))
    web(stack, where.pop("user_data", "#!/bin/sh\n"), **where)
    return app


def test_the_value_of_an_env_secret_in_user_data_is_found(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    app = env_secret_app(monkeypatch, user_data=f"#!/bin/sh\n./start --db 'app:{VALUE}'\n")
    findings = [f for f in run_checks(synthesize(app)) if f.rule_id == "SEC003"]
    assert [(f.path, f.message, f.severity) for f in findings] == [
        ("Web", "user_data holds the value of secret 'DbPassword' ($DB_PASSWORD)",
         Severity.CRITICAL),
    ]
    assert all(VALUE not in f.message for f in run_checks(synthesize(app)))


def test_the_value_of_an_env_secret_in_a_tag_or_an_output_is_found(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    app = env_secret_app(monkeypatch, tags={"Build": f"v1-{VALUE}"})
    Output(app.node.find_child("demo"), "Leak", f"{VALUE}")
    assert found(app, "SEC003") == [
        ("demo", "Leak", "the output's value holds the value of secret 'DbPassword' "
                         "($DB_PASSWORD)"),
        ("demo", "Web", "tags['Build'] holds the value of secret 'DbPassword' ($DB_PASSWORD)"),
    ]


def test_a_value_not_in_the_environment_or_too_short_is_not_looked_for(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    app = env_secret_app(monkeypatch, user_data="#!/bin/sh\necho abc\n")
    monkeypatch.delenv("DB_PASSWORD")
    assert found(app, "SEC003") == []
    monkeypatch.setenv("DB_PASSWORD", "abc")
    assert found(app, "SEC003") == []


@pytest.mark.parametrize(("script", "lines"), [
    ("aws secretsmanager get-secret-value --secret-id prod/db\n", [1]),
    ("set -e\naws secretsmanager get-secret-value \\\n  --secret-id prod/db \\\n"
     "  --query SecretString --output text\necho done\n", [2]),
    ("aws secretsmanager get-secret-value --secret-id prod/db > /run/db\n", []),
    ("PW=$(aws secretsmanager get-secret-value --secret-id prod/db)\n", []),
    ("aws secretsmanager get-secret-value --secret-id prod/db | docker login "
     "--password-stdin\n", []),
    ("# aws secretsmanager get-secret-value --secret-id prod/db\n", []),
    ("aws secretsmanager get-secret-value --secret-id prod/db 2>/dev/null\n", [1]),
    ("aws secretsmanager get-secret-value --secret-id prod/db || echo failed\n", [1]),
    ("aws secretsmanager get-secret-value --secret-id prod/db 1>/run/db 2>&1\n", []),
    ("aws secretsmanager get-secret-value --secret-id prod/db &>/run/db\n", []),
])
def test_user_data_that_prints_a_fetched_value_is_found(script: str, lines: list[int]) -> None:
    app = App()
    web(Stack(app, "demo", region="us-east-1"), "#!/bin/sh\n" + script)
    assert found(app, "SEC003") == [
        ("demo", "Web", f"user_data line {line + 1} prints a secret's value (get-secret-value "
                        "with its output neither captured, redirected nor piped): it ends up in "
                        "the console output")
        for line in lines
    ]


def test_the_boot_snippet_passes_every_secret_rule() -> None:
    findings = run_checks(synthesize(app_with(grant=True)))
    assert [f for f in findings if f.rule_id.startswith("SEC")] == []


# the command line ------------------------------------------------------------------------

CLI_APP = """\
from infradsl import App, Stack
from infradsl.aws import ec2, iam, secrets

app = App()
stack = Stack(app, "demo", region="us-east-1")
vpc = ec2.Vpc(stack, "Vpc", cidr_block="10.0.0.0/16")
subnet = ec2.Subnet(stack, "Public", vpc=vpc, cidr_block="10.0.1.0/24")
role = iam.Role(stack, "Role", assumed_by="ec2.amazonaws.com")
password = secrets.Secret(stack, "DbPassword", value=secrets.SecretValue.env("DB_PASSWORD"))
ec2.Instance(stack, "Web", image="ami-12345678", instance_type="t3.micro", subnet=subnet,
             role=role, user_data=f"#!/bin/sh\\n{password.fetch_at_boot(to='/run/pw')}",
             tags={"Debug": __import__("os").environ["DB_PASSWORD"]})
"""


def test_infradsl_check_flags_both_rules_and_says_how_to_fix_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DB_PASSWORD", VALUE)
    monkeypatch.setenv("COLUMNS", "300")
    (tmp_path / "app.py").write_text(CLI_APP)
    with pytest.raises(SystemExit) as exit_info:
        main(["check", "app.py"])
    out, _ = capsys.readouterr()
    assert exit_info.value.code == 1
    assert "Secret unreadable at boot: user_data reads secret 'DbPassword' at boot, but role " \
           "'Role' cannot read it" in " ".join(out.split())
    assert "Secret value exposed: tags['Debug'] holds the value of secret 'DbPassword' " \
           "($DB_PASSWORD)" in " ".join(out.split())
    assert "SEC002: Let the instance's role read the secret: secret.grant_read(role)." in out
    assert VALUE not in out
