# Packer template of the image golden/Golden of app.py, exported by
# `infradsl image export`: the same base image, builder settings and provisioning
# steps. Export it again after changing the image rather than editing it.
# Content hash 7170df60303f36ce508d89d4a0bcb990: infradsl's identity of these inputs.
# Build: packer init . && packer build .

packer {
  required_plugins {
    amazon  = {
      source  = "github.com/hashicorp/amazon"
      version = ">= 1.2.0"
    }
    ansible = {
      source  = "github.com/hashicorp/ansible"
      version = ">= 1.1.0"
    }
  }
}

variable "subnet_id" {
  type        = string
  default     = ""
  description = "The builder's subnet id: the subnet 'Public' of stack 'golden' (see `infradsl state show`); empty for the account's default VPC."
}

locals {
  build_time = regex_replace(timestamp(), "[- TZ:]", "")
}

source "amazon-ebs" "golden-Golden" {
  region        = "us-east-1"
  instance_type = "t3.small"
  ssh_username  = "ec2-user"
  ami_name      = "golden-Golden-7170df60303f-${local.build_time}"
  subnet_id     = var.subnet_id
  tags          = {
    Name                    = "golden/Golden"
    "infradsl:content-hash" = "7170df60303f36ce508d89d4a0bcb990"
    "infradsl:source-ami"   = "{{ .SourceAMI }}"
  }

  source_ami_filter {
    filters     = {
      name  = "amzn2-ami-hvm-*-x86_64-gp2"
      state = "available"
    }
    most_recent = true
    owners      = ["amazon"]
  }
}

build {
  sources = ["source.amazon-ebs.golden-Golden"]

  # The provisioning directory, where infradsl's own build unpacks it: every step runs from
  # there, as root.
  provisioner "shell" {
    inline = ["mkdir -p /tmp/infradsl-provision"]
  }

  provisioner "file" {
    source      = "${path.root}/provision/"
    destination = "/tmp/infradsl-provision"
  }

  # steps[0]: the Ansible playbook site.yml, with a local connection.
  provisioner "shell" {
    inline = ["command -v ansible-playbook >/dev/null 2>&1 || sudo dnf install -y ansible-core || sudo yum install -y ansible-core || (sudo apt-get update && sudo apt-get install -y ansible) || sudo pip3 install ansible-core"]
  }

  provisioner "ansible-local" {
    command         = "sudo ANSIBLE_FORCE_COLOR=1 PYTHONUNBUFFERED=1 ansible-playbook"
    playbook_file   = "${path.root}/provision/site.yml"
    playbook_dir    = "${path.root}/provision"
    extra_arguments = ["--extra-vars", "'{\"site_name\": \"golden-web\", \"worker_connections\": 1024}'"]
  }

  # steps[1]: the shell script harden.sh.
  provisioner "shell" {
    script          = "${path.root}/provision/harden.sh"
    execute_command = "cd /tmp/infradsl-provision && sudo env {{ .Vars }} sh '{{ .Path }}'"
  }

  # steps[2]: the file motd, installed as /etc/motd (0644).
  provisioner "shell" {
    inline = ["sudo install -D -m 0644 /tmp/infradsl-provision/motd /etc/motd"]
  }

  # Leave no provisioning files in the image.
  provisioner "shell" {
    inline = ["sudo rm -rf /tmp/infradsl-provision"]
  }
}
