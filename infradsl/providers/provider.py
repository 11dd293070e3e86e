"""A provider as the engine sees it: clients per region and a handler per type.

The layer that knows which cloud it talks to (the command line, the test plugin) builds
one, for example with `infradsl.providers.aws.provider.aws_provider`, and passes it to
`infradsl.engine.session.Session.with_provider`: the engine never picks a cloud itself.
"""

from __future__ import annotations

from collections.abc import Callable

import attrs

from infradsl.providers.handler import ClientProvider, ResourceHandler

__all__ = ["Provider"]


@attrs.frozen
class Provider:
    """What a session needs from a cloud provider.

    Attributes:
        clients_for: region -> the clients of that region (created once per region).
        handler_for: type name -> its handler.
        preflight: region -> raises when the cloud cannot be reached there (asked once
            per region, before anything is read); ``None``: no check.
        prewarm: (region, type names) -> starts creating their clients in the background;
            ``None``: clients are created when first used.

    Example:
        >>> from infradsl.providers.fake import FakeCloud
        >>> cloud = FakeCloud()
        >>> provider = Provider(clients_for=lambda region: cloud, handler_for=cloud.handler)
        >>> provider.handler_for("aws.ec2.Vpc").type_name
        'aws.ec2.Vpc'
    """

    clients_for: Callable[[str], ClientProvider]
    handler_for: Callable[[str], ResourceHandler]
    preflight: Callable[[str], object] | None = None
    prewarm: Callable[[str, set[str]], None] | None = None
