"""``infradsl image export``: an ec2.Image as a Packer HCL2 template.

The template of the golden-image example is compared with a golden file, parsed with
python-hcl2, and validated by ``packer validate`` where a ``packer`` binary is on PATH.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from infradsl.aws._packer import PackerTemplate, render_packer
from infradsl.cli.main import main

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "golden-image"
GOLDEN = ROOT / "tests" / "golden" / "packer" / "golden-image.pkr.hcl"
PACKER = shutil.which("packer")


def export(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as info:
        main(["image", "export", *args])
    out, err = capsys.readouterr()
    code = info.value.code
    return (code if isinstance(code, int) else 1), out, err


def example_template(capsys: pytest.CaptureFixture[str], *extra: str) -> str:
    code, out, err = export([str(EXAMPLE / "app.py"), "--image", "Golden", *extra], capsys)
    assert code == 0, err
    return out


def unquoted(value: Any) -> Any:
    """python-hcl2 keeps the quotes of string values: take them off."""
    if isinstance(value, str) and value.startswith('"') and value.endswith('"'):
        return json.loads(value)
    if isinstance(value, list):
        return [unquoted(v) for v in value]
    if isinstance(value, dict):
        return {unquoted(k): unquoted(v) for k, v in value.items() if k != "__is_block__"}
    return value


def test_the_golden_image_example_exports_as_its_golden_template(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, update_golden: bool
) -> None:
    monkeypatch.chdir(EXAMPLE)  # paths in the template are relative to its folder
    text = example_template(capsys)
    if update_golden:
        GOLDEN.parent.mkdir(parents=True, exist_ok=True)
        GOLDEN.write_text(text)
    assert text == GOLDEN.read_text(), "the template changed; if intended: pytest --update-golden"


def test_the_template_parses_as_hcl2_with_the_images_settings_and_steps(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    hcl2 = pytest.importorskip("hcl2", reason="python-hcl2 is in the dev extra")
    monkeypatch.chdir(EXAMPLE)
    document = unquoted(hcl2.loads(example_template(capsys)))
    (plugins,) = document["packer"][0]["required_plugins"]
    assert plugins["amazon"]["source"] == "github.com/hashicorp/amazon"
    assert plugins["ansible"]["source"] == "github.com/hashicorp/ansible"
    source = document["source"][0]["amazon-ebs"]["golden-Golden"]
    assert (source["region"], source["instance_type"], source["ssh_username"]) == (
        "us-east-1", "t3.small", "ec2-user"
    )
    content_hash = source["tags"]["infradsl:content-hash"]
    assert re.fullmatch(r"[0-9a-f]{32}", content_hash)
    assert source["ami_name"] == f"golden-Golden-{content_hash[:12]}-${{local.build_time}}"
    (lookup,) = source["source_ami_filter"]
    assert lookup == {"filters": {"name": "amzn2-ami-hvm-*-x86_64-gp2", "state": "available"},
                      "most_recent": True, "owners": ["amazon"]}
    assert source["subnet_id"] == "${var.subnet_id}"
    (build,) = document["build"]
    assert build["sources"] == ["source.amazon-ebs.golden-Golden"]
    kinds = [next(iter(p)) for p in build["provisioner"]]
    assert kinds == ["shell", "file", "shell", "ansible-local", "shell", "shell", "shell"]
    ansible = build["provisioner"][3]["ansible-local"]
    assert ansible["playbook_file"] == "${path.root}/provision/site.yml"
    assert ansible["playbook_dir"] == "${path.root}/provision"
    assert ansible["extra_arguments"] == [
        "--extra-vars", "'{\"site_name\": \"golden-web\", \"worker_connections\": 1024}'"
    ]
    harden = build["provisioner"][4]["shell"]
    assert harden["script"] == "${path.root}/provision/harden.sh"
    motd = build["provisioner"][5]["shell"]
    assert motd["inline"] == ["sudo install -D -m 0644 /tmp/infradsl-provision/motd /etc/motd"]


def test_extra_vars_reach_ansible_playbook_as_one_json_argument() -> None:
    text = render_packer(PackerTemplate(
        stack="demo", path="Golden", region="eu-west-1", base="ami-0123456789abcdef0",
        directory="provision",
        properties={"content_hash": "a" * 32, "steps": [
            {"kind": "ansible", "playbook": "site.yml",
             "extra_vars": {"motd": "it's ${HOME} %{x} \"quoted\"", "port": 8080}}]},
    ))
    line = next(x for x in text.splitlines() if "extra_arguments" in x)
    # HCL: ${ and %{ are escaped as $${ and %%{, quotes and backslashes with a backslash.
    hcl_string = line.split(", ", 1)[1].removesuffix("]")
    argument = json.loads(hcl_string).replace("$${", "${").replace("%%{", "%{")
    # ansible-local joins its arguments into one shell command line.
    shown = subprocess.run(["sh", "-c", f"printf '%s\\n' {argument}"], capture_output=True,
                           text=True, check=True).stdout
    assert json.loads(shown) == {"motd": "it's ${HOME} %{x} \"quoted\"", "port": 8080}


def test_a_literal_base_is_pinned_and_tagged_with_infradsls_identity(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from infradsl.providers.aws.images import image_identity

    (tmp_path / "provision").mkdir()
    (tmp_path / "provision" / "setup.sh").write_text("echo hi\n")
    (tmp_path / "app.py").write_text(
        "from infradsl import App, Stack\nfrom infradsl.aws import ec2\n"
        "app = App()\nstack = Stack(app, 'base', region='eu-west-1')\n"
        "parent = ec2.Image(stack, 'Parent', base='ami-0123456789abcdef0', directory='provision',"
        " steps=[ec2.Shell(script='setup.sh', environment={'STAGE': 'prod'})],"
        " tags={'Team': 'web'})\n"
        "ec2.Image(stack, 'Child', base=parent, directory='provision',"
        " steps=[ec2.Shell(script='setup.sh')], ssh_username='admin')\n"
    )
    code, out, err = export([str(tmp_path / "app.py"), "--image", "base/Parent", "-o",
                             str(tmp_path / "out" / "parent.pkr.hcl")], capsys)
    assert (code, out, err) == (0, "", f"wrote {tmp_path / 'out' / 'parent.pkr.hcl'}\n")
    text = (tmp_path / "out" / "parent.pkr.hcl").read_text()
    assert 'source_ami    = "ami-0123456789abcdef0"' in text
    assert "source_ami_filter" not in text and 'variable "' not in text
    assert 'Team                    = "web"' in text
    from infradsl.cli._loader import load_app
    from infradsl.synth import synthesize

    props = synthesize(load_app(str(tmp_path / "app.py")))["base"]["resources"]["Parent"]
    identity = image_identity(props["properties"])
    assert re.search(rf'\n +"infradsl:image-hash" += "{identity}"\n', text)
    assert 'script           = "${path.root}/../provision/setup.sh"' in text
    assert 'environment_vars = ["STAGE=prod"]' in text

    code, out, _ = export([str(tmp_path / "app.py"), "--image", "Child"], capsys)
    assert code == 0
    assert 'source_ami    = var.source_ami' in out
    assert "The base AMI id: the image 'base/Parent', built by infradsl." in out
    assert 'ssh_username  = "admin"' in out
    assert "infradsl:image-hash" not in out


def test_an_unknown_image_is_bad_input_with_a_suggestion(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ROOT)
    code, out, err = export(["examples/golden-image/app.py", "--image", "Goldn"], capsys)
    assert code == 1 and out == ""
    assert ("no ec2.Image 'Goldn' in examples/golden-image/app.py (did you mean "
            "'golden/Golden'?); its images: golden/Golden") in err
    assert "Traceback" not in err


def test_an_image_in_several_stacks_needs_the_stack(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "provision").mkdir()
    (tmp_path / "provision" / "setup.sh").write_text("echo hi\n")
    (tmp_path / "app.py").write_text(
        "from infradsl import App, Stack\nfrom infradsl.aws import ec2\n"
        "app = App()\n"
        "for name in ('east', 'west'):\n"
        "    ec2.Image(Stack(app, name, region='us-east-1'), 'Golden',"
        " base='ami-0123456789abcdef0', directory='provision',"
        " steps=[ec2.Shell(script='setup.sh')])\n"
    )
    code, _, err = export([str(tmp_path / "app.py"), "--image", "Golden"], capsys)
    assert code == 1
    assert ("several stacks have an image 'Golden': ['east/Golden', 'west/Golden']; pass "
            "--stack or 'STACK/PATH'") in err
    code, out, _ = export([str(tmp_path / "app.py"), "--image", "Golden", "--stack", "west"],
                          capsys)
    assert code == 0
    assert 'source "amazon-ebs" "west-Golden"' in out


def packer_version() -> tuple[int, int]:
    assert PACKER is not None
    out = subprocess.run([PACKER, "version"], capture_output=True, text=True, check=False).stdout
    match = re.search(r"(\d+)\.(\d+)", out)
    return (int(match.group(1)), int(match.group(2))) if match else (0, 0)


def validate(template: Path) -> subprocess.CompletedProcess[str]:
    """``packer validate``: full where Packer has the builders (1.6 has them built in, later
    versions once `packer init` installed the plugins), else ``-syntax-only``."""
    assert PACKER is not None
    run = [PACKER, "validate", template.name]
    result = subprocess.run(run, cwd=template.parent, capture_output=True, text=True,
                            timeout=120, check=False)
    if result.returncode != 0 and re.search(r"(?i)missing plugins|unknown source type|"
                                            r"unknown provisioner", result.stderr + result.stdout):
        result = subprocess.run([PACKER, "validate", "-syntax-only", template.name],
                                cwd=template.parent, capture_output=True, text=True,
                                timeout=120, check=False)
    return result


@pytest.mark.skipif(PACKER is None, reason="packer is not on PATH (Debian: apt-get install "
                                           "packer); the template is still parsed by python-hcl2")
def test_packer_validates_the_exported_template(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Packer before 1.7 has every builder built in and knows no required_plugins block.
    legacy = ["--no-required-plugins"] if packer_version() < (1, 7) else []
    output = tmp_path / "golden.pkr.hcl"
    example_template(capsys, "-o", str(output), *legacy)
    result = validate(output)
    assert result.returncode == 0, result.stdout + result.stderr

    # The check can fail: a wrong argument or a missing script is refused.
    broken = tmp_path / "broken" / "golden.pkr.hcl"
    broken.parent.mkdir()
    broken.write_text(output.read_text().replace("provision/harden.sh", "provision/gone.sh")
                      .replace('ssh_username  = "ec2-user"', 'ssh_usrname = "ec2-user"'))
    result = validate(broken)
    assert result.returncode != 0
    assert "ssh_usrname" in result.stdout + result.stderr
