"""The construct model: tree, App/Stack, resources, references and validation (pure, no I/O)."""

from infradsl.core.app import App
from infradsl.core.construct import Construct, Node
from infradsl.core.output import Output
from infradsl.core.reference import Reference
from infradsl.core.resource import Resource, ResourceOptions
from infradsl.core.stack import Stack

__all__ = [
    "App",
    "Construct",
    "Node",
    "Output",
    "Reference",
    "Resource",
    "ResourceOptions",
    "Stack",
]
