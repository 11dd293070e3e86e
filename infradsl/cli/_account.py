"""The line that names the AWS account and regions before a plan on ``--target aws``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from infradsl.engine.session import Session

__all__ = ["account_line", "regions_of"]


def regions_of(session: Session, documents: Mapping[str, Mapping[str, Any] | None]) -> list[str]:
    """The regions a run touches: each stack's, a destroyed stack's from its state, and
    the regions of lookups declared by stacks in other regions."""
    regions: set[str] = set()
    for name, document in documents.items():
        if document is None:
            state = session.backend.read(name)
            if state is not None:
                regions.add(state.region)
            continue
        regions.add(str(document["region"]))
        for entry in (document.get("lookups") or {}).values():
            if entry.get("region"):
                regions.add(str(entry["region"]))
    return sorted(regions)


def account_line(session: Session, documents: Mapping[str, Mapping[str, Any] | None]) -> str:
    """``AWS account 123456789012 (arn:...), region us-east-1``, checked now.

    One STS GetCallerIdentity per region, so missing or refused credentials and a wrong
    account are seen before anything is read or planned.

    Raises:
        CloudUnreachableError: no credentials, refused credentials, or no answer.
    """
    from infradsl.providers.aws.clients import check_reachable

    regions = regions_of(session, documents)
    if not regions:
        return ""
    identities = [check_reachable(session.clients_for(region)) for region in regions]
    accounts = sorted({i.account for i in identities})
    who = identities[0].arn
    where = f"region {regions[0]}" if len(regions) == 1 else f"regions {', '.join(regions)}"
    if len(accounts) > 1:  # a profile per region would do it; say so rather than hide it
        return f"AWS accounts {', '.join(accounts)} ({who}), {where}"
    return f"AWS account {accounts[0]} ({who}), {where}"
