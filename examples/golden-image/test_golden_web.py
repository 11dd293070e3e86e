"""Unit tests for the golden-image stack, written the way a user tests their own stacks.

They run in milliseconds: no cloud, no network, no boto3.
"""

from __future__ import annotations

import pytest
from golden_web import GoldenWeb

from infradsl import App
from infradsl.aws import ec2
from infradsl.testing import Match, Template


@pytest.fixture
def template() -> Template:
    return Template.from_stack(GoldenWeb(App(), "test", region="eu-west-1"))


def test_the_image_is_built_from_the_provisioning_folder(template: Template) -> None:
    template.resource_count_is(ec2.Image, 1)
    template.has_resource_properties(
        ec2.Image,
        {
            "directory": "provision",
            "steps": Match.array_with(
                [Match.object_like({"kind": "ansible", "playbook": "site.yml"})]
            ),
            "base": Match.object_like({"ref": "Base.id"}),
            "content_hash": Match.string_like_regexp(r"^[0-9a-f]{32}$"),
        },
    )


def test_every_server_runs_the_golden_image(template: Template) -> None:
    servers = template.find_resources(ec2.Instance)
    assert sorted(servers) == ["Db", "Web1", "Web2"]
    for entry in servers.values():
        assert entry["properties"]["image"] == {"ref": "Golden.id"}


def test_the_database_is_stateful_with_a_migration_and_a_data_volume(template: Template) -> None:
    template.has_resource_properties(
        ec2.Instance,
        {"stateful": True, "migration": {"command": "sh db/migrate.sh", "timeout": 600}},
    )
    template.has_resource_properties(ec2.Volume, {"instance": {"ref": "Db.id"}, "size": 20})


def test_the_provisioning_steps_name_files_that_exist() -> None:
    stack = GoldenWeb(App(), "test", region="us-east-1")
    image = stack.node.find_child("Golden")
    assert isinstance(image, ec2.Image) and image.source_directory is not None
    for step in image.steps:
        name = getattr(step, "playbook", None) or getattr(step, "script", None) or step.source
        assert (image.source_directory / name).is_file(), name
