"""infradsl: infrastructure as Python, with its own deploy engine.

Example:
    >>> from infradsl import App, Stack
    >>> from infradsl.aws import ec2
    >>> app = App()
    >>> stack = Stack(app, "demo", region="us-east-1")
    >>> vpc = ec2.Vpc(stack, "Vpc", cidr_block="10.0.0.0/16")
"""

from infradsl.core import App, Construct, Output, Reference, Resource, ResourceOptions, Stack
from infradsl.errors import InfraDslError, ValidationError

__version__ = "0.1.0"

__all__ = [
    "App",
    "Construct",
    "InfraDslError",
    "Output",
    "Reference",
    "Resource",
    "ResourceOptions",
    "Stack",
    "ValidationError",
    "__version__",
]
