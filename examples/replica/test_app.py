"""Unit tests for the region replicas, written the way a user tests their own stacks.

They run in milliseconds: no cloud, no network, no boto3.
"""

from __future__ import annotations

import pytest

from infradsl import App, ValidationError
from infradsl.aws import ec2
from infradsl.plan.crossstack import document_producers
from infradsl.synth import synthesize
from infradsl.testing import Template

from .app import DB_IMAGE, REGIONS, WEB_IMAGE, ZONES, WebApp


@pytest.mark.parametrize("region", REGIONS)
def test_each_replica_uses_the_images_and_zones_of_its_region(region: str) -> None:
    t = Template.from_stack(WebApp(App(), "test", region=region))
    t.has_resource_properties(ec2.Instance, {"image": WEB_IMAGE[region]})
    t.has_resource_properties(ec2.Instance, {"image": DB_IMAGE[region]})
    zones = {e["properties"]["availability_zone"] for e in t.find_resources(ec2.Subnet).values()}
    assert zones == set(ZONES[region])


def test_every_region_has_every_regional_value() -> None:
    for mapping in (WEB_IMAGE, DB_IMAGE, ZONES):
        assert set(REGIONS) <= set(mapping)


def test_a_region_without_images_is_refused_before_anything_is_deployed() -> None:
    with pytest.raises(ValidationError, match="ZONES has no value for region 'ap-south-1'"):
        WebApp(App(), "webapp-ap-south-1", region="ap-south-1")


def test_the_replicas_do_not_read_from_each_other() -> None:
    """So `infradsl deploy` runs them side by side."""
    app = App()
    for region in REGIONS:
        WebApp(app, f"webapp-{region}", region=region)
    for document in synthesize(app).values():
        assert document_producers(document) == set()
