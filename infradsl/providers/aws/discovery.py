"""Finding existing resources on AWS for `infradsl import` and `infradsl drift`.

Reads are batched like a refresh: each type is described with filters (the VPC, the ids,
a tag), one call per page, and a type is described at most twice whatever the number of
resources. The only calls made per resource are a VPC's two DNS attributes and a bucket's
versioning, encryption and public access block, which no batch API returns and without
which the code would switch them at the first deploy.

Properties come out in the form the handlers read them (the same converters), so what
import records in state is what the next refresh reads.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from infradsl.providers.aws._discover_ec2 import CHUNK, Ec2Converters, dns_settings
from infradsl.providers.aws._discover_iam import IamFinder
from infradsl.providers.aws._ec2util import describe_all, ec2_client
from infradsl.providers.aws.compute import _GONE_STATES, _root_volume_id
from infradsl.providers.aws.firewall import _rule_items
from infradsl.providers.discovery import (
    LOOKUP_TYPES,
    Discovered,
    DiscoveryError,
    Generated,
    Inventory,
    Scope,
    Skipped,
    references,
)
from infradsl.providers.handler import ClientProvider, HandlerContext

if TYPE_CHECKING:
    from mypy_boto3_ec2.type_defs import FilterTypeDef

__all__ = ["AwsDiscovery"]


# id prefix -> type, for --id.
_PREFIXES = {
    "vpc-": "aws.ec2.Vpc",
    "subnet-": "aws.ec2.Subnet",
    "igw-": "aws.ec2.InternetGateway",
    "rtb-": "aws.ec2.RouteTable",
    "sg-": "aws.ec2.SecurityGroup",
    "nat-": "aws.ec2.NatGateway",
    "i-": "aws.ec2.Instance",
    "vol-": "aws.ec2.Volume",
    "eipalloc-": "aws.ec2.ElasticIp",
    "key-": "aws.ec2.KeyPair",
}
# type -> (operation, result key, id key, id filter, VPC filter)
_EC2_TYPES: Mapping[str, tuple[str, str, str, str, str | None]] = {
    "aws.ec2.Vpc": ("describe_vpcs", "Vpcs", "VpcId", "vpc-id", "vpc-id"),
    "aws.ec2.Subnet": ("describe_subnets", "Subnets", "SubnetId", "subnet-id", "vpc-id"),
    "aws.ec2.InternetGateway": (
        "describe_internet_gateways",
        "InternetGateways",
        "InternetGatewayId",
        "internet-gateway-id",
        "attachment.vpc-id",
    ),
    "aws.ec2.RouteTable": (
        "describe_route_tables",
        "RouteTables",
        "RouteTableId",
        "route-table-id",
        "vpc-id",
    ),
    "aws.ec2.SecurityGroup": (
        "describe_security_groups",
        "SecurityGroups",
        "GroupId",
        "group-id",
        "vpc-id",
    ),
    "aws.ec2.NatGateway": (
        "describe_nat_gateways",
        "NatGateways",
        "NatGatewayId",
        "nat-gateway-id",
        "vpc-id",
    ),
    "aws.ec2.Instance": (
        "describe_instances",
        "Reservations",
        "InstanceId",
        "instance-id",
        "vpc-id",
    ),
    "aws.ec2.Volume": ("describe_volumes", "Volumes", "VolumeId", "volume-id", None),
    "aws.ec2.KeyPair": ("describe_key_pairs", "KeyPairs", "KeyName", "key-pair-id", None),
    "aws.ec2.ElasticIp": ("describe_addresses", "Addresses", "AllocationId", "allocation-id", None),
}
_EC2_ORDER = tuple(_EC2_TYPES)


def kind_of(physical_id: str) -> str:
    """The type an id given to ``--id`` names.

    Raises:
        DiscoveryError: no known kind of id.
    """
    for prefix, type_name in _PREFIXES.items():
        if physical_id.startswith(prefix):
            return type_name
    if physical_id.startswith("arn:"):
        service = physical_id.split(":")[2] if physical_id.count(":") >= 5 else ""
        resource = physical_id.split(":", 5)[-1]
        if service == "iam":
            for word, type_name in (
                ("role/", "aws.iam.Role"),
                ("instance-profile/", "aws.iam.InstanceProfile"),
                ("policy/", "aws.iam.Policy"),
            ):
                if resource.startswith(word):
                    return type_name
        if service == "secretsmanager":
            return "aws.secrets.Secret"
        if service == "s3":
            return "aws.s3.Bucket"
    raise DiscoveryError(
        f"cannot tell what {physical_id!r} is: give an EC2 id (vpc-, subnet-, igw-, rtb-, sg-, "
        "nat-, i-, vol-, eipalloc-, key-) or the ARN of a role, instance profile, policy, "
        "secret or bucket (arn:aws:s3:::NAME)"
    )


class AwsDiscovery:
    """`infradsl.providers.discovery.Discovery` on AWS (and the local cloud)."""

    def generate(
        self,
        inventory: Inventory,
        *,
        stack: str,
        region: str,
        command: str,
        notes: Sequence[str] = (),
    ) -> Generated:
        from infradsl.providers.aws.codegen import generate

        return generate(inventory, stack=stack, region=region, command=command, notes=notes)

    def discover(self, clients: ClientProvider, region: str, scope: Scope) -> Inventory:
        finder = _Finder(clients, region)
        return finder.run(scope)

    def details(
        self, clients: ClientProvider, type_name: str, physical_ids: Sequence[str]
    ) -> Mapping[str, Mapping[str, Any]]:
        ctx = HandlerContext(stack="", path="", region="", clients=clients)
        if type_name == "aws.ec2.Vpc":
            ec2 = ec2_client(ctx)
            found: dict[str, Mapping[str, Any]] = {}
            for vpc_id in physical_ids:
                try:
                    found[vpc_id] = dns_settings(ec2, vpc_id)
                except ClientError as error:
                    if "NotFound" not in str(error.response.get("Error", {}).get("Code")):
                        raise
            return found
        if type_name == "aws.s3.Bucket":
            return IamFinder(clients).bucket_settings(physical_ids)
        if type_name == "aws.iam.Role":
            return IamFinder(clients).role_settings(physical_ids)
        return {}


class _Finder(Ec2Converters):
    """One discovery: what was found so far, and the describe calls that found it."""

    def __init__(self, clients: ClientProvider, region: str) -> None:
        self.ctx = HandlerContext(stack="", path="", region=region, clients=clients)
        self.ec2 = ec2_client(self.ctx)
        self.region = region
        self.iam = IamFinder(clients)
        self.found: dict[tuple[str, str], Discovered] = {}  # by (type, physical id)
        self.skipped: list[Skipped] = []
        self.defaults: list[str] = []
        self.account = ""
        self._addresses: list[Any] | None = None
        self._asked: set[tuple[str, str]] = set()  # referred to, and described once

    # -- scopes ------------------------------------------------------------------------

    def run(self, scope: Scope) -> Inventory:
        if scope.vpc:
            self._vpc(scope.vpc)
        if scope.ids:
            self._ids(scope.ids)
        if scope.tags:
            self._tagged(scope.tags)
        self._close()
        images = self._images()
        return Inventory(
            region=self.region,
            resources=tuple(sorted(self.found.values(), key=lambda r: (r.type, r.physical_id))),
            skipped=tuple(
                sorted(set(self.skipped + self.iam.skipped), key=lambda s: (s.physical_id, s.what))
            ),
            images=images,
            defaults=tuple(sorted(set(self.defaults))),
        )

    def _vpc(self, vpc_id: str) -> None:
        by_vpc: list[FilterTypeDef] = [{"Name": "vpc-id", "Values": [vpc_id]}]
        vpcs = self._describe("aws.ec2.Vpc", by_vpc)
        if not vpcs:
            raise DiscoveryError(f"no VPC {vpc_id} in {self.region}: check the id and --region")
        for type_name in _EC2_ORDER[1:7]:
            _op, _key, _id, _idf, vpc_filter = _EC2_TYPES[type_name]
            assert vpc_filter is not None
            self._describe(type_name, [{"Name": vpc_filter, "Values": [vpc_id]}])
        self._parts()
        self._unsupported(vpc_id)

    def _ids(self, ids: Sequence[str]) -> None:
        by_type: dict[str, list[str]] = {}
        for physical_id in ids:
            by_type.setdefault(kind_of(physical_id), []).append(physical_id)
        for type_name, wanted in sorted(by_type.items()):
            if type_name in _EC2_TYPES:
                got = self._by_ids(type_name, wanted)
            else:
                got = self.iam.by_ids(type_name, wanted)
                self._add_all(got)
            missing = sorted(set(wanted) - {d.given_id for d in got} - {d.physical_id for d in got})
            if missing:
                raise DiscoveryError(
                    f"not found in {self.region}: {', '.join(missing)}; check the ids and --region"
                )
        self._parts()

    def _tagged(self, tags: Sequence[tuple[str, str]]) -> None:
        filters: list[FilterTypeDef] = [{"Name": f"tag:{k}", "Values": [v]} for k, v in tags]
        for type_name in _EC2_ORDER:
            self._describe(type_name, filters)
        self._add_all(self.iam.tagged(dict(tags)))
        self._parts()

    # -- closure -------------------------------------------------------------------------

    def _parts(self) -> None:
        """The addresses of the instances and NAT gateways found (their data volumes are
        found with them)."""
        self._addresses_of()

    def _close(self) -> None:
        """Add what the resources found refer to: managed when it is a part of them (an
        instance's profile, a profile's role, an address), looked up when it is the
        network they sit in (a VPC, a subnet, a group of another scope)."""
        while True:
            wanted: dict[str, set[str]] = {}
            for res in list(self.found.values()):
                if res.lookup:
                    continue
                refs = references(res.type, res.properties)
                if res.type == "aws.iam.Role" and not res.managed_by:
                    refs += [("aws.iam.Policy", p) for p in self.iam.policies_of(res.physical_id)]
                for key in refs:
                    if key not in self.found and key not in self._asked:
                        wanted.setdefault(key[0], set()).add(key[1])
            if not wanted:
                return
            for type_name, ids in sorted(wanted.items()):
                self._asked.update((type_name, i) for i in ids)
                looked_up = {i for i in ids if self._looked_up(type_name, i)}
                got: list[Discovered] = []
                for lookup, part in ((False, ids - looked_up), (True, looked_up)):
                    if not part:
                        continue
                    if type_name in _EC2_TYPES:
                        got += self._by_ids(type_name, sorted(part), lookup=lookup)
                    else:
                        found = self.iam.by_ids(type_name, sorted(part), lookup=lookup)
                        self._add_all(found)
                        got += found
                for gone in sorted(ids - {d.physical_id for d in got}):
                    if not any(s.physical_id == gone for s in self.iam.skipped):
                        self.skipped.append(
                            Skipped(gone, type_name, "referred to, but not found: left out")
                        )
            self._parts()

    def _looked_up(self, type_name: str, physical_id: str) -> bool:
        """Whether a resource referred to from the scope is looked up rather than imported:
        the network it sits in is; a role is when only policies name it (an instance
        profile's role is the instance's identity, imported with it)."""
        if type_name not in LOOKUP_TYPES:
            return False
        if type_name != "aws.iam.Role":
            return True
        return not any(
            d.type == "aws.iam.InstanceProfile" and d.properties.get("role") == physical_id
            for d in self.found.values()
            if not d.lookup
        )

    # -- EC2 -----------------------------------------------------------------------------

    def _by_ids(
        self, type_name: str, ids: Sequence[str], *, lookup: bool = False
    ) -> list[Discovered]:
        got: list[Discovered] = []
        _op, _key, _id, id_filter, _vpc = _EC2_TYPES[type_name]
        if type_name == "aws.ec2.KeyPair" and not all(i.startswith("key-") for i in ids):
            id_filter = "key-name"
        for start in range(0, len(ids), CHUNK):
            chunk = list(ids[start : start + CHUNK])
            got.extend(
                self._describe(type_name, [{"Name": id_filter, "Values": chunk}], lookup=lookup)
            )
        return got

    def _describe(
        self, type_name: str, filters: list[FilterTypeDef], *, lookup: bool = False
    ) -> list[Discovered]:
        operation, key, _id, _idf, _vpc = _EC2_TYPES[type_name]
        kwargs: dict[str, Any] = {
            ("Filter" if type_name == "aws.ec2.NatGateway" else "Filters"): filters
        }
        items: list[Any]
        if type_name == "aws.ec2.KeyPair":
            # Not paginated: one call returns every match.
            pairs = self.ec2.describe_key_pairs(IncludePublicKey=True, **kwargs)
            items = list(pairs.get("KeyPairs", []))
        elif type_name == "aws.ec2.ElasticIp":
            items = list(self.ec2.describe_addresses(**kwargs).get("Addresses", []))
        else:
            items = describe_all(self.ec2, operation, key, **kwargs)
        convert = getattr(self, "_convert_" + type_name.rsplit(".", 1)[-1].lower())
        got: list[Discovered] = []
        if type_name == "aws.ec2.Instance":
            live = [
                (r.get("OwnerId", ""), i)
                for r in items
                for i in r.get("Instances", [])
                if i.get("State", {}).get("Name") not in _GONE_STATES
            ]
            volumes = self._attached_volumes([i for _o, i in live])
            roots = {_root_volume_id(i) for _o, i in live}
            for owner, instance in live:
                got.extend(convert(owner, instance, volumes, lookup))
            # An instance's data volumes come with it; its root volume is part of it.
            for volume_id, volume in sorted(volumes.items()):
                if volume_id not in roots:
                    got.extend(self._convert_volume(volume, False))
        elif type_name == "aws.ec2.SecurityGroup":
            rules = _rule_items(self.ec2, "group-id", [g["GroupId"] for g in items], items)
            for group in items:
                got.extend(convert(group, rules, lookup))
        else:
            for item in items:
                got.extend(convert(item, lookup))
        self._add_all(got)
        return got

    def _add_all(self, found: Iterable[Discovered]) -> None:
        for res in found:
            known = self.found.get(res.key)
            if known is not None and (known.lookup <= res.lookup):
                continue  # managed beats looked up
            self.found[res.key] = res

    def _addresses_of(self) -> None:
        """The addresses of the instances and NAT gateways found (one call: not paginated)."""
        instances = {d.physical_id for d in self.found.values() if d.type == "aws.ec2.Instance"}
        allocations = {
            str(d.properties.get("elastic_ip"))
            for d in self.found.values()
            if d.type == "aws.ec2.NatGateway" and d.properties.get("elastic_ip")
        }
        if not instances and not allocations:
            return
        if self._addresses is None:
            self._addresses = list(self.ec2.describe_addresses().get("Addresses", []))
        for address in self._addresses:
            mine = (
                address.get("InstanceId") in instances or address.get("AllocationId") in allocations
            )
            if mine and ("aws.ec2.ElasticIp", address.get("AllocationId")) not in self.found:
                self._add_all(self._convert_elasticip(address, False))

    def _images(self) -> dict[str, str]:
        images = sorted(
            {
                str(d.properties["image"])
                for d in self.found.values()
                if d.type == "aws.ec2.Instance" and d.properties.get("image")
            }
        )
        if not images:
            return {}
        names = {image: "" for image in images}
        described = self.ec2.describe_images(Filters=[{"Name": "image-id", "Values": images}])
        for image in described.get("Images", []):
            names[image["ImageId"]] = str(image.get("Name") or "")
        return names
