"""Handler for route tables: the table, its routes and its subnet associations."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from infradsl.providers.aws._ec2base import Describe, Ec2Handler
from infradsl.providers.aws._ec2util import (
    describe_ids,
    ec2_client,
    ignore_not_found,
    sync_tags,
    tag_specifications,
    undo_on_failure,
)
from infradsl.providers.handler import (
    CreateResult,
    HandlerContext,
    InvalidPropertyError,
    UpdateResult,
)

if TYPE_CHECKING:
    from mypy_boto3_ec2.client import EC2Client

__all__ = ["RouteTableHandler"]


# Route target id prefix -> CreateRoute parameter (the resolved ``gateway`` is an id).
_TARGETS = {
    "igw-": "GatewayId",
    "vgw-": "GatewayId",
    "nat-": "NatGatewayId",
    "eigw-": "EgressOnlyInternetGatewayId",
    "pcx-": "VpcPeeringConnectionId",
    "tgw-": "TransitGatewayId",
}


def _route_args(table_id: str, destination: str, gateway: str) -> dict[str, Any]:
    target = next((key for prefix, key in _TARGETS.items() if gateway.startswith(prefix)), None)
    if target is None:
        raise InvalidPropertyError(f"route gateway must be an igw-/nat-/... id (got {gateway!r})")
    where = "DestinationIpv6CidrBlock" if ":" in destination else "DestinationCidrBlock"
    return {"RouteTableId": table_id, where: destination, target: gateway}


def _destination_args(table_id: str, destination: str) -> dict[str, Any]:
    where = "DestinationIpv6CidrBlock" if ":" in destination else "DestinationCidrBlock"
    return {"RouteTableId": table_id, where: destination}


class RouteTableHandler(Ec2Handler):
    """``aws.ec2.RouteTable``: the table, its routes and its subnet associations.

    ``routes`` resolve to ``[{"destination": cidr, "gateway": "igw-..." | "nat-..."}]`` and
    ``subnets`` to subnet ids. Reads return both sorted (by destination, by id).
    """

    type_name: ClassVar[str] = "aws.ec2.RouteTable"
    describe = Describe.of("RouteTable")

    def create(self, ctx: HandlerContext, props: Mapping[str, Any]) -> CreateResult:
        ec2 = ec2_client(ctx)
        table = ec2.create_route_table(
            VpcId=props["vpc"],
            TagSpecifications=tag_specifications("route-table", ctx.merged_tags(props)),
        )["RouteTable"]
        pid = table["RouteTableId"]
        with undo_on_failure(lambda: self.delete(ctx, pid, props)):
            self._apply(ec2, pid, {}, props)
        return CreateResult(pid, {"id": pid})

    def _properties(self, item: Any) -> dict[str, Any]:
        return {
            "vpc": item["VpcId"],
            "routes": [
                {"destination": dest, "gateway": gw}
                for dest, gw in sorted(_live_routes(item).items())
            ],
            "subnets": sorted(_live_associations(item)),
        }

    def update(
        self, ctx: HandlerContext, physical_id: str, old: Mapping[str, Any], new: Mapping[str, Any]
    ) -> UpdateResult:
        ec2 = ec2_client(ctx)
        table = self._get(ec2, physical_id)
        self._apply(ec2, physical_id, table, new)
        sync_tags(ec2, physical_id, ctx, old, new)
        return UpdateResult({"id": physical_id})

    def delete(self, ctx: HandlerContext, physical_id: str, props: Mapping[str, Any]) -> None:
        ec2 = ec2_client(ctx)
        with ignore_not_found():
            table = self._get(ec2, physical_id)
            for association_id in _live_associations(table).values():
                with ignore_not_found():
                    ec2.disassociate_route_table(AssociationId=association_id)
            for destination in _live_routes(table):
                with ignore_not_found():
                    ec2.delete_route(**_destination_args(physical_id, destination))
            ec2.delete_route_table(RouteTableId=physical_id)

    @staticmethod
    def _apply(
        ec2: EC2Client,
        table_id: str,
        live: Mapping[str, Any],
        new: Mapping[str, Any],
    ) -> None:
        """Make the live routes and associations match ``new`` (diffing against ``live``)."""
        routes = _live_routes(live)
        wanted = {r["destination"]: r["gateway"] for r in new.get("routes") or ()}
        for destination in sorted(set(routes) - set(wanted)):
            with ignore_not_found():
                ec2.delete_route(**_destination_args(table_id, destination))
        for destination, gateway in wanted.items():
            if destination not in routes:
                ec2.create_route(**_route_args(table_id, destination, gateway))
            elif routes[destination] != gateway:
                ec2.replace_route(**_route_args(table_id, destination, gateway))
        associations = _live_associations(live)
        subnets = list(dict.fromkeys(new.get("subnets") or ()))
        for subnet_id in sorted(set(associations) - set(subnets)):
            with ignore_not_found():
                ec2.disassociate_route_table(AssociationId=associations[subnet_id])
        _associate(ec2, table_id, [s for s in subnets if s not in associations])


def _associate(ec2: EC2Client, table_id: str, subnet_ids: Sequence[str]) -> None:
    """Associate ``subnet_ids``, taking over those another table holds.

    AWS refuses to associate a subnet that already has a table (moto silently keeps the
    old one): those move with ReplaceRouteTableAssociation.
    """
    if not subnet_ids:
        return
    others = describe_ids(
        ec2, "describe_route_tables", "RouteTables", "association.subnet-id", subnet_ids
    )
    held = {s: aid for t in others for s, aid in _live_associations(t).items()}
    for subnet_id in subnet_ids:
        if subnet_id in held:
            ec2.replace_route_table_association(
                AssociationId=held[subnet_id], RouteTableId=table_id
            )
        else:
            ec2.associate_route_table(RouteTableId=table_id, SubnetId=subnet_id)


def _live_routes(table: Mapping[str, Any]) -> dict[str, str]:
    """Destination -> target id of the routes created by CreateRoute (not local/propagated)."""
    found: dict[str, str] = {}
    for route in table.get("Routes", ()):
        if route.get("Origin") != "CreateRoute":
            continue
        destination = route.get("DestinationCidrBlock") or route.get("DestinationIpv6CidrBlock")
        target = next((route[key] for key in _TARGETS.values() if route.get(key)), None)
        if destination and target:
            found[destination] = target
    return found


def _live_associations(table: Mapping[str, Any]) -> dict[str, str]:
    """Subnet id -> association id of the table's explicit subnet associations."""
    return {
        a["SubnetId"]: a["RouteTableAssociationId"]
        for a in table.get("Associations", ())
        if a.get("SubnetId")
        and not a.get("Main")
        and a.get("AssociationState", {}).get("State", "associated")
        in ("associated", "associating")
    }
