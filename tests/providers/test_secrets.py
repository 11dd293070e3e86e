"""The Secrets Manager handler against the local cloud: values never leak."""

from __future__ import annotations

import logging
from typing import Any

import attrs
import pytest
from conformance import check_handler

from infradsl.providers.aws.clients import Clients
from infradsl.providers.aws.secrets import SecretError, SecretHandler
from infradsl.providers.handler import HandlerContext
from infradsl.testing.plugin import LocalCloudFixture

GENERATE = {
    "length": 40,
    "exclude_characters": "",
    "exclude_punctuation": False,
    "include_space": False,
}


def context(cloud: LocalCloudFixture, path: str = "DbPassword", **kwargs: Any) -> HandlerContext:
    return HandlerContext(
        stack="test",
        path=path,
        region="us-east-1",
        clients=Clients("us-east-1", cloud.endpoint),
        **kwargs,
    )


class Calls:
    """A botocore hook recording each call as ``service.Operation``."""

    def __init__(self) -> None:
        self.made: list[str] = []

    def __call__(self, event_name: str, params: Any, **_: Any) -> None:
        self.made.append(event_name.split(".", 1)[1])


def value_of(cloud: LocalCloudFixture, secret_id: str) -> str:
    return str(cloud.client("secretsmanager").get_secret_value(SecretId=secret_id)["SecretString"])


def test_secret_handler_passes_the_conformance_suite(local_cloud: LocalCloudFixture) -> None:
    props = {"generate": GENERATE, "description": "db", "recovery_window_days": 7, "tags": {}}
    check_handler(
        SecretHandler(),
        context(local_cloud),
        props,
        {**props, "description": "the database password", "tags": {"team": "db"}},
    )


def test_a_generated_value_appears_in_no_result_and_no_log(
    local_cloud: LocalCloudFixture, caplog: pytest.LogCaptureFixture
) -> None:
    ctx = context(local_cloud)
    handler = SecretHandler()
    caplog.set_level(logging.DEBUG)
    # Letters and digits only, so that a leak would show verbatim (no JSON escaping).
    generate = {**GENERATE, "exclude_punctuation": True}
    created = handler.create(ctx, {"generate": generate, "tags": {"team": "db"}})
    read = handler.read(ctx, [created.physical_id])
    caplog.set_level(logging.WARNING)
    value = value_of(local_cloud, created.physical_id)
    assert len(value) == 40
    assert created.attributes["name"] == ctx.physical_name(256, sep="-")
    assert created.attributes["id"] == created.attributes["arn"] == created.physical_id
    assert value not in repr(created)
    assert value not in repr(read)
    assert "botocore" in caplog.text  # debug logging was on for the other calls
    assert value not in caplog.text
    assert dict(read[created.physical_id].tags) == {
        **ctx.tags,
        "team": "db",
    }


def test_a_failed_creation_does_not_put_the_value_in_the_error(
    local_cloud: LocalCloudFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DB_PASSWORD", "hunter2-very-secret")
    taken = context(local_cloud, "Other")
    SecretHandler().create(taken, {"secret_name": "prod/db"})
    with pytest.raises(SecretError) as caught:
        SecretHandler().create(
            context(local_cloud), {"secret_name": "prod/db", "value": {"env_var": "DB_PASSWORD"}}
        )
    assert "ResourceExistsException" in str(caught.value)
    assert "prod/db" in str(caught.value)
    assert "hunter2" not in str(caught.value)
    assert caught.value.__context__ is None and caught.value.__cause__ is None


def test_a_value_from_the_environment_is_stored_and_replaced_on_update(
    local_cloud: LocalCloudFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("API_TOKEN", "token-one")
    monkeypatch.setenv("API_TOKEN_V2", "token-two")
    ctx = context(local_cloud, "ApiToken")
    handler = SecretHandler()
    props = {"value": {"env_var": "API_TOKEN"}}
    created = handler.create(ctx, props)
    assert value_of(local_cloud, created.physical_id) == "token-one"
    assert "token-one" not in repr(created)
    handler.update(ctx, created.physical_id, props, {"value": {"env_var": "API_TOKEN_V2"}})
    assert value_of(local_cloud, created.physical_id) == "token-two"


def test_a_secret_from_a_missing_environment_variable_names_the_variable(
    local_cloud: LocalCloudFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("NOT_SET_ANYWHERE", raising=False)
    with pytest.raises(SecretError, match="environment variable 'NOT_SET_ANYWHERE' is not set"):
        SecretHandler().create(context(local_cloud), {"value": {"env_var": "NOT_SET_ANYWHERE"}})
    assert local_cloud.client("secretsmanager").list_secrets()["SecretList"] == []


def test_a_secret_without_a_source_is_created_empty(local_cloud: LocalCloudFixture) -> None:
    created = SecretHandler().create(context(local_cloud), {"secret_name": "fill/me"})
    described = local_cloud.client("secretsmanager").describe_secret(SecretId=created.physical_id)
    assert described["Name"] == "fill/me"
    assert not described.get("VersionIdsToStages")


def test_a_deleted_secret_is_missing_but_its_name_stays_taken(
    local_cloud: LocalCloudFixture,
) -> None:
    ctx = context(local_cloud)
    handler = SecretHandler()
    props = {"secret_name": "prod/db", "generate": GENERATE, "recovery_window_days": 7}
    arn = handler.create(ctx, props).physical_id
    handler.delete(ctx, arn, props)
    assert handler.read(ctx, [arn]) == {}
    handler.delete(ctx, arn, props)
    described = local_cloud.client("secretsmanager").describe_secret(SecretId=arn)
    assert described["DeletedDate"]


def test_a_rollback_delete_frees_the_name_at_once(local_cloud: LocalCloudFixture) -> None:
    handler = SecretHandler()
    props = {"secret_name": "prod/db", "generate": GENERATE, "recovery_window_days": 30}
    arn = handler.create(context(local_cloud), props).physical_id
    handler.delete(context(local_cloud, rollback=True), arn, props)
    assert handler.read(context(local_cloud), [arn]) == {}
    again = handler.create(context(local_cloud, attempt=1), props)
    assert again.attributes["name"] == "prod/db"


def test_reading_many_secrets_makes_the_same_calls_as_reading_one(
    local_cloud: LocalCloudFixture,
) -> None:
    handler = SecretHandler()
    arns = [
        handler.create(context(local_cloud, f"Secret{i}"), {"generate": GENERATE}).physical_id
        for i in range(5)
    ]
    # Another stack's secret and a deleted one are not found.
    other = HandlerContext(
        stack="other",
        path="S",
        region="us-east-1",
        clients=Clients("us-east-1", local_cloud.endpoint),
    )
    foreign = handler.create(other, {}).physical_id
    handler.delete(context(local_cloud, "Secret0"), arns[0], {"recovery_window_days": 7})

    def calls_to_read(ids: list[str]) -> tuple[set[str], list[str]]:
        calls = Calls()
        clients = Clients(
            "us-east-1", local_cloud.endpoint, hooks=[("before-parameter-build", calls)]
        )
        ctx = HandlerContext(stack="test", path="", region="us-east-1", clients=clients)
        return set(handler.read(ctx, ids)), calls.made

    assert calls_to_read(arns[1:2]) == ({arns[1]}, ["secrets-manager.ListSecrets"])
    # Some asked for are not in the stack's listing: a second listing looks for secrets
    # adopted by `infradsl import` (not tagged yet); it never finds another stack's.
    assert calls_to_read([*arns, foreign]) == (
        set(arns[1:]),
        ["secrets-manager.ListSecrets", "secrets-manager.ListSecrets"],
    )
    assert calls_to_read([]) == (set(), [])


def test_find_does_not_adopt_what_another_lineage_made(local_cloud: LocalCloudFixture) -> None:
    """Same stack, path and explicit name, another state: not found; scheduled for
    deletion: not found either."""
    ctx = context(local_cloud)
    props = {"secret_name": "prod/db", "generate": GENERATE, "recovery_window_days": 7}
    handler = SecretHandler()
    arn = handler.create(ctx, props).physical_id
    assert handler.find(attrs.evolve(ctx, lineage="other"), props) is None
    found = handler.find(ctx, props)
    assert found is not None and found.physical_id == arn
    assert found.attributes == {"id": arn, "arn": arn, "name": "prod/db"}
    handler.delete(ctx, arn, props)
    assert handler.find(ctx, props) is None


def test_list_stack_lists_the_stacks_live_secrets(local_cloud: LocalCloudFixture) -> None:
    handler = SecretHandler()
    kept = handler.create(context(local_cloud, "Kept"), {}).physical_id
    gone = handler.create(context(local_cloud, "Gone"), {}).physical_id
    handler.delete(context(local_cloud, "Gone"), gone, {"recovery_window_days": 7})
    other = attrs.evolve(context(local_cloud, "Kept"), stack="other")
    theirs = handler.create(other, {}).physical_id
    assert handler.list_stack(context(local_cloud, "")) == {kept: "Kept"}
    assert handler.list_stack(other) == {theirs: "Kept"}
