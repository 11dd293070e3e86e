"""The boot snippet of ``Secret.fetch_at_boot`` runs under sh with stub curl, aws and sleep.

The stubs record their arguments and answer like the instance metadata service and the
AWS CLI do; the snippet is taken from the synthesized user data, with the secret's ARN
filled in as a deploy would.
"""

from __future__ import annotations

import shutil
import stat
import subprocess
from pathlib import Path
from typing import Any

import pytest

from infradsl import App, Stack
from infradsl.aws import ec2, iam, secrets
from infradsl.errors import ValidationError
from infradsl.synth import synthesize

ARN = "arn:aws:secretsmanager:eu-central-1:123456789012:secret:demo-DbPassword-AbCdEf"
VALUE = "s3cr3t-Value-9f8e7d"
SHELLS = [name for name in ("sh", "dash", "bash") if shutil.which(name)]

CURL = r"""#!/bin/sh
printf '%s\n' "$*" >> "$STUB_LOG/curl"
case "$*" in
  *"-X PUT"*"X-aws-ec2-metadata-token-ttl-seconds: 300"*/latest/api/token*) printf 'TOKEN-42' ;;
  *"X-aws-ec2-metadata-token: TOKEN-42"*/latest/meta-data/placement/region*)
    printf 'eu-central-1' ;;
  *) echo "curl: (22) The requested URL returned error: 401" >&2; exit 22 ;;
esac
"""

AWS = r"""#!/bin/sh
printf '%s\n' "$*" >> "$STUB_LOG/aws"
printf '%s\n' "${AWS_PAGER-unset}" >> "$STUB_LOG/aws-pager"
count=$(wc -l < "$STUB_LOG/aws")
if [ "$count" -le "${AWS_FAILS:-0}" ]; then
  echo "An error occurred (AccessDeniedException) when calling the GetSecretValue operation" >&2
  exit 254
fi
printf '%s\n' "$STUB_VALUE"
"""

SLEEP = """#!/bin/sh
printf '%s\\n' "$*" >> "$STUB_LOG/sleep"
"""


def user_data(**fetch: Any) -> str:
    """The user data of an instance using the snippet, with the ARN filled in."""
    app = App()
    stack = Stack(app, "demo", region="eu-central-1")
    vpc = ec2.Vpc(stack, "Vpc", cidr_block="10.0.0.0/16")
    subnet = ec2.Subnet(stack, "Public", vpc=vpc, cidr_block="10.0.1.0/24")
    role = iam.Role(stack, "Role", assumed_by="ec2.amazonaws.com")
    password = secrets.Secret(stack, "DbPassword", generate=secrets.Generate())
    password.grant_read(role)
    ec2.Instance(stack, "Web", image="ami-12345678", instance_type="t3.micro", subnet=subnet,
                 role=role, user_data=f"#!/bin/sh\n{password.fetch_at_boot(**fetch)}")
    joined = synthesize(app)["demo"]["resources"]["Web"]["properties"]["user_data"]["join"]
    assert {"ref": "DbPassword.arn"} in joined
    return "".join(ARN if part == {"ref": "DbPassword.arn"} else part for part in joined)


def stubs(tmp_path: Path) -> dict[str, str]:
    bin_dir, log = tmp_path / "bin", tmp_path / "log"
    bin_dir.mkdir()
    log.mkdir()
    for name, text in (("curl", CURL), ("aws", AWS), ("sleep", SLEEP)):
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    return {
        "PATH": f"{bin_dir}:/usr/bin:/bin",
        "STUB_LOG": str(log),
        "STUB_VALUE": VALUE,
        "HOME": str(tmp_path),
    }


def run(shell: str, script: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([shell, "-c", script], env=env, capture_output=True, text=True,
                          timeout=60, check=False)


def log(env: dict[str, str], name: str) -> list[str]:
    path = Path(env["STUB_LOG"]) / name
    return path.read_text().splitlines() if path.exists() else []


@pytest.mark.parametrize("shell", SHELLS)
@pytest.mark.parametrize("form", [{"to": "/run/db-password"}, {"env": "DB_PASSWORD"}],
                         ids=["file", "env"])
def test_the_snippet_parses_as_posix_sh(shell: str, form: dict[str, str]) -> None:
    args = [shell, "--posix", "-n"] if shell == "bash" else [shell, "-n"]
    result = subprocess.run([*args, "-c", user_data(**form)], capture_output=True, text=True,
                            check=False)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("shell", SHELLS)
def test_the_value_is_written_to_a_0600_file_through_imdsv2_and_never_printed(
    shell: str, tmp_path: Path
) -> None:
    env = stubs(tmp_path)
    dest = tmp_path / "run" / "app" / "db-password"
    script = user_data(to=str(dest)) + "echo started\n"
    result = run(shell, "umask 022\nset -x\n" + script.removeprefix("#!/bin/sh\n"), env)
    assert result.returncode == 0, result.stderr
    assert dest.read_text() == VALUE  # the CLI's trailing newline dropped
    assert stat.S_IMODE(dest.stat().st_mode) == 0o600
    assert not (dest.parent / "db-password.tmp").exists()
    assert result.stdout == "started\n"
    assert VALUE not in result.stdout + result.stderr
    assert "+ echo started" in result.stderr  # tracing is back on after the snippet
    token_call, region_call = log(env, "curl")
    assert "-X PUT" in token_call and "X-aws-ec2-metadata-token-ttl-seconds: 300" in token_call
    assert token_call.endswith("http://169.254.169.254/latest/api/token")
    assert "X-aws-ec2-metadata-token: TOKEN-42" in region_call
    assert region_call.endswith("http://169.254.169.254/latest/meta-data/placement/region")
    assert log(env, "aws") == [
        f"secretsmanager get-secret-value --secret-id {ARN} --region eu-central-1 "
        "--query SecretString --output text"
    ]
    assert log(env, "sleep") == []
    assert log(env, "aws-pager") == [""]  # AWS CLI v2's pager is off


@pytest.mark.parametrize("shell", SHELLS)
def test_an_existing_file_gets_mode_0600_and_the_umask_of_the_script_is_kept(
    shell: str, tmp_path: Path
) -> None:
    env = stubs(tmp_path)
    dest = tmp_path / "db-password"
    dest.write_text("old")
    dest.chmod(0o644)
    script = "umask 022\n" + user_data(to=str(dest)) + "umask\n"
    result = run(shell, script, env)
    assert result.returncode == 0, result.stderr
    assert (dest.read_text(), stat.S_IMODE(dest.stat().st_mode)) == (VALUE, 0o600)
    assert result.stdout.strip() == "0022"


@pytest.mark.parametrize("shell", SHELLS)
def test_the_env_form_exports_the_value_without_tracing_it(shell: str, tmp_path: Path) -> None:
    env = stubs(tmp_path)
    out = tmp_path / "seen"
    script = ("set -x\n" + user_data(env="DB_PASSWORD").removeprefix("#!/bin/sh\n")
              + f"printenv DB_PASSWORD > {out}\n")
    result = run(shell, script, env)
    assert result.returncode == 0, result.stderr
    assert out.read_text() == VALUE + "\n"  # printenv adds the newline
    assert VALUE not in result.stdout + result.stderr
    assert "printenv DB_PASSWORD" in result.stderr  # tracing restored


@pytest.mark.parametrize("shell", SHELLS)
def test_a_role_not_usable_yet_is_retried(shell: str, tmp_path: Path) -> None:
    env = {**stubs(tmp_path), "AWS_FAILS": "2"}
    dest = tmp_path / "pw"
    result = run(shell, user_data(to=str(dest), attempts=5), env)
    assert result.returncode == 0, result.stderr
    assert dest.read_text() == VALUE
    assert len(log(env, "aws")) == 3
    assert log(env, "sleep") == ["2", "2"]


@pytest.mark.parametrize("shell", SHELLS)
def test_a_secret_that_stays_unreadable_ends_the_script_with_a_message(
    shell: str, tmp_path: Path
) -> None:
    env = {**stubs(tmp_path), "AWS_FAILS": "100"}
    dest = tmp_path / "pw"
    result = run(shell, user_data(to=str(dest), attempts=3) + "echo never\n", env)
    assert result.returncode == 1
    assert "never" not in result.stdout
    assert (
        f"infradsl: cannot read secret {ARN}: GetSecretValue failed; does the instance role "
        "allow it (secret.grant_read(role))?" in result.stderr
    )
    assert len(log(env, "aws")) == 3
    assert not dest.exists()


@pytest.mark.parametrize("shell", SHELLS)
def test_no_metadata_service_ends_the_script_with_a_message(shell: str, tmp_path: Path) -> None:
    env = stubs(tmp_path)
    (Path(env["PATH"].split(":")[0]) / "curl").write_text("#!/bin/sh\nexit 7\n")
    result = run(shell, user_data(env="DB_PASSWORD", attempts=2) + "echo never\n", env)
    assert result.returncode == 1
    assert "no answer from the instance metadata service (IMDSv2)" in result.stderr
    assert log(env, "aws") == []


@pytest.mark.parametrize("shell", SHELLS)
def test_a_given_region_skips_the_metadata_service(shell: str, tmp_path: Path) -> None:
    env = stubs(tmp_path)
    result = run(shell, user_data(to=str(tmp_path / "pw"), region="us-west-2"), env)
    assert result.returncode == 0, result.stderr
    assert log(env, "curl") == []
    assert "--region us-west-2" in log(env, "aws")[0]


def test_the_synthesized_user_data_holds_the_arn_as_a_reference_and_never_the_value(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DB_PASSWORD", VALUE)
    app = App()
    stack = Stack(app, "demo")
    vpc = ec2.Vpc(stack, "Vpc", cidr_block="10.0.0.0/16")
    subnet = ec2.Subnet(stack, "Public", vpc=vpc, cidr_block="10.0.1.0/24")
    password = secrets.Secret(stack, "Pw", value=secrets.SecretValue.env("DB_PASSWORD"))
    ec2.Instance(stack, "Web", image="ami-12345678", instance_type="t3.micro", subnet=subnet,
                 user_data=f"#!/bin/sh\n{password.fetch_at_boot(to='/run/pw')}")
    document = synthesize(app)["demo"]
    parts = document["resources"]["Web"]["properties"]["user_data"]["join"]
    assert [part for part in parts if not isinstance(part, str)] == [{"ref": "Pw.arn"}]
    assert VALUE not in repr(document)


def test_an_unmanaged_secret_is_fetched_by_its_arn() -> None:
    snippet = secrets.fetch_at_boot(ARN, env="TOKEN")
    assert f"secret_id='{ARN}'" in snippet
    assert "export TOKEN\n" in snippet


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "fetch_at_boot() needs exactly one of to='/run/NAME' (a file) or env='NAME' "
             "(a variable) (got to=None, env=None)"),
        ({"to": "db-password"}, "'to' must be an absolute file path like /run/db-password "
                                "(got 'db-password')"),
        ({"to": "/run/"}, "'to' must be an absolute file path like /run/db-password "
                          "(got '/run/')"),
        ({"env": "DB-PASSWORD"}, "'env' must be a shell variable name like DB_PASSWORD "
                                 "(got 'DB-PASSWORD')"),
        ({"env": "X", "attempts": 0}, "'attempts' must be in 1..1000 (got 0)"),
    ],
)
def test_bad_arguments_are_refused_at_the_users_line(kwargs: dict[str, Any], message: str) -> None:
    password = secrets.Secret(Stack(App(), "demo"), "Pw", generate=secrets.Generate())
    with pytest.raises(ValidationError) as caught:
        password.fetch_at_boot(**kwargs)
    (problem,) = caught.value.problems
    assert (problem.path, problem.message) == ("demo/Pw", message)
    assert problem.location.startswith("tests/aws/test_secret_boot.py:")


def test_something_else_than_a_secret_is_refused() -> None:
    with pytest.raises(ValidationError) as caught:
        secrets.fetch_at_boot(42, to="/run/x")  # type: ignore[arg-type]
    assert caught.value.problems[0].message == (
        "fetch_at_boot() takes a secrets.Secret, a reference to its ARN or an ARN (got int)"
    )


def test_the_user_data_of_the_webapp_example_parses_as_posix_sh() -> None:
    import runpy

    root = Path(__file__).resolve().parents[2]
    module = runpy.run_path(str(root / "examples" / "webapp" / "app.py"))
    documents = synthesize(module["app"])
    scripts = [
        "".join(part if isinstance(part, str) else "x" for part in user_data["join"])
        for document in documents.values()
        for entry in document["resources"].values()
        if isinstance(user_data := entry["properties"].get("user_data"), dict)
    ]
    assert len(scripts) == 2
    for script in scripts:
        assert "secretsmanager get-secret-value" in script
        result = subprocess.run(["sh", "-n", "-c", script], capture_output=True, text=True,
                                check=False)
        assert result.returncode == 0, result.stderr


def test_a_secret_value_put_into_an_f_string_is_refused_at_the_users_line() -> None:
    value = secrets.SecretValue.env("DB_PASSWORD")
    with pytest.raises(ValidationError) as caught:
        f"#!/bin/sh\nexport DB_PASSWORD={value}\n"
    (problem,) = caught.value.problems
    assert problem.message == (
        "a SecretValue ($DB_PASSWORD) cannot be put into a string: its value is only read at "
        "deploy time, into the Secret; read it on the instance with "
        "secret.fetch_at_boot(to='/run/NAME') or env='NAME'"
    )
    assert problem.location.startswith("tests/aws/test_secret_boot.py:")
