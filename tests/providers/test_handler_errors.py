"""The handler error tree: what each error refines, and waits that end in it."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import WaiterError

import infradsl.errors
from infradsl.errors import InfraDslError
from infradsl.providers.aws._provision import ProvisionError
from infradsl.providers.aws._wait import run_waiter
from infradsl.providers.aws.s3 import BucketNotEmptyError
from infradsl.providers.aws.secrets import SecretError
from infradsl.providers.handler import (
    CloudUnreachableError,
    HandlerError,
    InvalidPropertyError,
    OutcomeUnknownError,
    ResourceConflictError,
    ResourceNotFoundError,
    WaitError,
    WaitFailedError,
    WaitTimeoutError,
)


class _Waiter:
    def __init__(self, error: WaiterError | None) -> None:
        self.error = error
        self.calls: list[dict[str, Any]] = []

    def wait(self, **params: Any) -> None:
        self.calls.append(params)
        if self.error is not None:
            raise self.error


class _Client:
    """A client whose one waiter fails with ``error`` (or succeeds when it is None)."""

    def __init__(self, error: WaiterError | None) -> None:
        self.waiter = _Waiter(error)
        self.names: list[str] = []

    def get_waiter(self, name: str) -> _Waiter:
        self.names.append(name)
        return self.waiter


def _subclasses(cls: type) -> set[type]:
    found = set(cls.__subclasses__())
    for sub in list(found):
        found |= _subclasses(sub)
    return found


@pytest.mark.parametrize(
    ("error", "builtin"),
    [
        (WaitTimeoutError, TimeoutError),
        (WaitFailedError, RuntimeError),
        (ResourceNotFoundError, LookupError),
        (InvalidPropertyError, ValueError),
        (ProvisionError, RuntimeError),
    ],
)
def test_handler_errors_also_are_the_builtin_they_refine(
    error: type[Exception], builtin: type[Exception]
) -> None:
    assert issubclass(error, HandlerError)
    assert issubclass(error, InfraDslError)
    assert issubclass(error, builtin)


@pytest.mark.parametrize(
    "error",
    [
        OutcomeUnknownError,
        CloudUnreachableError,
        ResourceConflictError,
        SecretError,
        BucketNotEmptyError,
    ],
)
def test_every_error_a_handler_raises_on_purpose_is_a_handler_error(error: type) -> None:
    assert issubclass(error, HandlerError)


def test_the_error_tree_in_the_errors_docstring_names_every_handler_error() -> None:
    tree = infradsl.errors.__doc__ or ""
    missing = sorted(cls.__name__ for cls in _subclasses(HandlerError) if cls.__name__ not in tree)
    assert "HandlerError" in tree
    assert missing == [], f"add these to the tree in infradsl/errors.py: {missing}"


def test_a_waiter_that_runs_out_raises_a_wait_timeout_carrying_the_last_state() -> None:
    client = _Client(
        WaiterError(
            name="VpcAvailable",
            reason="Max attempts exceeded",
            last_response={"Vpcs": [{"VpcId": "vpc-1", "State": "pending"}]},
        )
    )
    with pytest.raises(WaitTimeoutError) as caught:
        run_waiter(client, "vpc_available", delay=1, max_attempts=3, VpcIds=["vpc-1"])
    error = caught.value
    assert str(error) == "Waiter VpcAvailable failed: Max attempts exceeded"
    assert (error.resource, error.wanted, error.last_state) == ("vpc-1", "available", "pending")
    assert isinstance(error.__cause__, WaiterError)
    assert client.names == ["vpc_available"]
    assert client.waiter.calls == [
        {"WaiterConfig": {"Delay": 1, "MaxAttempts": 3}, "VpcIds": ["vpc-1"]}
    ]


def test_a_waiter_that_meets_a_failure_state_raises_wait_failed_with_that_state() -> None:
    reason = "Waiter encountered a terminal failure state: matched expected path: 'failed'"
    client = _Client(
        WaiterError(
            name="NatGatewayAvailable",
            reason=reason,
            last_response={"NatGateways": [{"NatGatewayId": "nat-1", "State": "failed"}]},
        )
    )
    with pytest.raises(WaitFailedError) as caught:
        run_waiter(
            client, "nat_gateway_available", delay=1, max_attempts=3, NatGatewayIds=["nat-1"]
        )
    assert str(caught.value) == f"Waiter NatGatewayAvailable failed: {reason}"
    assert caught.value.last_state == "failed"
    assert not isinstance(caught.value, TimeoutError)


def test_the_last_state_of_an_instance_and_of_an_error_response() -> None:
    instance = {"Reservations": [{"Instances": [{"State": {"Name": "stopping"}}]}]}
    client = _Client(WaiterError(name="InstanceRunning", reason="x", last_response=instance))
    with pytest.raises(WaitError) as caught:
        run_waiter(client, "instance_running", delay=1, max_attempts=1, InstanceIds=["i-1"])
    assert caught.value.last_state == "stopping"
    missing = {"Error": {"Code": "InvalidVolume.NotFound", "Message": "gone"}}
    client = _Client(WaiterError(name="VolumeInUse", reason="y", last_response=missing))
    with pytest.raises(WaitFailedError) as failed:
        run_waiter(client, "volume_in_use", delay=1, max_attempts=1, VolumeIds=["vol-1"])
    assert (failed.value.wanted, failed.value.last_state) == ("in-use", "InvalidVolume.NotFound")


def test_a_waiter_that_succeeds_raises_nothing() -> None:
    client = _Client(None)
    run_waiter(client, "bucket_exists", delay=5, max_attempts=24, Bucket="logs")
    assert client.waiter.calls == [
        {"WaiterConfig": {"Delay": 5, "MaxAttempts": 24}, "Bucket": "logs"}
    ]


def test_a_wait_error_keeps_its_state_through_pickling() -> None:
    import pickle

    error = WaitTimeoutError("late", resource="i-1", wanted="running", last_state="pending")
    copy = pickle.loads(pickle.dumps(error))
    assert (str(copy), copy.last_state, copy.resource) == ("late", "pending", "i-1")
