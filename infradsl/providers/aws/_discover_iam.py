"""Discovery of IAM roles, instance profiles and policies, secrets and buckets (see
`infradsl.providers.aws.discovery`).

Each listing is made once per discovery and cached: GetAccountAuthorizationDetails (roles
with their trust policy, tags and attached policies; customer policies with their
documents), ListRoles (a role's description and session duration, which the first leaves
out), ListInstanceProfiles, ListSecrets, ListBuckets: one call per page each.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from botocore.exceptions import ClientError

from infradsl.providers.aws._iamutil import PAGE_SIZE, authorization_details, decode_document
from infradsl.providers.aws._iamutil import tag_dict as iam_tags
from infradsl.providers.aws.iam import _principal_of
from infradsl.providers.aws.iam_policy import _statements_of
from infradsl.providers.discovery import Discovered, Skipped
from infradsl.providers.handler import ClientProvider

__all__ = ["IamFinder"]

_AWS_MANAGED = ":iam::aws:policy/"
_STATEMENT_KEYS = frozenset({"Effect", "Action", "Resource", "Sid"})


def _name_of(physical_id: str) -> str:
    """A role's or profile's name from its name or ARN (``arn:...:role/path/name``)."""
    return physical_id.rsplit("/", 1)[-1] if physical_id.startswith("arn:") else physical_id


def _bucket_of(physical_id: str) -> str:
    for prefix in ("arn:aws:s3:::", "s3://"):
        if physical_id.startswith(prefix):
            return physical_id[len(prefix) :].strip("/")
    return physical_id


class IamFinder:
    """Finds IAM resources, secrets and buckets; each listing at most once."""

    def __init__(self, clients: ClientProvider) -> None:
        self.clients = clients
        self.skipped: list[Skipped] = []
        self._details: tuple[list[Any], list[Any]] | None = None
        self._listed: dict[str, Any] | None = None
        self._profiles: list[Any] | None = None

    # -- listings (cached) ---------------------------------------------------------------

    def _roles_and_policies(self) -> tuple[list[Any], list[Any]]:
        if self._details is None:
            roles, policies = authorization_details(
                self.clients.client("iam"), ["Role", "LocalManagedPolicy"]
            )
            self._details = (list(roles), list(policies))
        return self._details

    def _role_listing(self) -> dict[str, Any]:
        """ListRoles by name: it has the description and session duration."""
        if self._listed is None:
            self._listed = {}
            paginator = self.clients.client("iam").get_paginator("list_roles")
            for page in paginator.paginate(PaginationConfig={"PageSize": PAGE_SIZE}):
                for role in page.get("Roles", []):
                    self._listed[role["RoleName"]] = role
        return self._listed

    def _profile_listing(self) -> list[Any]:
        if self._profiles is None:
            self._profiles = []
            paginator = self.clients.client("iam").get_paginator("list_instance_profiles")
            for page in paginator.paginate(PaginationConfig={"PageSize": PAGE_SIZE}):
                self._profiles.extend(page.get("InstanceProfiles", []))
        return self._profiles

    # -- queries -------------------------------------------------------------------------

    def by_ids(
        self, type_name: str, ids: Sequence[str], *, lookup: bool = False
    ) -> list[Discovered]:
        """The resources of ``type_name`` named by ``ids`` (names or ARNs)."""
        if type_name == "aws.iam.Role":
            names = {_name_of(i) for i in ids}
            roles = [r for r in self._roles_and_policies()[0] if r.get("RoleName") in names]
            return [d for r in roles for d in self._role(r, lookup)]
        if type_name == "aws.iam.InstanceProfile":
            names = {_name_of(i) for i in ids}
            profiles = [p for p in self._profile_listing() if p.get("InstanceProfileName") in names]
            return [d for p in profiles for d in self._profile(p, lookup)]
        if type_name == "aws.iam.Policy":
            wanted = set(ids)
            policies = [p for p in self._roles_and_policies()[1] if p.get("Arn") in wanted]
            return [d for p in policies for d in self._policy(p, lookup)]
        if type_name == "aws.secrets.Secret":
            wanted = set(ids)
            return [d for s in self._secrets() if s.get("ARN") in wanted for d in self._secret(s)]
        if type_name == "aws.s3.Bucket":
            return self._buckets({_bucket_of(i) for i in ids})
        return []

    def tagged(self, tags: Mapping[str, str]) -> list[Discovered]:
        """Roles, instance profiles, secrets and buckets carrying every tag of ``tags``."""

        def carries(found: Mapping[str, str]) -> bool:
            return all(found.get(k) == v for k, v in tags.items())

        found: list[Discovered] = []
        for role in self._roles_and_policies()[0]:
            if carries(iam_tags(role.get("Tags"))):
                found.extend(self._role(role, False))
        for profile in self._profile_listing():
            if carries(iam_tags(profile.get("Tags"))):
                found.extend(self._profile(profile, False))
        filters = [
            *({"Key": "tag-key", "Values": [k]} for k in tags),
            *({"Key": "tag-value", "Values": [v]} for v in tags.values()),
        ]
        for secret in self._secrets(filters):
            if carries({t["Key"]: t["Value"] for t in secret.get("Tags", [])}):
                found.extend(self._secret(secret))
        tagging = self.clients.client("resourcegroupstaggingapi")
        names: set[str] = set()
        for page in tagging.get_paginator("get_resources").paginate(
            ResourceTypeFilters=["s3"],
            TagFilters=[{"Key": k, "Values": [v]} for k, v in tags.items()],
        ):
            for mapping in page.get("ResourceTagMappingList", []):
                names.add(str(mapping.get("ResourceARN", "")).rpartition(":")[2])
        found.extend(self._buckets(names))
        return found

    def policies_of(self, role_name: str) -> list[str]:
        """ARNs of the customer-managed policies attached to a role."""
        for role in self._roles_and_policies()[0]:
            if role.get("RoleName") == role_name:
                return sorted(
                    p["PolicyArn"]
                    for p in role.get("AttachedManagedPolicies", [])
                    if _AWS_MANAGED not in p.get("PolicyArn", "")
                )
        return []

    # -- converters ----------------------------------------------------------------------

    def _role(self, role: Any, lookup: bool) -> list[Discovered]:
        name = role["RoleName"]
        trust = decode_document(role.get("AssumeRolePolicyDocument"))
        principal = _principal_of(trust)
        tags = iam_tags(role.get("Tags"))
        if principal is None:
            self.skipped.append(
                Skipped(name, "role", "its trust policy names no service, account or ARN")
            )
            return []
        statements = trust.get("Statement", [])
        if not lookup and (
            len(statements) != 1 or set(statements[0]) - {"Effect", "Principal", "Action", "Sid"}
        ):
            self.skipped.append(
                Skipped(
                    name,
                    "trust policy of role",
                    f"has more than one principal {principal!r} or conditions: its code "
                    "shows assumed_by only (infradsl never rewrites an existing role's trust "
                    "policy)",
                )
            )
        listed = self._role_listing().get(name, {})
        props: dict[str, Any] = {
            "role_name": name,
            "path": role.get("Path", "/"),
            "assumed_by": principal,
            "max_session_duration": int(listed.get("MaxSessionDuration", 3600)),
            "managed_policies": sorted(
                p["PolicyArn"]
                for p in role.get("AttachedManagedPolicies", [])
                if _AWS_MANAGED in p.get("PolicyArn", "")
            ),
        }
        if listed.get("Description"):
            props["description"] = listed["Description"]
        if not lookup:
            for inline in role.get("RolePolicyList", []):
                self.skipped.append(
                    Skipped(
                        name,
                        f"inline policy {inline.get('PolicyName')!r} of role",
                        "infradsl attaches managed policies only: it stays as it is",
                    )
                )
        attributes = {"id": name, "arn": role.get("Arn", ""), "name": name}
        return [
            Discovered(
                type="aws.iam.Role",
                physical_id=name,
                properties=props,
                attributes=attributes,
                tags=tags,
                name=tags.get("Name") or name,
                managed_by=tags.get("infradsl:stack"),
                lookup=lookup,
                import_id=role.get("Arn"),
            )
        ]

    def _profile(self, profile: Any, lookup: bool) -> list[Discovered]:
        name = profile["InstanceProfileName"]
        roles = profile.get("Roles", [])
        props: dict[str, Any] = {"profile_name": name}
        if roles:
            props["role"] = roles[0]["RoleName"]
        tags = iam_tags(profile.get("Tags"))
        return [
            Discovered(
                type="aws.iam.InstanceProfile",
                physical_id=name,
                properties=props,
                attributes={"id": name, "arn": profile["Arn"], "name": name},
                tags=tags,
                name=tags.get("Name") or name,
                managed_by=tags.get("infradsl:stack"),
                lookup=lookup,
                import_id=profile["Arn"],
            )
        ]

    def _policy(self, policy: Any, lookup: bool) -> list[Discovered]:
        policy_arn = policy["Arn"]
        default = policy.get("DefaultVersionId")
        document: Any = None
        for version in policy.get("PolicyVersionList", []):
            if version.get("IsDefaultVersion") or version.get("VersionId") == default:
                document = version.get("Document")
                break
        body = decode_document(document)
        odd = [
            sorted(set(s) - _STATEMENT_KEYS)
            for s in body.get("Statement", [])
            if set(s) - _STATEMENT_KEYS
        ]
        if odd:
            self.skipped.append(
                Skipped(
                    policy_arn,
                    "policy",
                    f"its statements use {', '.join(odd[0])}, which infradsl's Statement "
                    "cannot express: it stays attached as it is",
                )
            )
            return []
        attached = sorted(
            role["RoleName"]
            for role in self._roles_and_policies()[0]
            if any(
                p.get("PolicyArn") == policy_arn for p in role.get("AttachedManagedPolicies", [])
            )
        )
        props: dict[str, Any] = {
            "policy_name": policy.get("PolicyName") or policy_arn.rsplit("/", 1)[-1],
            "statements": _statements_of(body),
            "roles": attached,
        }
        if policy.get("Description"):
            props["description"] = policy["Description"]
        return [
            Discovered(
                type="aws.iam.Policy",
                physical_id=policy_arn,
                properties=props,
                attributes={"id": policy_arn, "arn": policy_arn},
                name=props["policy_name"],
                lookup=lookup,
            )
        ]

    def _secrets(self, filters: Iterable[Any] = ()) -> list[Any]:
        found: list[Any] = []
        paginator = self.clients.client("secretsmanager").get_paginator("list_secrets")
        pages = paginator.paginate(Filters=list(filters), PaginationConfig={"PageSize": 100})
        for page in pages:
            found.extend(s for s in page.get("SecretList", []) if not s.get("DeletedDate"))
        return found

    def _secret(self, secret: Any) -> list[Discovered]:
        """A secret by name and ARN: its value is never read."""
        secret_arn, name = secret["ARN"], secret.get("Name", "")
        props: dict[str, Any] = {"secret_name": name}
        if secret.get("Description"):
            props["description"] = secret["Description"]
        if secret.get("KmsKeyId"):
            props["kms_key_id"] = secret["KmsKeyId"]
        tags = {t["Key"]: t["Value"] for t in secret.get("Tags", [])}
        return [
            Discovered(
                type="aws.secrets.Secret",
                physical_id=secret_arn,
                properties=props,
                attributes={"id": secret_arn, "arn": secret_arn, "name": name},
                tags=tags,
                name=tags.get("Name") or name,
                managed_by=tags.get("infradsl:stack"),
            )
        ]

    def _buckets(self, names: set[str]) -> list[Discovered]:
        if not names:
            return []
        s3 = self.clients.client("s3")
        existing: set[str] = set()
        for page in s3.get_paginator("list_buckets").paginate():
            existing.update(b["Name"] for b in page.get("Buckets", []) if b.get("Name"))
        names &= existing
        if not names:
            return []
        tags: dict[str, dict[str, str]] = {}
        tagging = self.clients.client("resourcegroupstaggingapi")
        for page in tagging.get_paginator("get_resources").paginate(ResourceTypeFilters=["s3"]):
            for mapping in page.get("ResourceTagMappingList", []):
                name = str(mapping.get("ResourceARN", "")).rpartition(":")[2]
                if name in names:
                    tags[name] = {t["Key"]: t["Value"] for t in mapping.get("Tags", [])}
        settings = self.bucket_settings(sorted(names))
        region = getattr(getattr(s3, "meta", None), "region_name", "us-east-1")
        found: list[Discovered] = []
        for name in sorted(names):
            own = tags.get(name, {})
            found.append(
                Discovered(
                    type="aws.s3.Bucket",
                    physical_id=name,
                    properties={"bucket_name": name, **settings.get(name, {})},
                    attributes={
                        "id": name,
                        "arn": f"arn:aws:s3:::{name}",
                        "domain_name": f"{name}.s3.{region}.amazonaws.com",
                    },
                    tags=own,
                    name=own.get("Name") or name,
                    managed_by=own.get("infradsl:stack"),
                    import_id=f"arn:aws:s3:::{name}",
                )
            )
        return found

    # -- per resource (what no batch call returns) ---------------------------------------

    def bucket_settings(self, names: Sequence[str]) -> dict[str, dict[str, Any]]:
        """Versioning, default encryption and public access block: three calls a bucket."""
        s3 = self.clients.client("s3")
        found: dict[str, dict[str, Any]] = {}
        for name in names:
            try:
                versioning = s3.get_bucket_versioning(Bucket=name).get("Status")
                encryption = "AES256"
                try:
                    rules = s3.get_bucket_encryption(Bucket=name)[
                        "ServerSideEncryptionConfiguration"
                    ]["Rules"]
                    default = rules[0].get("ApplyServerSideEncryptionByDefault", {})
                    encryption = str(default.get("SSEAlgorithm", "AES256"))
                except ClientError as error:
                    if "ServerSideEncryptionConfigurationNotFound" not in str(error):
                        raise
                try:
                    block = s3.get_public_access_block(Bucket=name)[
                        "PublicAccessBlockConfiguration"
                    ]
                    blocked = all(bool(v) for v in block.values())
                except ClientError as error:
                    if "NoSuchPublicAccessBlockConfiguration" not in str(error):
                        raise
                    blocked = False
            except ClientError as error:
                if "NoSuchBucket" in str(error):
                    continue
                raise
            found[name] = {
                "versioned": versioning == "Enabled",
                "encryption": encryption,
                "block_public_access": blocked,
            }
        return found

    def role_settings(self, names: Sequence[str]) -> dict[str, dict[str, Any]]:
        """A role's description and maximum session duration (ListRoles, one call a page)."""
        listed = self._role_listing()
        return {
            name: {
                "description": listed[name].get("Description"),
                "max_session_duration": int(listed[name].get("MaxSessionDuration", 3600)),
            }
            for name in names
            if name in listed
        }
