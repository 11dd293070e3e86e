"""Stack outputs: values shown after a deploy and readable by other stacks."""

from __future__ import annotations

from typing import Any

from infradsl.core.construct import Construct

__all__ = ["Output"]


class Output(Construct):
    """A value of a stack shown after deploy and stored in its state.

    Args:
        scope: a stack or a construct inside one.
        id: the output name.
        value: a reference (``web.public_ip``), a string with references inside, or a literal.
        description: shown next to the value.

    Example:
        >>> from infradsl import App, Output, Stack
        >>> from infradsl.aws import ec2
        >>> stack = Stack(App(), "demo")
        >>> vpc = ec2.Vpc(stack, "Vpc", cidr_block="10.0.0.0/16")
        >>> Output(stack, "VpcId", vpc.id).value
        Reference(Vpc.id)
    """

    def __init__(self, scope: Construct, id: str, value: Any, *, description: str | None = None):
        super().__init__(scope, id)
        self.value = value
        self.description = description
        stack = self.node.stack
        if stack is None:
            self.logical_id = self.node.path
            self.node.add_problem(f"output {id!r} is not inside a Stack")
        else:
            self.logical_id = self.node.path[len(stack.node.path) + 1 :]
