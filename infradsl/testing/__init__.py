"""Unit-testing stacks: assertions about synthesized documents, pure and fast.

This layer sits on top of synthesis and never touches a cloud: it imports no boto3.

Example:
    >>> from infradsl.testing import Capture, Match, Template
    >>> t = Template.from_dict({"stack": "demo", "resources": {"Sg": {
    ...     "type": "aws.ec2.SecurityGroup",
    ...     "properties": {"ingress": [{"protocol": "tcp", "from_port": 443}]}}}})
    >>> t.has_resource_properties("aws.ec2.SecurityGroup", {
    ...     "ingress": Match.array_with([{"from_port": 443}])})
"""

from infradsl.testing.capture import Capture
from infradsl.testing.match import Match
from infradsl.testing.template import Template

__all__ = ["Capture", "Match", "Template"]
