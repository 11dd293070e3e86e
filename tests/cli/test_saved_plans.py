"""Saved plans (`plan -o`, `deploy --plan`), plans as Markdown and JSON, `--lock-timeout`."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import click
import markdown
import pytest

from infradsl.check.finding import Finding, Severity
from infradsl.cli._markdown import MARKER, render_markdown
from infradsl.cli._saved import lock_timeout_seconds
from infradsl.cli.main import main
from infradsl.plan.change import Action, OutputChange, Plan, PropertyDiff, ResourceChange
from infradsl.plan.saved import SavedPlan, SavedPlanError, StackBasis, plan_json
from infradsl.state.backend import LockInfo, StateLockedError
from infradsl.state.lockwait import LockWaitTimeoutError, format_duration, wait_for_lock
from infradsl.testing.plugin import LocalCloudFixture

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "plan"


def review_plan() -> Plan:
    rule = {"protocol": "tcp", "from_port": 22, "to_port": 22, "source": "0.0.0.0/0"}
    return Plan(
        stack="webapp",
        region="us-east-1",
        notes=("the local cloud was restarted since the last deploy",),
        changes=(
            ResourceChange("Net/Vpc", "aws.ec2.Vpc", Action.NOOP),
            ResourceChange("Logs", "aws.s3.Bucket", Action.CREATE),
            ResourceChange(
                "WebSg",
                "aws.ec2.SecurityGroup",
                Action.UPDATE,
                (
                    PropertyDiff("ingress", [], [rule]),
                    PropertyDiff("tags", {"team": "web"}, {"team": "shop", "cost": "7"}),
                ),
            ),
            ResourceChange(
                "Web",
                "aws.ec2.Instance",
                Action.REPLACE,
                (PropertyDiff("image", "ami-12345678", "ami-87654321", forces_replacement=True),),
                ("'image' forces replacement",),
            ),
            ResourceChange(
                "Db",
                "aws.ec2.Instance",
                Action.UPDATE,
                (PropertyDiff("user_data", "#!/bin/sh\nrun\n", "#!/bin/sh\nrun --fast\n"),),
            ),
            ResourceChange("Old|Eip", "aws.ec2.ElasticIp", Action.DELETE),
        ),
        outputs=(
            OutputChange("Url", Action.CREATE, known_after_deploy=True, description="the site"),
            OutputChange("Region", Action.UPDATE, "eu-west-1", "us-east-1"),
        ),
    )


FINDINGS = [
    Finding(
        rule_id="SG001",
        severity=Severity.HIGH,
        stack="webapp",
        path="WebSg",
        message="ingress[0] opens tcp 22 to 0.0.0.0/0",
    ),
    Finding(
        rule_id="EC2001",
        severity=Severity.MEDIUM,
        stack="webapp",
        path="Web",
        message="require_imdsv2 is false",
        acknowledged="legacy agent, ticket OPS-12",
    ),
]


def test_a_plan_renders_as_markdown_for_a_pull_request(update_golden: bool) -> None:
    quiet = Plan("network", "eu-west-1", (ResourceChange("Vpc", "aws.ec2.Vpc", Action.NOOP),))
    text = render_markdown([quiet, review_plan()], target="aws", findings=FINDINGS)
    golden = GOLDEN / "markdown.md"
    if update_golden:
        golden.write_text(text)
    assert text == golden.read_text()


def test_the_markdown_is_tables_and_diff_blocks_as_github_shows_them() -> None:
    text = render_markdown([review_plan()], target="local", findings=FINDINGS)
    assert text.startswith(MARKER + "\n")
    html = markdown.markdown(text, extensions=["tables", "fenced_code"])
    assert html.count("<table>") == 3  # summary, the stack's changes, findings
    assert "<th>stack</th>" in html and "<th>rule</th>" in html
    # Every row of a table has as many cells as its header.
    for block in text.split("\n\n"):
        rows = [r for r in block.splitlines() if r.startswith("|")]
        cells = {len(r.replace("\\|", "").split("|")) for r in rows}
        assert len(cells) <= 1, block
    assert "| `-` | `Old\\|Eip` | `aws.ec2.ElasticIp` | delete, ⚠️ **destructive** |" in text
    assert "| `~` | `WebSg` | `aws.ec2.SecurityGroup` | update, ⚠️ **widens permissions** |" in text
    assert "```diff\n  ingress:\n+   tcp 22 from 0.0.0.0/0\n" in text
    assert '- image: "ami-12345678"\n+ image: "ami-87654321"  (forces replacement)' in text


def test_a_plan_too_long_for_a_comment_keeps_its_tables() -> None:
    text = render_markdown([review_plan()], target="local", findings=[], max_chars=1000)
    assert "Property diffs left out" in text
    assert "| `-/+` | `Web` |" in text and "```diff" not in text


def test_a_plan_without_changes_says_so_in_markdown() -> None:
    quiet = Plan("network", "eu-west-1", (ResourceChange("Vpc", "aws.ec2.Vpc", Action.NOOP),))
    text = render_markdown([quiet], target="local", findings=[])
    assert "**No changes.** The cloud matches the code." in text
    assert "No findings from the" in text


def saved(serial: int | None = 4, lineage: str | None = "abc123") -> SavedPlan:
    return SavedPlan(
        infradsl_version="0.1.0",
        target="local",
        created="2026-11-30T10:00:00Z",
        app="app.py",
        refresh=True,
        stacks=(
            StackBasis(
                "webapp", "us-east-1", serial, lineage, "sha256:00", plan_json(review_plan())
            ),
        ),
    )


def test_a_saved_plan_reads_back_what_it_wrote() -> None:
    plan = saved()
    data = json.loads(json.dumps(plan.to_json()))
    assert data["infradsl_plan"] == 1
    assert data["stacks"][0]["state"] == {"serial": 4, "lineage": "abc123"}
    assert SavedPlan.from_json(data) == plan
    assert SavedPlan.from_json(data).plan_hash == data["plan_hash"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.pop("infradsl_plan"), "not a saved plan"),
        (lambda d: d.update(infradsl_plan=2), "saved plan format 2 is not one this version"),
        (lambda d: d["stacks"][0]["plan"]["changes"].pop(), "does not match its plan_hash"),
        (lambda d: d["stacks"][0].pop("document_hash"), "damaged saved plan"),
    ],
)
def test_a_file_that_is_not_a_good_saved_plan_is_refused(change: Any, message: str) -> None:
    data = json.loads(json.dumps(saved().to_json()))
    change(data)
    with pytest.raises(SavedPlanError, match=message):
        SavedPlan.from_json(data)


def test_a_saved_plan_names_how_the_state_moved() -> None:
    plan = saved()
    assert plan.stale_state({"webapp": (4, "abc123")}) == []
    assert plan.stale_state({"webapp": (9, "abc123")}) == [
        "the state of stack 'webapp' moved from serial 4 (when planned) to 9: another run "
        "changed it since"
    ]
    assert "is gone now" in plan.stale_state({"webapp": None})[0]
    assert "destroyed and deployed again" in plan.stale_state({"webapp": (4, "fff")})[0]
    assert "had no state when planned" in saved(None, None).stale_state({"webapp": (1, "x")})[0]


def test_a_saved_plan_names_what_changed_in_the_code_and_the_cloud() -> None:
    plan = saved()
    assert plan.stale_code({"webapp": {"resources": {}}}) == [
        "the code of stack 'webapp' changed since the plan"
    ]
    assert plan.stale_code({}) == ["stack 'webapp' of the saved plan is not deployed by this run"]
    assert plan.stale_plan([review_plan()]) == []
    other = review_plan()
    other = Plan(other.stack, other.region, other.changes[:-1], outputs=other.outputs)
    assert plan.stale_plan([other]) == [
        "planning stack 'webapp' again gives another plan, so the cloud changed since: "
        "Old|Eip no longer deletes"
    ]


@pytest.mark.parametrize(
    ("text", "seconds"), [("30s", 30), ("5m", 300), ("1h", 3600), ("1m30s", 90), ("45", 45)]
)
def test_a_lock_timeout_is_a_duration(text: str, seconds: float) -> None:
    assert lock_timeout_seconds(text) == seconds


@pytest.mark.parametrize("text", ["", "5x", "m5", "1.2.3s", "5 m"])
def test_a_lock_timeout_that_is_not_a_duration_is_refused(text: str) -> None:
    with pytest.raises(click.BadParameter, match="is not a duration: give one like 30s, 5m"):
        lock_timeout_seconds(text)


class HeldLock:
    """A backend whose lock is held for the first ``busy`` attempts."""

    def __init__(self, busy: int, stale: bool = False) -> None:
        self.busy = busy
        self.stale = stale
        self.attempts = 0
        self.holder = LockInfo("l1", "bob", "ci-7", 4242, "deploy", time.time())

    def lock(self, stack: str, info: LockInfo) -> LockInfo | None:
        self.attempts += 1
        if self.attempts <= self.busy:
            raise StateLockedError(stack, self.holder, stale=self.stale)
        return None


def test_a_lock_is_waited_for_until_it_is_released() -> None:
    backend, now, told = HeldLock(busy=3), [0.0], []

    def sleep(seconds: float) -> None:
        now[0] += seconds

    result = wait_for_lock(
        backend,  # type: ignore[arg-type]
        "web",
        LockInfo.new("deploy"),
        timeout=30,
        on_wait=told.append,
        clock=lambda: now[0],
        sleep=sleep,
    )
    assert result is None and backend.attempts == 4
    assert len(told) == 1 and "locked by bob@ci-7" in str(told[0])
    assert now[0] == pytest.approx(0.25 + 0.5 + 1.0)


def test_a_lock_still_held_when_the_timeout_ends_fails_like_a_locked_state() -> None:
    backend, now = HeldLock(busy=1000), [0.0]

    def sleep(seconds: float) -> None:
        now[0] += seconds

    with pytest.raises(LockWaitTimeoutError) as caught:
        wait_for_lock(
            backend,  # type: ignore[arg-type]
            "web",
            LockInfo.new("deploy"),
            timeout=5,
            clock=lambda: now[0],
            sleep=sleep,
        )
    assert isinstance(caught.value, StateLockedError)
    assert str(caught.value).endswith("gave up after waiting 5s for it (--lock-timeout)")
    assert now[0] == pytest.approx(5)


def test_a_stale_lock_or_no_timeout_fails_at_once() -> None:
    for backend, timeout in ((HeldLock(busy=5, stale=True), 60.0), (HeldLock(busy=5), 0.0)):
        with pytest.raises(StateLockedError):
            wait_for_lock(backend, "web", LockInfo.new("deploy"), timeout=timeout)  # type: ignore[arg-type]
        assert backend.attempts == 1


def test_durations_read_as_given() -> None:
    assert [format_duration(s) for s in (0.5, 30, 300, 90, 3600)] == [
        "0.5s",
        "30s",
        "5m",
        "1m30s",
        "1h",
    ]


APP = """
from infradsl import App, Output, Stack
from infradsl.aws import ec2

app = App()
stack = Stack(app, "net", region="us-east-1")
vpc = ec2.Vpc(stack, "Vpc", cidr_block="10.0.0.0/16")
ec2.Subnet(stack, "A", vpc=vpc, cidr_block="CIDR")
Output(stack, "VpcId", vpc.id)
"""


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    try:
        main(args)
    except SystemExit as exc:
        code = int(exc.code or 0)
    else:
        code = 0
    out, err = capsys.readouterr()
    return code, out, err


def test_a_saved_plan_applies_exactly_and_is_refused_once_the_state_moved(
    local_cloud: LocalCloudFixture,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("INFRADSL_STATE", str(tmp_path / "state"))
    app = tmp_path / "app.py"
    app.write_text(APP.replace("CIDR", "10.0.1.0/24"))

    code, out, err = run(["plan", "app.py", "-o", "first.json", "--format", "json"], capsys)
    assert code == 0, err
    assert "plan saved to first.json" in err
    code, alias, _ = run(["plan", "app.py", "--json"], capsys)
    assert json.loads(out) == json.loads(alias)  # --json is --format json
    first = json.loads((tmp_path / "first.json").read_text())
    assert first["stacks"][0]["plan"]["summary"]["create"] == 2

    code, out, err = run(["deploy", "app.py", "--plan", "first.json"], capsys)
    assert code == 0, out + err
    assert "net: deploy complete (2 operations)" in out

    # A change planned and saved; then another deploy moves the state first.
    app.write_text(APP.replace("CIDR", "10.0.2.0/24"))
    code, _, err = run(["plan", "app.py", "-o", "second.json"], capsys)
    assert code == 0, err
    app.write_text(APP.replace("CIDR", "10.0.3.0/24"))
    code, _, err = run(["deploy", "app.py", "--plan", "second.json"], capsys)
    assert code == 1
    assert "the code of stack 'net' changed since the plan" in err
    code, out, err = run(["deploy", "app.py", "--yes"], capsys)
    assert code == 0, out + err
    app.write_text(APP.replace("CIDR", "10.0.2.0/24"))
    code, out, err = run(["deploy", "app.py", "--plan", "second.json"], capsys)
    assert code == 1
    assert err.startswith("error: refusing the saved plan second.json; nothing was changed: ")
    assert "the state of stack 'net' moved from serial" in err
    assert "Make a new plan (`infradsl plan app.py -o second.json`)" in err

    code, _, err = run(["plan", "app.py", "-o", "third.json"], capsys)
    assert code == 0, err
    code, out, err = run(["deploy", "app.py", "--plan", "third.json"], capsys)
    assert code == 0, out + err
    assert "net: deploy complete" in out
    code, out, _ = run(["plan", "app.py", "--detailed-exitcode"], capsys)
    assert code == 0 and "No changes. The cloud matches the code." in out

    code, out, _ = run(["history", "--json"], capsys)
    records = [json.loads(line) for line in out.splitlines()]
    third = json.loads((tmp_path / "third.json").read_text())
    assert records[-1]["plan_hash"] == third["plan_hash"]
    assert all(r.get("plan_hash", "").startswith("sha256:") for r in records)


HOLD = """
import sys, time
from pathlib import Path
from infradsl.state.backend import LockInfo
from infradsl.state.local import LocalBackend
backend = LocalBackend(sys.argv[1], "local")
backend.lock("net", LockInfo.new("deploy"))
print("held", flush=True)
release = Path(sys.argv[2])
deadline = time.monotonic() + 60
while not release.exists() and time.monotonic() < deadline:
    time.sleep(0.05)
"""


def test_a_deploy_waits_for_a_held_lock_and_gives_up_after_the_timeout(
    local_cloud: LocalCloudFixture,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from infradsl.engine import session

    monkeypatch.chdir(tmp_path)
    state = tmp_path / "state"
    monkeypatch.setenv("INFRADSL_STATE", str(state))
    (tmp_path / "app.py").write_text(APP.replace("CIDR", "10.0.1.0/24"))
    release = tmp_path / "release"
    waits: list[str] = []
    real_wait = session.wait_for_lock

    def wait_then_release(*args: Any, on_wait: Any = None, **kwargs: Any) -> Any:
        # Once the deploy waits, the other run ends: its lock is released.
        def waiting(exc: StateLockedError) -> None:
            waits.append(str(exc))
            if on_wait is not None:
                on_wait(exc)
            release.touch()

        return real_wait(*args, on_wait=waiting, **kwargs)

    monkeypatch.setattr(session, "wait_for_lock", wait_then_release)

    def hold() -> subprocess.Popen[str]:
        holder = subprocess.Popen(
            [sys.executable, "-c", HOLD, str(state), str(release)],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        return holder

    holder = hold()
    try:
        code, out, err = run(["deploy", "app.py", "--yes", "--lock-timeout", "30s"], capsys)
    finally:
        release.touch()
        holder.wait()
    assert code == 0, out + err
    assert len(waits) == 1
    assert "waiting up to 30s for the lock: stack 'net' is locked by" in err
    assert "net: deploy complete (2 operations)" in out

    release.unlink()
    monkeypatch.setattr(session, "wait_for_lock", real_wait)
    holder = hold()
    try:
        code, out, err = run(["deploy", "app.py", "--yes", "--lock-timeout", "1s"], capsys)
    finally:
        release.touch()
        holder.wait()
    assert code == 5
    assert "gave up after waiting 1s for it (--lock-timeout)" in err
    code, out, err = run(["deploy", "app.py", "--yes"], capsys)
    assert code == 0 and "No changes" in out, out + err


def test_the_json_plan_keeps_its_documented_fields() -> None:
    """`--format json` is a stable schema (docs/plans.md): fields may be added, never
    renamed or removed."""
    data = json.loads(json.dumps(review_plan().to_json()))
    assert set(data) >= {
        "stack",
        "region",
        "destroy",
        "notes",
        "summary",
        "changes",
        "outputs",
        "output_summary",
    }
    assert set(data["summary"]) == {"create", "update", "replace", "delete", "forget", "no-op"}
    change = next(c for c in data["changes"] if c["path"] == "Web")
    assert set(change) >= {"path", "type", "action", "diffs", "reasons", "previous_path", "missing"}
    assert {c["action"] for c in data["changes"]} == {"create", "update", "replace", "delete"}
    assert set(change["diffs"][0]) >= {
        "name",
        "old",
        "new",
        "forces_replacement",
        "known_after_deploy",
        "drift",
        "option",
    }
    assert set(data["outputs"][0]) >= {
        "name",
        "action",
        "old",
        "new",
        "known_after_deploy",
        "description",
    }
