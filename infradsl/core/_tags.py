"""AWS's limits on tags, checked on resource tags, stack tags and their merge.

Every taggable type of the catalog (EC2, IAM, S3, Secrets Manager) allows 50 tags a
resource, keys of 1 to 128 characters and values of up to 256; keys starting with
``aws:`` belong to AWS. At creation the engine adds four system tags of its own
(docs/aws.md#tags), whose ``Name`` is ``<stack>/<path>``: they count against the 50 and
make the construct path subject to the value limit.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from infradsl.core.reference import known_text

if TYPE_CHECKING:
    from infradsl.core.resource import Resource

__all__ = [
    "MAX_KEY_LENGTH",
    "MAX_TAGS",
    "MAX_USER_TAGS",
    "MAX_VALUE_LENGTH",
    "SYSTEM_TAG_KEYS",
    "merge_tags",
    "resource_tag_problems",
    "tag_problems",
]

MAX_TAGS = 50
MAX_KEY_LENGTH = 128
MAX_VALUE_LENGTH = 256
# The tags the engine puts on every taggable resource (`providers.handler.system_tags`
# and its token tag); core cannot import providers, a test keeps the two in step.
SYSTEM_TAG_KEYS = ("Name", "infradsl:stack", "infradsl:path", "infradsl:token")
MAX_USER_TAGS = MAX_TAGS - len(SYSTEM_TAG_KEYS)
_RESERVED_PREFIXES = ("aws:", "infradsl:")
_ROOM = (
    f"AWS allows {MAX_TAGS} per resource and infradsl adds {len(SYSTEM_TAG_KEYS)} "
    f"({', '.join(SYSTEM_TAG_KEYS)})"
)


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def tag_problems(name: str, tags: Mapping[Any, Any]) -> list[str]:
    """Messages for everything AWS (or infradsl) would refuse in one mapping of tags.

    Args:
        name: what the tags are called in messages (``'tags'``).
        tags: the tags, as the user gave them.

    Example:
        >>> tag_problems("tags", {"aws:team": "web"})
        ["'tags' key 'aws:team' is reserved: 'aws:' and 'infradsl:' tags are set by AWS and infradsl"]
    """  # noqa: E501
    found: list[str] = []
    if len(tags) > MAX_USER_TAGS:
        found.append(f"{name!r} must have at most {MAX_USER_TAGS} tags: {_ROOM} (got {len(tags)})")
    for key, value in tags.items():
        if not isinstance(key, str):
            found.append(f"{name!r} keys must be str (got {type(key).__name__} {key!r})")
            continue
        if not 1 <= len(key) <= MAX_KEY_LENGTH:
            found.append(
                f"{name!r} keys must be 1..{MAX_KEY_LENGTH} characters "
                f"(got {len(key)}: {_shown(key)})"
            )
        if key.lower().startswith(_RESERVED_PREFIXES):
            found.append(
                f"{name!r} key {key!r} is reserved: 'aws:' and 'infradsl:' tags are set by "
                "AWS and infradsl"
            )
        if not isinstance(value, str):
            found.append(
                f"{name!r} value for {_shown(key)} must be a str "
                f"(got {type(value).__name__} {_shown(value)})"
            )
        elif len(known_text(value)) > MAX_VALUE_LENGTH:
            found.append(
                f"{name!r} value for {_shown(key)} must be at most {MAX_VALUE_LENGTH} "
                f"characters (got {len(known_text(value))})"
            )
    return found


def merge_tags(stack_tags: Mapping[str, Any], own: Mapping[str, Any]) -> dict[str, Any]:
    """The tags a resource is synthesized with: the stack's, then its own (which win)."""
    return {**stack_tags, **own}


def resource_tag_problems(res: Resource) -> list[str]:
    """Messages for limits that only the whole resource shows, checked at synth.

    The ``Name`` tag (``<stack>/<path>``) must fit a tag value, and the resource's tags,
    merged with its stack's and the system tags, must fit the count. Types without a
    ``tags`` property (AWS does not tag them) get no system tags and are not checked.
    """
    stack = res.node.stack
    if "tags" not in type(res)._props or stack is None:
        return []
    found: list[str] = []
    name_tag = f"{stack.name}/{res.logical_id}"
    if len(name_tag) > MAX_VALUE_LENGTH:
        found.append(
            f"the 'Name' tag '<stack>/<path>' must be at most {MAX_VALUE_LENGTH} characters "
            f"(got {len(name_tag)}); use shorter ids for the stack, its components or "
            "this resource"
        )
    tags = getattr(res, "tags", None)
    own: Mapping[str, Any] = tags if isinstance(tags, (dict, Mapping)) else {}
    # Either alone over the limit is reported where it was written; the merge only adds
    # a problem when both fit on their own (and only two sets that fit together can't).
    if (
        len(own) <= MAX_USER_TAGS
        and len(stack.tags) <= MAX_USER_TAGS
        and len(own) + len(stack.tags) > MAX_USER_TAGS
    ):
        # A user's Name tag is replaced by the system one, not added to it.
        system = set(SYSTEM_TAG_KEYS)
        of_resource = set(own) - system
        of_stack = set(stack.tags) - set(own) - system
        total = len(of_resource) + len(of_stack)
        if total > MAX_USER_TAGS:
            found.append(
                f"'tags' must have at most {MAX_USER_TAGS} tags with the stack's tags merged "
                f"in: {_ROOM} (got {total}: {len(of_resource)} of the resource and "
                f"{len(of_stack)} more from stack {stack.name!r})"
            )
    return found
