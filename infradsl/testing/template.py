"""Template: assertions about the synthesized document of one stack.

Every method that takes a resource type accepts the type name (``"aws.ec2.Vpc"``) or the
resource class (``ec2.Vpc``). Failed assertions raise `AssertionError` with a message
naming the closest candidate and each JSON path where it differs.
"""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from infradsl.testing._names import did_you_mean, path_of, type_name
from infradsl.testing.match import Matcher, MatchResult, as_matcher

if TYPE_CHECKING:
    from infradsl.core import Stack

__all__ = ["Template"]

_Found = list[tuple[str, MatchResult]]


class Template:
    """The synthesized document of one stack, with assertions about it.

    Build one with `from_stack`, `from_file` or `from_dict`.

    Example:
        >>> t = Template.from_dict({"stack": "demo", "resources": {"Vpc": {
        ...     "type": "aws.ec2.Vpc", "properties": {"cidr_block": "10.0.0.0/16"},
        ...     "depends_on": [], "options": {}}}})
        >>> t.resource_count_is("aws.ec2.Vpc", 1)
        >>> t.has_resource_properties("aws.ec2.Vpc", {"cidr_block": "10.0.0.0/16"})
    """

    def __init__(self, document: Mapping[str, Any]) -> None:
        _check_document(document)
        self._doc: dict[str, Any] = copy.deepcopy(dict(document))

    @classmethod
    def from_stack(cls, stack: Stack) -> Template:
        """Synthesize ``stack`` and wrap its document.

        Example:
            >>> from infradsl import App, Stack
            >>> from infradsl.aws import ec2
            >>> stack = Stack(App(), "demo", region="us-east-1")
            >>> _ = ec2.Vpc(stack, "Vpc", cidr_block="10.0.0.0/16")
            >>> Template.from_stack(stack).resource_count_is(ec2.Vpc, 1)
        """
        # Imported here: synthesis is a higher layer, and importing it is not free.
        from infradsl.synth import synthesize_stack

        return cls(synthesize_stack(stack))

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> Template:
        """Read a synthesized document from a JSON file.

        Example:
            After ``infradsl synth app.py``::

                template = Template.from_file("infradsl.out/webapp.json")
                template.resource_count_is("aws.ec2.Instance", 2)
        """
        with open(path, encoding="utf-8") as file:
            try:
                document = json.load(file)
            except json.JSONDecodeError as error:
                raise ValueError(f"{os.fspath(path)}: not a JSON document ({error})") from error
        return cls(document)

    @classmethod
    def from_dict(cls, document: Mapping[str, Any]) -> Template:
        """Wrap a synthesized document (it is copied, so later changes do not leak in).

        Example:
            >>> Template.from_dict({"stack": "demo", "resources": {}})
            Template(stack='demo', 0 resources)
        """
        return cls(document)

    def to_json(self) -> dict[str, Any]:
        """A deep copy of the document, as plain JSON-compatible data.

        Example:
            >>> Template.from_dict({"stack": "demo", "resources": {}}).to_json()
            {'stack': 'demo', 'resources': {}}
        """
        return copy.deepcopy(self._doc)

    def resource(self, resource: object) -> dict[str, Any]:
        """The entry (``type``, ``properties``, ``depends_on``, ``options``) of one resource.

        Args:
            resource: its path in the stack (``"Net/Vpc"``) or the resource itself.

        Example:
            >>> t = Template.from_dict({"resources": {"Vpc": {"type": "aws.ec2.Vpc"}}})
            >>> t.resource("Vpc")
            {'type': 'aws.ec2.Vpc'}
        """
        return copy.deepcopy(self._entry(path_of(resource)))

    def resource_count_is(self, resource_type: str | type, count: int) -> None:
        """Assert that the stack has exactly ``count`` resources of the type.

        Example:
            >>> t = Template.from_dict({"resources": {"Vpc": {"type": "aws.ec2.Vpc"}}})
            >>> t.resource_count_is("aws.ec2.Subnet", 0)
        """
        name = type_name(resource_type)
        paths = [path for path, _ in self._of_type(name)]
        if len(paths) != count:
            found = f": {', '.join(paths)}" if paths else self._type_hint(name)
            raise AssertionError(f"expected {count} {name}, found {len(paths)}{found}")

    def has_resource(self, resource_type: str | type, pattern: Any) -> None:
        """Assert that some resource of the type matches ``pattern`` as a whole entry.

        The entry has the keys ``type``, ``properties``, ``depends_on`` and ``options``;
        a plain dict pattern is `Match.object_like`.

        Example:
            >>> t = Template.from_dict({"resources": {"Vpc": {"type": "aws.ec2.Vpc",
            ...     "properties": {}, "depends_on": [], "options": {"protect": True}}}})
            >>> t.has_resource("aws.ec2.Vpc", {"options": {"protect": True}})
        """
        self._assert_some(type_name(resource_type), as_matcher(pattern), properties=False)

    def has_resource_properties(self, resource_type: str | type, pattern: Any) -> None:
        """Assert that some resource of the type has properties matching ``pattern``.

        Example:
            >>> t = Template.from_dict({"resources": {"Vpc": {"type": "aws.ec2.Vpc",
            ...     "properties": {"cidr_block": "10.0.0.0/16", "tags": {}}}}})
            >>> t.has_resource_properties("aws.ec2.Vpc", {"cidr_block": "10.0.0.0/16"})
        """
        self._assert_some(type_name(resource_type), as_matcher(pattern), properties=True)

    def find_resources(
        self, resource_type: str | type, pattern: Any = None
    ) -> dict[str, dict[str, Any]]:
        """The entries of the type that match ``pattern`` (a whole-entry pattern), by path.

        Example:
            >>> t = Template.from_dict({"resources": {"Vpc": {"type": "aws.ec2.Vpc"}}})
            >>> t.find_resources("aws.ec2.Vpc")
            {'Vpc': {'type': 'aws.ec2.Vpc'}}
        """
        matched, _ = self._search(type_name(resource_type), pattern, properties=False)
        _commit(matched)
        return {path: copy.deepcopy(self._entry(path)) for path, _ in matched}

    def all_resources(self, resource_type: str | type, pattern: Any) -> None:
        """Assert that there are resources of the type and every entry matches ``pattern``.

        Example:
            >>> t = Template.from_dict({"resources": {"Vpc": {"type": "aws.ec2.Vpc",
            ...     "options": {"protect": True}}}})
            >>> t.all_resources("aws.ec2.Vpc", {"options": {"protect": True}})
        """
        self._assert_all(type_name(resource_type), pattern, properties=False)

    def all_resources_properties(self, resource_type: str | type, pattern: Any) -> None:
        """Assert that there are resources of the type and all their properties match.

        Example:
            >>> t = Template.from_dict({"resources": {"Vpc": {"type": "aws.ec2.Vpc",
            ...     "properties": {"cidr_block": "10.0.0.0/16"}}}})
            >>> from infradsl.testing import Match
            >>> t.all_resources_properties("aws.ec2.Vpc", {"cidr_block": Match.any_value()})
        """
        self._assert_all(type_name(resource_type), pattern, properties=True)

    def has_output(self, output_id: str, pattern: Any = None) -> None:
        """Assert that the stack has the output, and that its value matches ``pattern``.

        Example:
            >>> t = Template.from_dict({"resources": {}, "outputs": {
            ...     "WebIp": {"ref": "Web.public_ip"}}})
            >>> from infradsl.testing import Match
            >>> t.has_output("WebIp", Match.ref("Web", "public_ip"))
        """
        outputs = self._outputs()
        if output_id not in outputs:
            names = ", ".join(sorted(outputs)) or "none"
            raise AssertionError(
                f"No output {output_id!r} in stack {self._stack_name()!r} (outputs: {names})"
                + did_you_mean(output_id, outputs)
            )
        if pattern is None:
            return
        result = as_matcher(pattern).test(outputs[output_id])
        if not result.ok:
            raise AssertionError(f"Output {output_id} does not match\n{_indent(result, 2)}")
        result.commit()

    def find_outputs(self, pattern: Any = None) -> dict[str, Any]:
        """The outputs whose value matches ``pattern`` (all when it is ``None``), by id.

        Example:
            >>> t = Template.from_dict({"resources": {}, "outputs": {"Zone": "example.com"}})
            >>> from infradsl.testing import Match
            >>> t.find_outputs(Match.string_like_regexp(r"\\.com$"))
            {'Zone': 'example.com'}
        """
        found: dict[str, Any] = {}
        matcher = None if pattern is None else as_matcher(pattern)
        for output_id, value in self._outputs().items():
            if matcher is not None:
                result = matcher.test(value)
                if not result.ok:
                    continue
                result.commit()
            found[output_id] = copy.deepcopy(value)
        return found

    def find_lookups(
        self, resource_type: str | type | None = None, query: Any = None
    ) -> dict[str, Any]:
        """The stack's lookups of existing resources (``ec2.Vpc.lookup``) of
        ``resource_type`` whose query matches ``query`` (all when ``None``), by path.

        Example:
            >>> t = Template.from_dict({"resources": {}, "lookups": {"Shared": {
            ...     "type": "aws.ec2.Vpc", "query": {"tags": {"Name": "shared"}}}}})
            >>> sorted(t.find_lookups("aws.ec2.Vpc", {"tags": {"Name": "shared"}}))
            ['Shared']
        """
        wanted = None if resource_type is None else type_name(resource_type)
        matcher = None if query is None else as_matcher(query)
        found: dict[str, Any] = {}
        lookups: dict[str, Any] = self._doc.get("lookups", {})
        for path, entry in lookups.items():
            if wanted is not None and entry.get("type") != wanted:
                continue
            if matcher is not None:
                result = matcher.test(entry.get("query", {}))
                if not result.ok:
                    continue
                result.commit()
            found[path] = copy.deepcopy(entry)
        return found

    def deploys_before(self, first: object, then: object) -> None:
        """Assert that ``first`` is a dependency of ``then``, directly or transitively.

        Args:
            first: a resource path (``"Net/Vpc"``) or resource, deployed first.
            then: a resource path or resource that depends on it.

        Example:
            >>> t = Template.from_dict({"resources": {
            ...     "Vpc": {"type": "aws.ec2.Vpc", "depends_on": []},
            ...     "Subnet": {"type": "aws.ec2.Subnet", "depends_on": ["Vpc"]},
            ...     "Web": {"type": "aws.ec2.Instance", "depends_on": ["Subnet"]}}})
            >>> t.deploys_before("Vpc", "Web")
        """
        before, after = path_of(first), path_of(then)
        self._entry(before)
        dependencies = self._dependencies_of(after)
        if before == after:
            raise AssertionError(f"{before} cannot deploy before itself")
        if before in dependencies:
            return
        message = (
            f"expected {before} to deploy before {after}, but {after} does not depend on it, "
            "directly or transitively"
        )
        if after in self._dependencies_of(before):
            message += f"; it is the other way round: {before} depends on {after}"
        else:
            message += f"; {after} depends on: {', '.join(sorted(dependencies)) or 'nothing'}"
        raise AssertionError(message)

    def depends_on(self, dependent: object, dependency: object) -> None:
        """Assert that ``dependent`` lists ``dependency`` in its ``depends_on`` (a direct edge).

        Example:
            >>> t = Template.from_dict({"resources": {
            ...     "Vpc": {"type": "aws.ec2.Vpc", "depends_on": []},
            ...     "Subnet": {"type": "aws.ec2.Subnet", "depends_on": ["Vpc"]}}})
            >>> t.depends_on("Subnet", "Vpc")
        """
        child, parent = path_of(dependent), path_of(dependency)
        self._entry(parent)
        direct = list(self._entry(child).get("depends_on", []))
        if parent in direct:
            return
        message = (
            f"expected {child} to depend directly on {parent}; its depends_on is {sorted(direct)}"
        )
        if parent in self._dependencies_of(child):
            message += f" ({parent} is only a transitive dependency)"
        raise AssertionError(message)

    def __repr__(self) -> str:
        count = len(self._resources())
        return f"Template(stack={self._stack_name()!r}, {count} resources)"

    # -- helpers --------------------------------------------------------------------------

    def _stack_name(self) -> str:
        return str(self._doc.get("stack", "?"))

    def _resources(self) -> dict[str, dict[str, Any]]:
        resources: dict[str, dict[str, Any]] = self._doc.get("resources", {})
        return resources

    def _outputs(self) -> dict[str, Any]:
        outputs: dict[str, Any] = self._doc.get("outputs", {})
        return outputs

    def _entry(self, path: str) -> dict[str, Any]:
        resources = self._resources()
        if path not in resources:
            raise AssertionError(
                f"No resource {path!r} in stack {self._stack_name()!r}"
                + did_you_mean(path, resources)
            )
        return resources[path]

    def _of_type(self, name: str) -> list[tuple[str, dict[str, Any]]]:
        return [(path, entry) for path, entry in self._resources().items() if entry["type"] == name]

    def _type_hint(self, name: str) -> str:
        types = {entry["type"] for entry in self._resources().values()}
        return did_you_mean(name, types)

    def _dependencies_of(self, path: str) -> set[str]:
        resources = self._resources()
        seen: set[str] = set()
        pending = list(self._entry(path).get("depends_on", []))
        while pending:
            current = pending.pop()
            if current not in seen:
                seen.add(current)
                pending.extend(resources.get(current, {}).get("depends_on", []))
        return seen

    def _search(self, name: str, pattern: Any, *, properties: bool) -> tuple[_Found, _Found]:
        """Test every resource of the type; returns (matched, missed), captures not committed."""
        matcher: Matcher | None = None if pattern is None else as_matcher(pattern)
        matched: _Found = []
        missed: _Found = []
        for path, entry in self._of_type(name):
            if matcher is None:
                result = MatchResult()
            elif properties:
                result = matcher.test(entry.get("properties", {}), "/properties")
            else:
                result = matcher.test(entry)
            (matched if result.ok else missed).append((path, result))
        return matched, missed

    def _assert_some(self, name: str, matcher: Matcher, *, properties: bool) -> None:
        matched, missed = self._search(name, matcher, properties=properties)
        if matched:
            _commit(matched)
            return
        if not missed:
            raise AssertionError(
                f"No {name} matches: stack {self._stack_name()!r} has no {name}"
                + self._type_hint(name)
            )
        path, closest = min(missed, key=lambda found: (len(found[1].failures), found[0]))
        count = len(closest.failures)
        raise AssertionError(
            f"No {name} matches. Closest: {path} "
            f"({_plural(count, 'mismatch', 'mismatches')}; "
            f"{_plural(len(missed), 'candidate', 'candidates')})\n{_indent(closest, 2)}"
        )

    def _assert_all(self, name: str, pattern: Any, *, properties: bool) -> None:
        matched, missed = self._search(name, as_matcher(pattern), properties=properties)
        if not matched and not missed:
            raise AssertionError(
                f"expected every {name} to match, but stack {self._stack_name()!r} has none"
                + self._type_hint(name)
            )
        if not missed:
            _commit(matched)
            return
        lines = [f"{len(missed)} of {len(matched) + len(missed)} {name} do not match:"]
        for path, result in missed:
            lines.append(f"  {path}")
            lines.append(_indent(result, 4))
        raise AssertionError("\n".join(lines))


def _check_document(document: Any) -> None:
    if not isinstance(document, Mapping):
        raise ValueError(f"not a synthesized stack document: expected a dict, got {document!r}")
    resources = document.get("resources", {})
    if not isinstance(resources, Mapping):
        raise ValueError("not a synthesized stack document: 'resources' is not a dict")
    for path, entry in resources.items():
        if not isinstance(entry, Mapping) or not isinstance(entry.get("type"), str):
            raise ValueError(
                f"not a synthesized stack document: resource {path!r} has no 'type' string"
            )
    if not isinstance(document.get("outputs", {}), Mapping):
        raise ValueError("not a synthesized stack document: 'outputs' is not a dict")


def _commit(found: _Found) -> None:
    # Captures are committed only once the assertion has passed, in document order.
    for _, result in found:
        result.commit()


def _indent(result: MatchResult, spaces: int) -> str:
    return "\n".join(" " * spaces + str(failure) for failure in result.failures)


def _plural(count: int, one: str, many: str) -> str:
    return f"{count} {one if count == 1 else many}"
