"""The EC2 half of `infradsl.providers.aws.discovery`: described items to `Discovered`
resources, in the form the handlers read them (their own converters where they have them),
and what a VPC holds of kinds infradsl has no type for."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from infradsl.providers.aws._ec2util import arn, describe_all, tags_of
from infradsl.providers.aws.compute import (
    _instance_attributes,
    _instance_properties,
    _root_volume_id,
)
from infradsl.providers.aws.firewall import DEFAULT_EGRESS, _inline_rules, _sorted
from infradsl.providers.aws.network import NatGatewayHandler, SubnetHandler, _attached_vpcs
from infradsl.providers.aws.routing import _TARGETS, RouteTableHandler
from infradsl.providers.discovery import Discovered, Skipped
from infradsl.providers.handler import HandlerContext

if TYPE_CHECKING:
    from mypy_boto3_ec2.client import EC2Client
    from mypy_boto3_ec2.type_defs import FilterTypeDef

__all__ = ["CHUNK", "Ec2Converters", "dns_settings"]

# EC2 caps the values of one filter.
CHUNK = 200
_NAT_GONE = frozenset({"deleting", "deleted", "failed"})
# The handlers whose read converts a described item whole: discovery converts with them.
_SUBNETS = SubnetHandler()
_TABLES = RouteTableHandler()
_NATS = NatGatewayHandler()
_VOLUME_GONE = frozenset({"deleting", "deleted"})
_PROTOCOLS = {"-1": "all", "6": "tcp", "17": "udp", "1": "icmp", "tcp": "tcp", "udp": "udp"}


def _name_tag(tags: Mapping[str, str]) -> str | None:
    return tags.get("Name") or None


def dns_settings(ec2: EC2Client, vpc_id: str) -> dict[str, bool]:
    """A VPC's two DNS settings (two calls: DescribeVpcs does not return them)."""
    read = ec2.describe_vpc_attribute
    support = read(VpcId=vpc_id, Attribute="enableDnsSupport")["EnableDnsSupport"]
    names = read(VpcId=vpc_id, Attribute="enableDnsHostnames")["EnableDnsHostnames"]
    return {
        "enable_dns_support": bool(support.get("Value")),
        "enable_dns_hostnames": bool(names.get("Value")),
    }


class Ec2Converters:
    """Converters from EC2's described items; the discovery keeps what they found."""

    ctx: HandlerContext
    ec2: EC2Client
    region: str
    account: str
    skipped: list[Skipped]
    defaults: list[str]

    def _unsupported(self, vpc_id: str) -> None:
        """What the VPC holds of kinds infradsl has no type for (one call per kind and
        page): listed as left out, with its owner when AWS says it."""
        by_vpc: list[FilterTypeDef] = [{"Name": "vpc-id", "Values": [vpc_id]}]
        for acl in describe_all(self.ec2, "describe_network_acls", "NetworkAcls", Filters=by_vpc):
            if acl.get("IsDefault"):
                self.defaults.append(acl["NetworkAclId"])
                self._skip(
                    acl["NetworkAclId"], "default network ACL", "created by AWS with the VPC"
                )
            else:
                self._skip(acl["NetworkAclId"], "network ACL", "infradsl has no network ACLs")
        for endpoint in describe_all(
            self.ec2, "describe_vpc_endpoints", "VpcEndpoints", Filters=by_vpc
        ):
            self._skip(
                endpoint["VpcEndpointId"],
                f"VPC endpoint ({endpoint.get('ServiceName', '?')})",
                "infradsl has no VPC endpoints",
            )
        gateways = self.ec2.describe_vpn_gateways(
            Filters=[{"Name": "attachment.vpc-id", "Values": [vpc_id]}]
        )
        for gateway in gateways.get("VpnGateways", []):
            self._skip(gateway["VpnGatewayId"], "VPN gateway", "infradsl has no VPN gateways")
        # Interfaces of what infradsl has no type for: load balancers, databases, functions
        # (an instance's own interfaces, and a NAT gateway's or an endpoint's, are not).
        for eni in describe_all(
            self.ec2, "describe_network_interfaces", "NetworkInterfaces", Filters=by_vpc
        ):
            owner = eni.get("Attachment", {}).get("InstanceId")
            if owner or eni.get("InterfaceType") in ("nat_gateway", "vpc_endpoint"):
                continue
            what = eni.get("Description") or eni.get("InterfaceType") or "detached"
            self._skip(
                eni["NetworkInterfaceId"],
                f"network interface ({what})",
                "infradsl has no type for it or what owns it",
            )

    def _skip(self, physical_id: str, what: str, reason: str) -> list[Discovered]:
        self.skipped.append(Skipped(physical_id, what, reason))
        return []

    def _made(
        self,
        type_name: str,
        physical_id: str,
        properties: Mapping[str, Any],
        attributes: Mapping[str, Any],
        tags: Mapping[str, str],
        lookup: bool,
        *,
        name: str | None = None,
        vpc: str | None = None,
        import_id: str | None = None,
    ) -> list[Discovered]:
        return [
            Discovered(
                type=type_name,
                physical_id=physical_id,
                properties=properties,
                attributes=attributes,
                tags=tags,
                name=_name_tag(tags) or name,
                vpc=vpc,
                managed_by=tags.get("infradsl:stack"),
                lookup=lookup,
                import_id=import_id,
            )
        ]

    def _convert_vpc(self, vpc: Any, lookup: bool) -> list[Discovered]:
        pid = vpc["VpcId"]
        self.account = self.account or vpc.get("OwnerId", "")
        props: dict[str, Any] = {
            "cidr_block": vpc["CidrBlock"],
            "instance_tenancy": vpc.get("InstanceTenancy", "default"),
        }
        if not lookup:
            props.update(dns_settings(self.ec2, pid))
        extra = [
            a["CidrBlock"]
            for a in vpc.get("CidrBlockAssociationSet", [])
            if a.get("CidrBlock") != vpc["CidrBlock"]
            and a.get("CidrBlockState", {}).get("State") == "associated"
        ]
        for block in extra:
            self._skip(pid, f"secondary range {block} of", "infradsl's Vpc has one range")
        attributes = {"id": pid, "arn": arn(self.region, vpc.get("OwnerId", ""), "vpc", pid)}
        tags = tags_of(vpc.get("Tags"))
        return self._made("aws.ec2.Vpc", pid, props, attributes, tags, lookup, vpc=pid)

    def _convert_subnet(self, subnet: Any, lookup: bool) -> list[Discovered]:
        pid = subnet["SubnetId"]
        props = _SUBNETS._properties(subnet)
        attributes = _SUBNETS._attributes(self.ctx, subnet)
        tags = tags_of(subnet.get("Tags"))
        return self._made(
            "aws.ec2.Subnet", pid, props, attributes, tags, lookup, vpc=subnet["VpcId"]
        )

    def _convert_internetgateway(self, igw: Any, lookup: bool) -> list[Discovered]:
        pid = igw["InternetGatewayId"]
        vpcs = _attached_vpcs(igw.get("Attachments"))
        if not vpcs:
            return self._skip(pid, "internet gateway", "attached to no VPC")
        tags = tags_of(igw.get("Tags"))
        return self._made(
            "aws.ec2.InternetGateway", pid, {"vpc": vpcs[0]}, {"id": pid}, tags, lookup, vpc=vpcs[0]
        )

    def _convert_routetable(self, table: Any, lookup: bool) -> list[Discovered]:
        pid = table["RouteTableId"]
        if any(a.get("Main") for a in table.get("Associations", ())):
            self.defaults.append(pid)
            return self._skip(
                pid,
                "main route table",
                "created by AWS with the VPC; infradsl does not manage a VPC's main table",
            )
        odd = []
        for route in table.get("Routes", ()):
            if route.get("Origin") != "CreateRoute":
                continue
            destination = route.get("DestinationCidrBlock") or route.get("DestinationIpv6CidrBlock")
            target = next((route[k] for k in _TARGETS.values() if route.get(k)), None)
            if target is None or not str(target).startswith(("igw-", "nat-")):
                odd.append(f"{destination} -> {target or route.get('NetworkInterfaceId', '?')}")
        if odd:
            return self._skip(
                pid,
                "route table",
                f"routes to targets infradsl's Route cannot name ({', '.join(odd)})",
            )
        props = _TABLES._properties(table)
        tags = tags_of(table.get("Tags"))
        return self._made(
            "aws.ec2.RouteTable", pid, props, {"id": pid}, tags, lookup, vpc=table["VpcId"]
        )

    def _convert_securitygroup(
        self, group: Any, rules: list[Any], lookup: bool
    ) -> list[Discovered]:
        pid, tags = group["GroupId"], tags_of(group.get("Tags"))
        if group.get("GroupName") == "default":
            self.defaults.append(pid)
            return self._skip(
                pid, "default security group", "created by AWS with the VPC; it cannot be deleted"
            )
        observed = _inline_rules(rules, pid, tags.get("infradsl:path"))
        kept = {rule_id for d in observed.values() for rule_id in d}
        for item in rules:
            if item["GroupId"] == pid and item["SecurityGroupRuleId"] not in kept:
                proto = _PROTOCOLS.get(str(item.get("IpProtocol")), item.get("IpProtocol"))
                self._skip(
                    item["SecurityGroupRuleId"],
                    f"rule of {pid} (protocol {proto})",
                    "infradsl's Rule covers tcp, udp, icmp and all traffic",
                )
        egress = _sorted(observed["egress"].values())
        props: dict[str, Any] = {
            "vpc": group.get("VpcId"),
            "description": group["Description"],
            "group_name": group["GroupName"],
            "ingress": _sorted(observed["ingress"].values()),
            "egress": None if egress == [DEFAULT_EGRESS] else egress,
        }
        attributes = {
            "id": pid,
            "arn": arn(self.region, group["OwnerId"], "security-group", pid),
        }
        return self._made(
            "aws.ec2.SecurityGroup",
            pid,
            props,
            attributes,
            tags,
            lookup,
            name=group["GroupName"],
            vpc=group.get("VpcId"),
        )

    def _convert_natgateway(self, nat: Any, lookup: bool) -> list[Discovered]:
        if nat.get("State") in _NAT_GONE:
            return []
        pid = nat["NatGatewayId"]
        props = _NATS._properties(nat)
        attributes = _NATS._attributes(self.ctx, nat)
        tags = tags_of(nat.get("Tags"))
        return self._made(
            "aws.ec2.NatGateway", pid, props, attributes, tags, lookup, vpc=nat.get("VpcId")
        )

    def _attached_volumes(self, instances: Sequence[Any]) -> dict[str, Any]:
        """Every volume attached to ``instances``, root volumes included: one call per page."""
        ids = [i["InstanceId"] for i in instances]
        found: dict[str, Any] = {}
        for start in range(0, len(ids), CHUNK):
            for volume in describe_all(
                self.ec2,
                "describe_volumes",
                "Volumes",
                Filters=[{"Name": "attachment.instance-id", "Values": ids[start : start + CHUNK]}],
            ):
                found[volume["VolumeId"]] = volume
        return found

    def _convert_instance(
        self, owner: str, instance: Any, volumes: Mapping[str, Any], lookup: bool
    ) -> list[Discovered]:
        pid = instance["InstanceId"]
        self.account = self.account or owner
        props = _instance_properties(instance, volumes.get(_root_volume_id(instance)))
        tags = tags_of(instance.get("Tags"))
        attributes = _instance_attributes(self.region, owner, instance)
        return self._made(
            "aws.ec2.Instance", pid, props, attributes, tags, lookup, vpc=instance.get("VpcId")
        )

    def _convert_volume(self, volume: Any, lookup: bool) -> list[Discovered]:
        if volume.get("State") in _VOLUME_GONE:
            return []
        pid = volume["VolumeId"]
        props: dict[str, Any] = {
            "availability_zone": volume.get("AvailabilityZone"),
            "size": volume.get("Size"),
            "volume_type": volume.get("VolumeType"),
            "encrypted": bool(volume.get("Encrypted")),
        }
        if volume.get("Iops") is not None and volume.get("VolumeType") in ("gp3", "io1", "io2"):
            props["iops"] = volume["Iops"]
        attached = [a for a in volume.get("Attachments", []) if a.get("InstanceId")]
        if attached:
            props["instance"] = attached[0]["InstanceId"]
            props["device"] = attached[0].get("Device")
        attributes = {"id": pid, "arn": arn(self.region, self.account, "volume", pid)}
        return self._made(
            "aws.ec2.Volume", pid, props, attributes, tags_of(volume.get("Tags")), lookup
        )

    def _convert_keypair(self, pair: Any, lookup: bool) -> list[Discovered]:
        name = pair.get("KeyName", "")
        props = {"key_name": name, "public_key": str(pair.get("PublicKey", "")).strip()}
        attributes = {"id": name, "fingerprint": pair.get("KeyFingerprint", "")}
        return self._made(
            "aws.ec2.KeyPair",
            name,
            props,
            attributes,
            tags_of(pair.get("Tags")),
            lookup,
            name=name,
            import_id=pair.get("KeyPairId"),
        )

    def _convert_elasticip(self, address: Any, lookup: bool) -> list[Discovered]:
        pid = address.get("AllocationId")
        if not pid:
            return self._skip(address.get("PublicIp", ""), "classic address", "not a VPC address")
        props = {"instance": address["InstanceId"]} if address.get("InstanceId") else {}
        attributes = {"id": pid, "public_ip": address.get("PublicIp")}
        return self._made(
            "aws.ec2.ElasticIp", pid, props, attributes, tags_of(address.get("Tags")), lookup
        )
