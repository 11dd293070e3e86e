"""examples/golden-image on the local cloud, as a user runs it: build once, replace on a
provisioning change with the data volume carried over, refuse or roll back what would
lose data."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from cloudsnap import owned, recording, run_cli

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "golden-image"


def golden_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str = "p") -> Path:
    """A copy of the golden-image example, made the working directory, with its own state."""
    folder = tmp_path / name
    shutil.copytree(EXAMPLE, folder, ignore=shutil.ignore_patterns("__pycache__", "test_*.py"))
    monkeypatch.chdir(folder)
    monkeypatch.setenv("INFRADSL_STATE", str(folder / "state"))
    return folder


def state_of(folder: Path) -> dict[str, Any]:
    return json.loads((folder / "state" / "local" / "golden.json").read_text())


def edit_provisioning(folder: Path, line: str = "# tuned") -> None:
    conf = folder / "provision" / "roles" / "nginx" / "templates" / "nginx.conf.j2"
    conf.write_text(conf.read_text() + line + "\n")


def volume_attachment(cloud: Any, volume_id: str) -> tuple[str, str | None]:
    volume = cloud.client("ec2").describe_volumes(VolumeIds=[volume_id])["Volumes"][0]
    attached = [a["InstanceId"] for a in volume.get("Attachments", [])]
    return volume["State"], (attached[0] if attached else None)


def instance_state(cloud: Any, instance_id: str) -> str:
    reservations = cloud.client("ec2").describe_instances(InstanceIds=[instance_id])
    return str(reservations["Reservations"][0]["Instances"][0]["State"]["Name"])


def family_images(cloud: Any) -> dict[str, list[str]]:
    """Image id -> its snapshot ids, for every image of the example's ``Golden``."""
    images = cloud.client("ec2").describe_images(
        Owners=["self"], Filters=[{"Name": "tag:infradsl:path", "Values": ["Golden"]}]
    )["Images"]
    return {
        i["ImageId"]: [m["Ebs"]["SnapshotId"] for m in i.get("BlockDeviceMappings", [])]
        for i in images
    }


def live_builders(cloud: Any) -> list[str]:
    reservations = cloud.client("ec2").describe_instances(
        Filters=[
            {"Name": "tag-key", "Values": ["infradsl:builder"]},
            {
                "Name": "instance-state-name",
                "Values": ["pending", "running", "stopping", "stopped"],
            },
        ]
    )["Reservations"]
    return [i["InstanceId"] for r in reservations for i in r["Instances"]]


@pytest.mark.slow
def test_the_image_is_built_once_and_a_second_deploy_calls_nothing(
    tmp_path: Path, local_cloud: Any, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    golden_project(tmp_path, monkeypatch)
    with recording() as first:
        code, out, err = run_cli(["deploy", "app.py", "--yes"], capsys)
    assert code == 0, out + err
    ops = first.operations()
    assert ops.count("ec2.CreateImage") == 1
    assert ops.count("ec2.RunInstances") == 4, "a builder and three servers"
    assert live_builders(local_cloud) == []
    with recording() as second:
        code, out, err = run_cli(["deploy", "app.py", "--yes"], capsys)
    assert code == 0, out + err
    assert "No changes" in out
    again = second.operations()
    assert "ec2.CreateImage" not in again and "ec2.RunInstances" not in again
    assert second.mutating() == []


@pytest.mark.slow
def test_a_provisioning_change_replaces_the_servers_and_carries_the_data_volume(
    tmp_path: Path, local_cloud: Any, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    folder = golden_project(tmp_path, monkeypatch)
    assert run_cli(["deploy", "app.py", "--yes"], capsys)[0] == 0
    before = state_of(folder)["resources"]
    old_db = before["Db"]["physical_id"]
    volume = before["DbData"]["physical_id"]
    first_image = before["Golden"]["physical_id"]
    assert volume_attachment(local_cloud, volume) == ("in-use", old_db)

    edit_provisioning(folder)
    code, out, err = run_cli(["plan", "app.py"], capsys)
    assert code == 0, out + err
    assert "-/+ Golden" in out and "'content_hash' forces replacement" in out
    for server in ("Web1", "Web2", "Db"):
        assert f"-/+ {server}" in out, out
    assert "'image' refers to Golden, which is replaced" in out
    assert "with migration: command 'sh db/migrate.sh', moving DbData" in out

    with recording() as calls:
        code, out, err = run_cli(["deploy", "app.py", "--yes"], capsys)
    assert code == 0, out + err
    after = state_of(folder)["resources"]
    new_db = after["Db"]["physical_id"]
    assert new_db != old_db
    assert after["DbData"]["physical_id"] == volume, "the same volume, not a new one"
    assert volume_attachment(local_cloud, volume) == ("in-use", new_db)
    assert instance_state(local_cloud, old_db) in ("terminated", "shutting-down")
    ops = calls.operations()
    # New servers first; the old ones are terminated in the cleanup, after the migration.
    launches = [i for i, op in enumerate(ops) if op == "ec2.RunInstances"]
    terminations = [
        i
        for i, (_s, op, params) in enumerate(calls.calls)
        if op == "TerminateInstances" and old_db in params.get("InstanceIds", [])
    ]
    assert launches and terminations and max(launches) < min(terminations)
    assert (
        ops.index("ec2.StopInstances")
        < ops.index("ec2.DetachVolume")
        < ops.index("ec2.AttachVolume")
    )
    assert "moving the database from" in out, "the migration ran, with its environment"

    # keep=2: a second change retires the first image, deleted with its snapshots.
    images = family_images(local_cloud)
    assert first_image in images and len(images) == 2
    first_snapshots = images[first_image]
    edit_provisioning(folder, "# tuned again")
    code, out, err = run_cli(["deploy", "app.py", "--yes"], capsys)
    assert code == 0, out + err
    images = family_images(local_cloud)
    assert first_image not in images and len(images) == 2
    snapshots = {
        s["SnapshotId"] for s in local_cloud.client("ec2").describe_snapshots()["Snapshots"]
    }
    assert not set(first_snapshots) & snapshots
    assert (
        volume_attachment(local_cloud, volume)[1]
        == state_of(folder)["resources"]["Db"]["physical_id"]
    )
    assert live_builders(local_cloud) == []


@pytest.mark.slow
def test_a_failing_migration_leaves_the_old_server_running_with_its_volume(
    tmp_path: Path, local_cloud: Any, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    folder = golden_project(tmp_path, monkeypatch)
    assert run_cli(["deploy", "app.py", "--yes"], capsys)[0] == 0
    before = state_of(folder)
    old_db = before["resources"]["Db"]["physical_id"]
    volume = before["resources"]["DbData"]["physical_id"]
    (folder / "db" / "migrate.sh").write_text("echo 'replica not in sync' >&2\nexit 1\n")
    edit_provisioning(folder)
    code, out, err = run_cli(["deploy", "app.py", "--yes"], capsys)
    assert code == 3, out + err
    assert "migration command 'sh db/migrate.sh' exited with 1" in out + err
    assert "replica not in sync" in out + err
    assert instance_state(local_cloud, old_db) == "running"
    assert volume_attachment(local_cloud, volume) == ("in-use", old_db)
    after = state_of(folder)
    assert {p: r["physical_id"] for p, r in after["resources"].items()} == {
        p: r["physical_id"] for p, r in before["resources"].items()
    }
    servers = [i for kind, i, _ in owned(local_cloud, "golden") if kind == "aws.ec2.Instance"]
    assert sorted(servers) == sorted(
        r["physical_id"] for r in after["resources"].values() if r["type"] == "aws.ec2.Instance"
    ), "the new servers were terminated"


@pytest.mark.slow
def test_replacing_the_database_without_a_migration_is_refused_at_plan_time(
    tmp_path: Path, local_cloud: Any, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    folder = golden_project(tmp_path, monkeypatch)
    assert run_cli(["deploy", "app.py", "--yes"], capsys)[0] == 0
    stack = folder / "golden_web.py"
    declared = 'migration=ec2.Migration(command="sh db/migrate.sh", timeout=600),'
    assert declared in stack.read_text()
    stack.write_text(stack.read_text().replace(declared, ""))
    edit_provisioning(folder)
    with recording() as calls:
        code, out, err = run_cli(["deploy", "app.py", "--yes"], capsys)
    assert code == 1, out + err
    assert "Db is stateful and would be replaced" in out + err
    assert "migration=ec2.Migration(command='./migrate.sh')" in out + err
    assert calls.mutating() == []


REPLICA_APP = """
from infradsl import App, Stack
from infradsl.aws import ec2


class Home(Stack):
    def __init__(self, scope, id, **kwargs):
        super().__init__(scope, id, **kwargs)
        self.golden = ec2.Image(self, "Golden", base="{base}", directory="provision",
                                steps=[ec2.Shell(script="setup.sh")])


class Replica(Stack):
    def __init__(self, scope, id, *, source, **kwargs):
        super().__init__(scope, id, **kwargs)
        ec2.Image(self, "Golden", copy_of=source)


app = App()
home = Home(app, "home", region="us-east-1")
Replica(app, "replica", region="eu-west-1", source=home.golden)
"""


@pytest.mark.slow
def test_an_image_is_copied_to_another_region_under_the_same_hash(
    tmp_path: Path, local_cloud: Any, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    base = local_cloud.client("ec2").describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    (tmp_path / "provision").mkdir()
    (tmp_path / "provision" / "setup.sh").write_text("echo provisioned\n")
    (tmp_path / "app.py").write_text(REPLICA_APP.replace("{base}", base))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("INFRADSL_STATE", str(tmp_path / "state"))
    with recording() as calls:
        code, out, err = run_cli(["deploy", "app.py", "--yes"], capsys)
    assert code == 0, out + err
    assert calls.operations().count("ec2.CreateImage") == 1
    assert calls.operations().count("ec2.CopyImage") == 1
    home = json.loads((tmp_path / "state" / "local" / "home.json").read_text())
    replica = json.loads((tmp_path / "state" / "local" / "replica.json").read_text())
    source_id = home["resources"]["Golden"]["physical_id"]
    copy_id = replica["resources"]["Golden"]["physical_id"]

    def hash_of(region: str, image_id: str) -> str:
        image = local_cloud.client("ec2", region).describe_images(ImageIds=[image_id])["Images"]
        return {t["Key"]: t["Value"] for t in image[0]["Tags"]}["infradsl:image-hash"]

    assert hash_of("eu-west-1", copy_id) == hash_of("us-east-1", source_id)
    with recording() as again:
        assert run_cli(["deploy", "app.py", "--yes"], capsys)[0] == 0
    assert "ec2.CopyImage" not in again.operations()


LOOKUP_APP = """
from infradsl import App, Stack
from infradsl.aws import ec2


class Images(Stack):
    def __init__(self, scope, id, **kwargs):
        super().__init__(scope, id, **kwargs)
        base = ec2.Image.lookup(self, "Base", owner="self", name="team-base-*")
        ec2.Image(self, "Golden", base=base, directory="provision",
                  steps=[ec2.Shell(script="setup.sh")])


app = App()
Images(app, "images", region="us-east-1")
"""


@pytest.mark.slow
def test_a_newer_upstream_base_image_is_a_visible_replacement_in_the_plan(
    tmp_path: Path, local_cloud: Any, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    import time

    ec2 = local_cloud.client("ec2")
    seed = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]

    def publish(name: str) -> str:
        instance = ec2.run_instances(ImageId=seed, MinCount=1, MaxCount=1)["Instances"][0]
        return str(ec2.create_image(InstanceId=instance["InstanceId"], Name=name)["ImageId"])

    first = publish("team-base-1")
    (tmp_path / "provision").mkdir()
    (tmp_path / "provision" / "setup.sh").write_text("echo provisioned\n")
    (tmp_path / "app.py").write_text(LOOKUP_APP)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("INFRADSL_STATE", str(tmp_path / "state"))
    assert run_cli(["deploy", "app.py", "--yes"], capsys)[0] == 0
    state = json.loads((tmp_path / "state" / "local" / "images.json").read_text())
    assert state["resources"]["Golden"]["properties"]["base"] == first, "pinned in state"
    assert "No changes" in run_cli(["plan", "app.py"], capsys)[1]

    time.sleep(1.1)  # image creation dates have a resolution of one second
    newer = publish("team-base-2")
    code, out, err = run_cli(["plan", "app.py"], capsys)
    assert code == 0, out + err
    assert "-/+ Golden" in out and "'base' forces replacement" in out, out
    assert newer in out
