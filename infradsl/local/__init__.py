"""The embedded local cloud: moto's server on 127.0.0.1, started, found and stopped."""

from infradsl.local.server import LocalCloud, ensure_local_cloud, local_status, start, stop

__all__ = ["LocalCloud", "ensure_local_cloud", "local_status", "start", "stop"]
