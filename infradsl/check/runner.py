"""Applying rules to synthesized documents, and checking users' acknowledgements."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from infradsl.check.finding import Finding
from infradsl.check.rule import Rule
from infradsl.check.rules import RULES
from infradsl.core.construct import closest
from infradsl.errors import Problem

__all__ = [
    "OUTPUT_TYPE",
    "acknowledgement_problems",
    "run_checks",
    "unknown_acknowledgements",
]

OUTPUT_TYPE = "infradsl.Output"
"""The type name under which stack outputs are checked (by rules with no ``types``)."""


def run_checks(
    documents: Mapping[str, Mapping[str, Any]], *, rules: Iterable[Rule] | None = None
) -> list[Finding]:
    """Apply ``rules`` (the built-in `RULES` by default) to every resource and output.

    A rule's ``check`` sees each resource (and output) entry; its ``check_stack`` sees each
    stack document whole and names the resource each finding belongs to; its
    ``check_app`` sees all documents together and names the stack and resource.

    A finding whose rule is acknowledged on the resource (``options.acknowledged``) is
    still returned, with ``acknowledged`` set to the user's reason.

    Args:
        documents: synthesized stack documents by stack name, as returned by
            `infradsl.synth.synthesize`.
        rules: the rules to apply.

    Returns:
        The findings, without duplicates, sorted by stack, path, rule id and message.

    Example:
        >>> from infradsl import App, Stack
        >>> from infradsl.aws import s3
        >>> from infradsl.synth import synthesize
        >>> app = App()
        >>> _ = s3.Bucket(Stack(app, "demo"), "Logs", block_public_access=False)
        >>> [(f.rule_id, f.path, f.message) for f in run_checks(synthesize(app))]
        [('S3001', 'Logs', 'block_public_access is false')]
    """
    chosen = list(RULES.values() if rules is None else rules)
    found: set[Finding] = set()

    def add(rule: Rule, stack: str, path: str, entry: Mapping[str, Any], message: str) -> None:
        found.add(
            Finding(
                rule_id=rule.id,
                severity=rule.severity,
                stack=stack,
                path=path,
                message=message,
                acknowledged=_acknowledged(entry).get(rule.id),
            )
        )

    for stack, path, entry in _entries(documents):
        type_name = str(entry.get("type", ""))
        for rule in chosen:
            if rule.applies_to(type_name):
                for message in rule.check(entry):
                    add(rule, stack, path, entry, message)
    def add_found(rule: Rule, stack: str, path: str, message: str) -> None:
        document = documents.get(stack, {})
        resources, outputs = document.get("resources"), document.get("outputs")
        target = resources.get(path) if isinstance(resources, Mapping) else None
        if target is None and isinstance(outputs, Mapping) and path in outputs:
            target = {"type": OUTPUT_TYPE, "properties": {"value": outputs[path]}}
        if isinstance(target, Mapping) and rule.applies_to(str(target.get("type", ""))):
            add(rule, stack, path, target, message)

    for stack in sorted(documents):
        for rule in chosen:
            for path, message in rule.check_stack(documents[stack]):
                add_found(rule, stack, path, message)
    for rule in chosen:
        for stack, path, message in rule.check_app(documents):
            add_found(rule, stack, path, message)
    return sorted(found, key=lambda finding: finding.sort_key)


def unknown_acknowledgements(
    documents: Mapping[str, Mapping[str, Any]], *, rules: Iterable[Rule] | None = None
) -> list[tuple[str, str, str, str | None]]:
    """Acknowledgements that name no known rule, with a "did you mean" suggestion.

    An acknowledgement is inherited by everything under the construct it was made on, so
    it appears on many resources; it is reported once, at the widest construct path all
    of whose resources carry it (``""`` for the stack itself).

    Args:
        documents: synthesized stack documents by stack name.
        rules: the known rules (the built-in `RULES` by default).

    Returns:
        Sorted ``(stack, path, rule_id, suggestion)`` tuples; ``suggestion`` is the
        closest known rule id, or ``None``.

    Example:
        >>> from infradsl import App, Stack
        >>> from infradsl.aws import s3
        >>> from infradsl.synth import synthesize
        >>> app = App()
        >>> stack = Stack(app, "demo")
        >>> _ = s3.Bucket(stack, "Logs")
        >>> stack.node.acknowledge("SG01", reason="a bastion stack, SSH is the point")
        >>> unknown_acknowledgements(synthesize(app))
        [('demo', '', 'SG01', 'SG001')]
    """
    known = sorted(rule.id for rule in (RULES.values() if rules is None else rules))
    carriers: dict[tuple[str, str, str], set[str]] = {}
    paths: dict[str, list[str]] = {}
    for stack, path, entry in _entries(documents):
        if entry.get("type") == OUTPUT_TYPE:
            continue
        paths.setdefault(stack, []).append(path)
        for rule_id, reason in _acknowledged(entry).items():
            if rule_id not in known:
                carriers.setdefault((stack, rule_id, reason), set()).add(path)
    out: set[tuple[str, str, str, str | None]] = set()
    for (stack, rule_id, _reason), carrying in carriers.items():
        for path in carrying:
            where = _widest_scope(path, carrying, paths[stack])
            out.add((stack, where, rule_id, _suggest(rule_id, known)))
    return sorted(out, key=lambda item: (item[0], item[1], item[2], item[3] or ""))


def _entries(
    documents: Mapping[str, Mapping[str, Any]],
) -> Iterator[tuple[str, str, Mapping[str, Any]]]:
    """Yield ``(stack, path, entry)`` for every resource, then every output, by stack."""
    for stack in sorted(documents):
        document = documents[stack]
        resources = document.get("resources")
        if isinstance(resources, Mapping):
            for path in sorted(resources):
                entry = resources[path]
                if isinstance(entry, Mapping):
                    yield stack, path, entry
        outputs = document.get("outputs")
        if isinstance(outputs, Mapping):
            for name in sorted(outputs):
                value = {"type": OUTPUT_TYPE, "properties": {"value": outputs[name]}}
                yield stack, name, value


def _acknowledged(entry: Mapping[str, Any]) -> dict[str, str]:
    options = entry.get("options")
    acks = options.get("acknowledged") if isinstance(options, Mapping) else None
    if not isinstance(acks, Mapping):
        return {}
    return {str(rule_id): str(reason) for rule_id, reason in acks.items()}


def _widest_scope(path: str, carrying: set[str], all_paths: list[str]) -> str:
    """The shortest scope of ``path`` whose resources all carry the acknowledgement."""
    parts = path.split("/")
    for depth in range(len(parts)):
        scope = "/".join(parts[:depth])
        inside = [p for p in all_paths if not scope or p == scope or p.startswith(scope + "/")]
        if all(p in carrying for p in inside):
            return scope
    return path


def _suggest(rule_id: str, known: list[str]) -> str | None:
    by_upper = {k.upper(): k for k in known}
    if rule_id.upper() in by_upper:
        return by_upper[rule_id.upper()]
    match = closest(rule_id.upper(), by_upper)
    return by_upper[match] if match is not None else None


def acknowledgement_problems(
    documents: Mapping[str, Mapping[str, Any]], *, rules: Iterable[Rule] | None = None
) -> list[Problem]:
    """`unknown_acknowledgements` as problems to report, with the known rules listed."""
    known = list(RULES) if rules is None else [r.id for r in rules]
    problems = []
    for stack, path, rule_id, suggestion in unknown_acknowledgements(documents, rules=rules):
        hint = f" (did you mean {suggestion!r}?)" if suggestion else ""
        problems.append(
            Problem(
                f"{stack}/{path}" if path else stack,
                f"acknowledges unknown rule {rule_id!r}{hint}; known rules: {', '.join(known)}",
            )
        )
    return problems
