"""A base for the EC2 handlers: one describe operation gives ``read``, ``find`` and
``list_stack``.

Every EC2 type is listed by one ``Describe*`` operation that takes filters: by id (read),
by the creation's ``infradsl:token`` tag (find) and by the ``infradsl:stack`` tag
(list_stack). A handler names that operation and its keys; it writes ``create``,
``update`` and ``delete``, and the ``_properties`` a read reports::

    class ImageHandler(Ec2Handler):
        type_name: ClassVar[str] = "aws.ec2.Image"
        describe = Describe.of("Image")
        describe_params: ClassVar[Mapping[str, Any]] = {"Owners": ["self"]}
        gone_states: ClassVar[frozenset[str]] = frozenset({"deregistered"})
        ready = ("image_available", "available")

        def _properties(self, item: Any) -> dict[str, Any]:
            return {"name": item["Name"]}
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple

from infradsl.providers.aws._ec2util import (
    MAX_FILTER_VALUES,
    describe_all,
    ec2_client,
    id_filter,
    one_created,
    stack_filter,
    stack_paths,
    tags_of,
    token_filter,
    wait_for,
)
from infradsl.providers.handler import CreateResult, HandlerContext, ReadResult

if TYPE_CHECKING:
    from mypy_boto3_ec2.client import EC2Client
    from mypy_boto3_ec2.type_defs import FilterTypeDef

__all__ = ["Describe", "Ec2Handler"]


class Describe(NamedTuple):
    """How one EC2 type is described.

    Attributes:
        operation: the client method (``"describe_vpcs"``).
        key: the response key holding the items (``"Vpcs"``).
        id_key: each item's id (``"VpcId"``).
        id_filter: the filter selecting ids (``"vpc-id"``): unlike ``*Ids=[...]`` it leaves
            out missing ids instead of failing the call.
        ids_param: the parameter naming ids (``"VpcIds"``), for waiters and `Ec2Handler._get`
            (which fails when the id is missing, as an update of a vanished resource must).
        filter_param: ``"Filter"`` for DescribeNatGateways, ``"Filters"`` elsewhere.
        paginated: False where the operation answers in one call (DescribeAddresses,
            DescribeKeyPairs).
    """

    operation: str
    key: str
    id_key: str
    id_filter: str
    ids_param: str
    filter_param: str = "Filters"
    paginated: bool = True

    @classmethod
    def of(cls, noun: str, **overrides: Any) -> Describe:
        """How EC2 usually spells the describing of ``noun`` (``"InternetGateway"``):
        ``describe_internet_gateways``, ``InternetGateways``, ``InternetGatewayId``,
        ``internet-gateway-id``, ``InternetGatewayIds``; ``overrides`` name what differs."""
        words = [w.lower() for w in re.findall(r"[A-Z][a-z0-9]*", noun)]
        plural = "es" if noun.endswith("s") else "s"
        usual = cls(
            operation=f"describe_{'_'.join(words)}{plural}",
            key=f"{noun}{plural}",
            id_key=f"{noun}Id",
            id_filter=f"{'-'.join(words)}-id",
            ids_param=f"{noun}Ids",
        )
        return usual._replace(**overrides)


class Ec2Handler:
    """Base of the handlers whose resources one EC2 describe operation lists.

    A subclass sets `describe`, and:

    - ``_properties(item)``: what ``read`` reports as the live properties (or it overrides
      ``read``, using `_read_ids`);
    - ``_attributes(ctx, item)``: the attributes, if more than ``id``;
    - `gone_states`, `leaving_states`: states of items that no longer count (``_state``
      reads an item's state);
    - `ready`: the waiter and state `find` waits for when a create died before its end
      (``_when_found`` does more);
    - ``_unpack``: where the response's items hold the resources (reservations).
    """

    type_name: ClassVar[str]
    describe: ClassVar[Describe]
    # Extra parameters of every describe call (``Owners=["self"]`` for images).
    describe_params: ClassVar[Mapping[str, Any]] = {}
    # Items in these states are absent to ``read`` (deleted, terminated).
    gone_states: ClassVar[frozenset[str]] = frozenset()
    # Items in these states are neither found nor listed (gone, or on the way out); None:
    # the `gone_states`.
    leaving_states: ClassVar[frozenset[str] | None] = None
    # (waiter, state): a found item in another state is waited for as ``create`` does.
    ready: ClassVar[tuple[str, str] | None] = None

    def read(self, ctx: HandlerContext, physical_ids: Sequence[str]) -> Mapping[str, ReadResult]:
        """One describe call per page and chunk of ids; missing ids are absent."""
        return {
            self._id(item): ReadResult(
                properties=self._properties(item),
                attributes=self._attributes(ctx, item),
                tags=tags_of(item.get("Tags")),
            )
            for item in self._read_ids(ec2_client(ctx), physical_ids)
        }

    def find(self, ctx: HandlerContext, props: Mapping[str, Any]) -> CreateResult | None:
        """The item tagged with this creation's token (see `one_created`), once ready."""
        ec2 = ec2_client(ctx)
        item = one_created(ctx, self._live(ec2, token_filter(ctx)), self.describe.id_key)
        if item is None:
            return None
        item = self._when_found(ec2, item)
        return CreateResult(self._id(item), self._attributes(ctx, item))

    def list_stack(self, ctx: HandlerContext) -> Mapping[str, str]:
        items = self._live(ec2_client(ctx), stack_filter(ctx))
        return stack_paths(ctx, items, self.describe.id_key)

    def _properties(self, item: Any) -> dict[str, Any]:
        """The live properties of a described ``item``, as ``read`` reports them."""
        raise NotImplementedError(f"{type(self).__name__} reads no properties")

    def _attributes(self, ctx: HandlerContext, item: Any) -> dict[str, Any]:
        """The attributes of a described ``item``."""
        return {"id": self._id(item)}

    def _id(self, item: Any) -> str:
        return str(item[self.describe.id_key])

    def _state(self, item: Any) -> str | None:
        state = item.get("State")
        return state if isinstance(state, str) else None

    def _select(self, ec2: EC2Client, filters: Sequence[FilterTypeDef]) -> list[Any]:
        """Every item matching ``filters``, whatever its state (one call per page)."""
        d = self.describe
        params = {**self.describe_params, d.filter_param: list(filters)}
        if d.paginated:
            return self._unpack(describe_all(ec2, d.operation, d.key, **params))
        return self._unpack(getattr(ec2, d.operation)(**params).get(d.key, []))

    def _unpack(self, items: list[Any]) -> list[Any]:
        """The resources in the items under the response's key (DescribeInstances answers
        with reservations that hold the instances)."""
        return items

    def _live(self, ec2: EC2Client, filters: Sequence[FilterTypeDef]) -> list[Any]:
        """The items matching ``filters`` that are not leaving (see `leaving_states`)."""
        leaving = self.gone_states if self.leaving_states is None else self.leaving_states
        return [item for item in self._select(ec2, filters) if self._state(item) not in leaving]

    def _read_ids(self, ec2: EC2Client, ids: Sequence[str]) -> list[Any]:
        """The items among ``ids`` that are not gone: one call per page and chunk of ids
        (EC2 caps the values of a filter), none when ``ids`` is empty."""
        items: list[Any] = []
        for start in range(0, len(ids), MAX_FILTER_VALUES):
            chunk = ids[start : start + MAX_FILTER_VALUES]
            items.extend(self._select(ec2, id_filter(self.describe.id_filter, chunk)))
        return [item for item in items if self._state(item) not in self.gone_states]

    def _get(self, ec2: EC2Client, physical_id: str) -> Any:
        """The item ``physical_id``, by ``*Ids=[...]``: a missing one fails the call
        (the API's not-found error)."""
        d = self.describe
        params = {**self.describe_params, d.ids_param: [physical_id]}
        return self._unpack(getattr(ec2, d.operation)(**params)[d.key])[0]

    def _wait_ready(self, ec2: EC2Client, item: Any) -> bool:
        """Wait until ``item`` is in the `ready` state unless it is; True if it waited."""
        if self.ready is None or self._state(item) == self.ready[1]:
            return False
        wait_for(ec2, self.ready[0], **{self.describe.ids_param: [self._id(item)]})
        return True

    def _when_found(self, ec2: EC2Client, item: Any) -> Any:
        """``item`` as `find` returns it: a create that died before the resource was ready
        is waited for as ``create`` does. Returns the item the attributes come from."""
        self._wait_ready(ec2, item)
        return item
