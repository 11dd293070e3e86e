"""The planner on its own: documents, hand-made state and live reads in, a plan out."""

from __future__ import annotations

from typing import Any

from infradsl import App, Construct, Output, Stack
from infradsl.aws import ec2
from infradsl.plan.change import Action, OutputChange, Plan, PropertyDiff, ResourceChange
from infradsl.plan.planner import plan_stack
from infradsl.plan.values import resolve
from infradsl.providers.handler import TOKEN_TAG, ReadResult, system_tags
from infradsl.state.model import ResourceState, StackState
from infradsl.synth import synthesize


def attribute(path: str, name: str) -> str:
    return f"id-{path}" if name == "id" else f"{path}.{name}"


def deployed(document: dict[str, Any], **outputs: Any) -> StackState:
    """The state a deploy of ``document`` leaves (ids ``id-<path>``)."""

    def lookup(stack: str | None, path: str, name: str) -> Any:
        return attribute(path, name)

    resources = {
        path: ResourceState(
            entry["type"],
            f"id-{path}",
            entry["properties"],
            resolve(entry["properties"], lookup),
            {"id": f"id-{path}", "public_ip": f"{path}.public_ip"},
            tuple(entry["depends_on"]),
            entry["options"],
        )
        for path, entry in document["resources"].items()
    }
    return StackState("demo", "local", "us-east-1", 3, resources=resources, outputs=outputs)


def live(state: StackState, **tags: dict[str, str]) -> dict[str, ReadResult | None]:
    """What a refresh reads: the state as deployed, with the system tags and a token;
    ``tags`` replaces the read tags of a path."""
    found: dict[str, ReadResult | None] = {}
    for path, res in state.resources.items():
        read = {**dict(res.properties.get("tags") or {}), **system_tags("demo", path)}
        read[TOKEN_TAG] = "0123456789abcdef"
        found[path] = ReadResult({}, res.attributes, tags.get(path.replace("/", "_"), read))
    return found


def document(**vpc: Any) -> dict[str, Any]:
    app = App()
    stack = Stack(app, "demo")
    net = ec2.Vpc(stack, "Vpc", cidr_block="10.0.0.0/16", **vpc)
    ec2.Subnet(stack, "Subnet", vpc=net, cidr_block="10.0.1.0/24")
    return synthesize(app)["demo"]


def changes(plan: Plan) -> dict[str, ResourceChange]:
    return {c.path: c for c in plan.changes}


# options ----------------------------------------------------------------------------


def test_removing_protect_is_planned_as_an_update_of_the_option() -> None:
    state = deployed(document(protect=True))
    plan = plan_stack(document(), state, live(state))
    vpc = changes(plan)["Vpc"]
    assert vpc.action is Action.UPDATE
    assert vpc.diffs == (PropertyDiff("protect", True, False, option=True),)
    assert plan.has_changes
    assert plan.confirmation_reasons() == []


def test_unchanged_options_plan_no_changes() -> None:
    state = deployed(document(protect=True, ignore_changes=["tags"]))
    plan = plan_stack(document(protect=True, ignore_changes=["tags"]), state, live(state))
    assert not plan.has_changes


def test_an_option_list_change_is_shown_with_its_values() -> None:
    state = deployed(document())
    plan = plan_stack(document(ignore_changes=["enable_dns_support"]), state)
    assert changes(plan)["Vpc"].diffs == (
        PropertyDiff("ignore_changes", [], ["enable_dns_support"], option=True),
    )


# tags -------------------------------------------------------------------------------


def test_a_tag_removed_by_hand_is_drift_with_the_whole_tag_set() -> None:
    state = deployed(document(tags={"team": "web"}))
    read = {**system_tags("demo", "Vpc"), TOKEN_TAG: "t"}  # "team" removed by hand
    plan = plan_stack(document(tags={"team": "web"}), state, live(state, Vpc=read))
    vpc = changes(plan)["Vpc"]
    assert vpc.action is Action.UPDATE
    assert vpc.reasons == ("'tags' was changed outside infradsl",)
    (diff,) = vpc.diffs
    assert diff.name == "tags" and diff.drift and not diff.forces_replacement
    assert diff.old == system_tags("demo", "Vpc")
    assert diff.new == {"team": "web", **system_tags("demo", "Vpc")}


def test_a_tag_added_by_hand_is_drift() -> None:
    state = deployed(document())
    read = {**system_tags("demo", "Subnet"), TOKEN_TAG: "t", "owner": "bob"}
    plan = plan_stack(document(), state, live(state, Subnet=read))
    (diff,) = changes(plan)["Subnet"].diffs
    assert diff.drift and diff.old["owner"] == "bob" and "owner" not in diff.new


def test_the_token_and_aws_tags_are_not_drift() -> None:
    state = deployed(document())
    read = {**system_tags("demo", "Vpc"), TOKEN_TAG: "other", "aws:cloudformation:x": "y"}
    plan = plan_stack(document(), state, live(state, Vpc=read))
    assert not plan.has_changes


def test_a_tag_changed_in_code_converges_from_the_tags_read() -> None:
    state = deployed(document(tags={"team": "web"}))
    plan = plan_stack(document(tags={"team": "api"}), state, live(state))
    (diff,) = changes(plan)["Vpc"].diffs
    assert not diff.drift
    assert diff.old["team"] == "web" and diff.new["team"] == "api"
    assert diff.old["Name"] == "demo/Vpc"


def test_ignore_changes_on_tags_hides_tag_drift() -> None:
    state = deployed(document(ignore_changes=["tags"]))
    read = {**system_tags("demo", "Vpc"), "owner": "bob"}
    plan = plan_stack(document(ignore_changes=["tags"]), state, live(state, Vpc=read))
    assert not plan.has_changes


def test_without_a_refresh_no_tag_drift_is_seen() -> None:
    state = deployed(document(tags={"team": "web"}))
    assert not plan_stack(document(tags={"team": "web"}), state).has_changes


# renames ----------------------------------------------------------------------------


def renamed_document(*, alias: bool = True) -> dict[str, Any]:
    app = App()
    stack = Stack(app, "demo")
    net = ec2.Vpc(stack, "Network", cidr_block="10.0.0.0/16", aliases=["Vpc"] if alias else [])
    ec2.Subnet(stack, "Subnet", vpc=net, cidr_block="10.0.1.0/24")
    return synthesize(app)["demo"]


def test_a_rename_keeps_the_resources_that_refer_to_it() -> None:
    state = deployed(document())
    plan = plan_stack(renamed_document(), state, live(state))
    found = changes(plan)
    assert found["Subnet"].action is Action.NOOP, "its reference is compared by the new path"
    network = found["Network"]
    assert network.action is Action.UPDATE and network.previous_path == "Vpc"
    (tags,) = network.diffs
    assert (tags.old["Name"], tags.new["Name"]) == ("demo/Vpc", "demo/Network")
    assert (tags.old["infradsl:path"], tags.new["infradsl:path"]) == ("Vpc", "Network")
    assert not tags.drift
    assert [c.action for c in plan.changes if c.path == "Vpc"] == []


def test_without_an_alias_a_rename_replaces_the_resources_that_refer_to_it() -> None:
    state = deployed(document())
    found = changes(plan_stack(renamed_document(alias=False), state))
    assert found["Network"].action is Action.CREATE
    assert found["Subnet"].action is Action.REPLACE
    assert found["Vpc"].action is Action.DELETE


class Network(Construct):
    def __init__(self, scope: Construct, id: str) -> None:
        super().__init__(scope, id)
        self.vpc = ec2.Vpc(self, "Vpc", cidr_block="10.0.0.0/16")
        # Its own alias is a path in the stack, like any alias: "<this component>/A".
        old = f"{self.node.path.partition('/')[2]}/A"
        ec2.Subnet(self, "Public", vpc=self.vpc, cidr_block="10.0.1.0/24", aliases=[old])


def component(id: str, *aliases: str) -> dict[str, Any]:
    app = App()
    stack = Stack(app, "demo")
    net = Network(stack, id)
    for alias in aliases:
        net.node.add_alias(alias)
    ec2.SecurityGroup(stack, "Sg", vpc=net.vpc)
    return synthesize(app)["demo"]


def test_a_component_alias_gives_every_resource_below_it_its_old_paths() -> None:
    resources = component("Network", "Net")["resources"]
    assert resources["Network/Vpc"]["options"]["aliases"] == ["Net/Vpc"]
    assert resources["Network/Public"]["options"]["aliases"] == [
        "Net/A",
        "Net/Public",
        "Network/A",
    ]
    assert "aliases" not in resources["Sg"]["options"]


def test_renaming_a_component_with_an_alias_replaces_nothing() -> None:
    state = deployed(component("Net"))
    plan = plan_stack(component("Network", "Net"), state, live(state))
    actions = {c.path: c.action for c in plan.changes}
    assert actions == {
        "Network/Vpc": Action.UPDATE,
        "Network/Public": Action.UPDATE,
        "Sg": Action.NOOP,
    }
    assert changes(plan)["Network/Public"].previous_path == "Net/Public"


def test_an_alias_on_a_stack_or_a_bad_path_is_reported() -> None:
    import pytest

    from infradsl.errors import InfraDslError

    app = App()
    stack = Stack(app, "demo")
    stack.node.add_alias("old")
    Construct(stack, "Net").node.add_alias("Old Net")
    with pytest.raises(InfraDslError) as info:
        synthesize(app)
    text = str(info.value)
    assert "a stack cannot be renamed" in text
    assert "alias 'Old Net' is not a path of ids joined by '/'" in text


# outputs ----------------------------------------------------------------------------


def outputs_document(**values: Any) -> dict[str, Any]:
    app = App()
    stack = Stack(app, "demo")
    vpc = ec2.Vpc(stack, "Vpc", cidr_block="10.0.0.0/16")
    ec2.Instance(
        stack,
        "Web",
        image=values.pop("image", "ami-12345678"),
        instance_type="t3.micro",
        subnet=ec2.Subnet(stack, "Subnet", vpc=vpc, cidr_block="10.0.1.0/24"),
    )
    for name, value in values.items():
        description = None
        if isinstance(value, tuple):
            value, description = value
        if value == "vpc":
            value = vpc.id
        Output(stack, name, value, description=description)
    return synthesize(app)["demo"]


def test_outputs_added_changed_and_removed_are_planned() -> None:
    state = deployed(outputs_document(), Region="us-east-1", Old="x", VpcId="id-Vpc")
    plan = plan_stack(
        outputs_document(Region="eu-west-1", VpcId="vpc", Url=("https://example.com", "the site")),
        state,
    )
    assert [(o.name, o.action) for o in plan.outputs] == [
        ("Old", Action.DELETE),
        ("Region", Action.UPDATE),
        ("Url", Action.CREATE),
        ("VpcId", Action.NOOP),
    ]
    url = plan.outputs[2]
    assert url == OutputChange("Url", Action.CREATE, None, "https://example.com", False, "the site")
    assert not plan.has_resource_changes and plan.has_changes
    assert plan.output_summary() == {"create": 1, "update": 1, "delete": 1}
    assert [o["name"] for o in plan.to_json()["outputs"]] == ["Old", "Region", "Url"]


def test_an_output_of_a_replaced_resource_is_known_after_deploy() -> None:
    state = deployed(outputs_document(), Ip="Web.public_ip")
    app = App()
    stack = Stack(app, "demo")
    vpc = ec2.Vpc(stack, "Vpc", cidr_block="10.0.0.0/16")
    web = ec2.Instance(
        stack,
        "Web",
        image="ami-87654321",
        instance_type="t3.micro",
        subnet=ec2.Subnet(stack, "Subnet", vpc=vpc, cidr_block="10.0.1.0/24"),
    )
    Output(stack, "Ip", web.public_ip)
    plan = plan_stack(synthesize(app)["demo"], state)
    (ip,) = plan.outputs
    assert ip.action is Action.UPDATE and ip.known_after_deploy and ip.old == "Web.public_ip"


def test_unchanged_outputs_are_no_change() -> None:
    state = deployed(outputs_document(), VpcId="id-Vpc")
    assert not plan_stack(outputs_document(VpcId="vpc"), state).has_changes


def test_a_destroy_plan_removes_the_outputs() -> None:
    state = deployed(outputs_document(), VpcId="id-Vpc")
    plan = plan_stack(None, state)
    assert [(o.name, o.action) for o in plan.outputs] == [("VpcId", Action.DELETE)]


def test_drift_of_rules_with_references_compares_with_the_rules_as_applied() -> None:
    app = App()
    stack = Stack(app, "demo")
    vpc = ec2.Vpc(stack, "Vpc", cidr_block="10.0.0.0/16")
    web = ec2.SecurityGroup(stack, "WebSg", vpc=vpc)
    ec2.SecurityGroup(stack, "DbSg", vpc=vpc, ingress=[ec2.Rule.tcp(5432, source=web)])
    doc = synthesize(app)["demo"]
    state = deployed(doc)
    applied = state.resources["DbSg"].properties["ingress"]
    assert applied[0]["source"] == "id-WebSg"
    reads = live(state)
    opened = {"protocol": "tcp", "from_port": 22, "to_port": 22, "source": "0.0.0.0/0"}
    db = reads["DbSg"]
    assert db is not None
    reads["DbSg"] = ReadResult({"ingress": [*applied, opened]}, db.attributes, db.tags)
    (diff,) = changes(plan_stack(doc, state, reads))["DbSg"].diffs
    assert diff.drift and diff.old == [*applied, opened] and diff.new == applied
