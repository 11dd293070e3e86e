"""The AWS provider: boto3 clients per region (real AWS or the local cloud) and the
handlers of `infradsl.providers.aws`."""

from __future__ import annotations

import threading

from infradsl.providers.provider import Provider

__all__ = ["aws_provider"]


def aws_provider(endpoint_url: str | None = None) -> Provider:
    """The AWS handlers with one client set per region, created on first use.

    Args:
        endpoint_url: the local cloud's URL, or ``None`` for real AWS.
    """
    from infradsl.providers.aws import handler_for
    from infradsl.providers.aws.clients import Clients, check_reachable, prewarm
    from infradsl.providers.aws.registry import services_for

    cache: dict[str, Clients] = {}
    lock = threading.Lock()

    def clients_for(region: str) -> Clients:
        with lock:
            if region not in cache:
                cache[region] = Clients(region, endpoint_url)
            return cache[region]

    return Provider(
        clients_for=clients_for,
        handler_for=handler_for,
        preflight=lambda region: check_reachable(clients_for(region)),
        prewarm=lambda region, types: prewarm(clients_for(region), services_for(types)),
    )
