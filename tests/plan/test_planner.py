"""The planner on its own: documents, hand-made state and live reads in, a plan out."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from infradsl import App, Construct, Output, Stack
from infradsl.aws import ec2
from infradsl.core.typeinfo import TypeInfo, register_type_info, unregister_type_info
from infradsl.plan.change import (
    Action,
    OutputChange,
    Plan,
    PlanError,
    PropertyDiff,
    ResourceChange,
)
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
    assert diff.paths == ("tags/team",)


def test_a_tag_added_by_hand_is_drift() -> None:
    state = deployed(document())
    read = {**system_tags("demo", "Subnet"), TOKEN_TAG: "t", "owner": "bob"}
    plan = plan_stack(document(), state, live(state, Subnet=read))
    (diff,) = changes(plan)["Subnet"].diffs
    assert diff.drift and diff.old["owner"] == "bob" and "owner" not in diff.new
    assert diff.paths == ("tags/owner",)


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


# hand-made documents and states: no catalog, types described by TypeInfo ---------------

SERVER = "test.plan.Server"  # an instance-like type: a nested create-only field
NETWORK = "test.plan.Network"
FIREWALL = "test.plan.Firewall"  # a type whose change widens permissions


@pytest.fixture(autouse=True)
def hand_made_types() -> Iterator[None]:
    infos = [
        TypeInfo(
            name=SERVER,
            properties=("image", "size", "network", "disks", "name"),
            create_only=("image", "network", "disks/*/kind"),
        ),
        TypeInfo(name=NETWORK, properties=("cidr",), create_only=("cidr",)),
        TypeInfo(name=FIREWALL, properties=("rules",), widens_permissions=True),
    ]
    for info in infos:
        register_type_info(info)
    yield
    for info in infos:
        unregister_type_info(info.name)


def entry(type_name: str, depends_on: tuple[str, ...] = (), **props: Any) -> dict[str, Any]:
    return {"type": type_name, "properties": props, "depends_on": list(depends_on), "options": {}}


def doc(**resources: dict[str, Any]) -> dict[str, Any]:
    return {
        "infradsl": 1,
        "stack": "demo",
        "region": "us-east-1",
        "resources": resources,
        "outputs": {},
    }


def state_of(**resources: dict[str, Any]) -> StackState:
    """The state a deploy of these entries left: references resolved to ``id-<path>``."""
    return deployed(doc(**resources))


DISKS = [{"kind": "gp3", "size": 8}, {"kind": "gp3", "size": 20}]


def server(**changes: Any) -> dict[str, Any]:
    props: dict[str, Any] = {"image": "img-1", "size": "small", "disks": DISKS, **changes}
    return entry(SERVER, **props)


def test_a_resource_not_in_state_is_created_and_one_not_in_the_document_deleted() -> None:
    plan = plan_stack(doc(New=server()), state_of(Old=server()))
    assert [(c.path, c.action) for c in plan.changes] == [
        ("New", Action.CREATE),
        ("Old", Action.DELETE),
    ]
    assert plan.changes[0].diffs == ()


def test_equal_properties_plan_no_change() -> None:
    plan = plan_stack(doc(Web=server()), state_of(Web=server()))
    assert changes(plan)["Web"].action is Action.NOOP
    assert not plan.has_changes


def test_a_changed_property_that_is_not_create_only_is_updated_in_place() -> None:
    plan = plan_stack(doc(Web=server(size="large")), state_of(Web=server()))
    web = changes(plan)["Web"]
    assert web.action is Action.UPDATE
    assert web.diffs == (PropertyDiff("size", "small", "large", paths=("size",)),)
    assert web.reasons == ()


def test_a_top_level_create_only_change_replaces_with_the_same_reason_as_before() -> None:
    plan = plan_stack(doc(Web=server(image="img-2")), state_of(Web=server()))
    web = changes(plan)["Web"]
    assert web.action is Action.REPLACE
    assert web.reasons == ("'image' forces replacement",)
    assert web.diffs == (
        PropertyDiff("image", "img-1", "img-2", True, paths=("image",), replace_paths=("image",)),
    )


def test_a_nested_create_only_change_replaces_and_names_its_path() -> None:
    disks = [DISKS[0], {"kind": "io2", "size": 20}]
    plan = plan_stack(doc(Web=server(disks=disks)), state_of(Web=server()))
    web = changes(plan)["Web"]
    assert web.action is Action.REPLACE
    assert web.reasons == ("'disks/1/kind' forces replacement",)
    (diff,) = web.diffs
    assert (diff.name, diff.old, diff.new) == ("disks", DISKS, disks)
    assert diff.forces_replacement
    assert diff.paths == ("disks/1/kind",)
    assert diff.replace_paths == ("disks/1/kind",)


def test_a_nested_change_beside_the_create_only_field_is_an_update() -> None:
    disks = [DISKS[0], {"kind": "gp3", "size": 40}]
    plan = plan_stack(doc(Web=server(disks=disks)), state_of(Web=server()))
    web = changes(plan)["Web"]
    assert web.action is Action.UPDATE
    assert web.diffs[0].paths == ("disks/1/size",)
    assert web.diffs[0].replace_paths == ()
    assert not web.diffs[0].forces_replacement


def test_an_added_item_with_a_create_only_field_replaces() -> None:
    disks = [*DISKS, {"kind": "st1", "size": 500}]
    plan = plan_stack(doc(Web=server(disks=disks)), state_of(Web=server()))
    web = changes(plan)["Web"]
    assert web.action is Action.REPLACE
    assert web.diffs[0].paths == ("disks/2",)
    assert web.reasons == ("'disks/2/kind' forces replacement",)


def test_a_removed_item_without_the_create_only_field_is_an_update() -> None:
    old = [*DISKS, {"size": 1}]
    plan = plan_stack(doc(Web=server()), state_of(Web=server(disks=old)))
    web = changes(plan)["Web"]
    assert web.action is Action.UPDATE
    assert web.diffs[0].paths == ("disks/2",)


def test_replace_on_changes_forces_replacement_by_property_name() -> None:
    new = server(size="large")
    new["options"] = {"replace_on_changes": ["size"]}
    plan = plan_stack(doc(Web=new), state_of(Web=server()))
    web = changes(plan)["Web"]
    assert web.action is Action.REPLACE
    assert web.reasons == ("'size' forces replacement",)


def test_ignore_changes_hides_a_create_only_change() -> None:
    new = server(image="img-2")
    new["options"] = {"ignore_changes": ["image"]}
    old = server()
    old["options"] = {"ignore_changes": ["image"]}
    plan = plan_stack(doc(Web=new), state_of(Web=old))
    assert changes(plan)["Web"].action is Action.NOOP


def test_a_changed_type_replaces() -> None:
    plan = plan_stack(doc(Web=entry(NETWORK, cidr="10.0.0.0/16")), state_of(Web=server()))
    web = changes(plan)["Web"]
    assert web.action is Action.REPLACE
    assert web.reasons == (f"type changed from {SERVER}",)


def test_a_reference_to_a_replaced_resource_is_known_after_deploy_at_its_path() -> None:
    ref = {"ref": "Net.id"}
    web = server(network=ref, name={"join": ["web-", ref]})
    before = state_of(Net=entry(NETWORK, cidr="10.0.0.0/16"), Web=web)
    plan = plan_stack(doc(Net=entry(NETWORK, cidr="10.1.0.0/16"), Web=web), before)
    found = changes(plan)
    assert found["Net"].action is Action.REPLACE
    assert found["Web"].action is Action.REPLACE
    by_name = {d.name: d for d in found["Web"].diffs}
    assert by_name["network"].known_after_deploy
    assert by_name["network"].paths == ("network",)
    assert by_name["network"].replace_paths == ("network",)
    # A join that holds the reference is one value; 'name' is not create-only.
    assert by_name["name"].paths == ("name",)
    assert not by_name["name"].forces_replacement
    assert found["Web"].reasons == (
        "'network' refers to Net, which is replaced",
        "'name' refers to Net, which is replaced",
        "'network' forces replacement",
    )


def test_a_reference_nested_beside_a_create_only_field_only_updates() -> None:
    disks = [{"kind": "gp3", "size": 8, "label": {"ref": "Net.id"}}]
    web = server(disks=disks)
    before = state_of(Net=entry(NETWORK, cidr="10.0.0.0/16"), Web=web)
    plan = plan_stack(doc(Net=entry(NETWORK, cidr="10.1.0.0/16"), Web=web), before)
    (diff,) = changes(plan)["Web"].diffs
    assert diff.known_after_deploy
    assert diff.paths == ("disks/0/label",)
    assert changes(plan)["Web"].action is Action.UPDATE


def test_drift_in_a_nested_create_only_field_replaces() -> None:
    before = state_of(Web=server())
    seen = live(before)
    observed = seen["Web"]
    assert observed is not None
    drifted = [DISKS[0], {"kind": "sc1", "size": 20}]
    seen["Web"] = ReadResult({"disks": drifted}, observed.attributes, observed.tags)
    web = changes(plan_stack(doc(Web=server()), before, seen))["Web"]
    assert web.action is Action.REPLACE
    (diff,) = web.diffs
    assert diff.drift
    assert diff.paths == ("disks/1/kind",)
    assert web.reasons == (
        "'disks' was changed outside infradsl",
        "'disks/1/kind' forces replacement",
    )


def test_drift_in_list_order_only_is_no_change() -> None:
    before = state_of(Web=server())
    seen = live(before)
    observed = seen["Web"]
    assert observed is not None
    seen["Web"] = ReadResult({"disks": DISKS[::-1]}, observed.attributes, observed.tags)
    assert changes(plan_stack(doc(Web=server()), before, seen))["Web"].action is Action.NOOP


def test_a_protected_resource_is_not_replaced() -> None:
    old = server()
    old["options"] = {"protect": True}
    new = server(disks=[{"kind": "io2", "size": 8}, DISKS[1]])
    new["options"] = {"protect": True}
    with pytest.raises(PlanError) as caught:
        plan_stack(doc(Web=new), state_of(Web=old))
    assert str(caught.value) == (
        "refused, nothing was changed: Web is protected and would be replaced "
        "('disks/0/kind' forces replacement). Remove protect=True from the resource (and "
        "deploy) first if this is intended"
    )


def test_confirmation_follows_the_type_description() -> None:
    rules = [{"port": 22}]
    plan = plan_stack(doc(Fw=entry(FIREWALL, rules=rules), Web=server()), None)
    assert plan.confirmation_reasons() == [f"Fw ({FIREWALL}) widens permissions or network access"]
    update = plan_stack(
        doc(Fw=entry(FIREWALL, rules=[{"port": 443}])), state_of(Fw=entry(FIREWALL, rules=rules))
    )
    assert changes(update)["Fw"].diffs[0].paths == ("rules/0/port",)
    assert update.confirmation_reasons() == [
        f"Fw ({FIREWALL}) widens permissions or network access"
    ]


def test_map_keys_in_paths_are_escaped() -> None:
    plan = plan_stack(
        doc(Fw=entry(FIREWALL, rules={"a/b": 1, "c~d": 2})),
        state_of(Fw=entry(FIREWALL, rules={"a/b": 0, "c~d": 2})),
    )
    assert changes(plan)["Fw"].diffs[0].paths == ("rules/a~1b",)


def test_the_json_plan_keeps_its_keys_and_adds_the_paths() -> None:
    disks = [DISKS[0], {"kind": "io2", "size": 20}]
    data = plan_stack(doc(Web=server(disks=disks)), state_of(Web=server())).to_json()
    (change,) = data["changes"]
    assert change["action"] == "replace"
    assert change["reasons"] == ["'disks/1/kind' forces replacement"]
    assert change["diffs"] == [
        {
            "name": "disks",
            "old": DISKS,
            "new": disks,
            "forces_replacement": True,
            "known_after_deploy": False,
            "drift": False,
            "option": False,
            "paths": ["disks/1/kind"],
            "replace_paths": ["disks/1/kind"],
        }
    ]


def test_deletes_run_dependents_first() -> None:
    before = state_of(
        Net=entry(NETWORK, cidr="10.0.0.0/16"),
        Web=server(network={"ref": "Net.id"}, depends=None) | {"depends_on": ["Net"]},
    )
    plan = plan_stack(None, before)
    assert [(c.path, c.action) for c in plan.changes] == [
        ("Web", Action.DELETE),
        ("Net", Action.DELETE),
    ]
    assert plan.destroy


def test_retained_resources_are_forgotten_not_deleted() -> None:
    old = server()
    old["options"] = {"retain_on_delete": True}
    (change,) = plan_stack(doc(), state_of(Web=old)).changes
    assert (change.action, change.reasons) == (
        Action.FORGET,
        ("retain_on_delete: left in the cloud",),
    )
