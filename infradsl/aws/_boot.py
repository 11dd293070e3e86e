"""The POSIX sh snippet that reads a Secrets Manager secret at boot through the instance role.

The snippet is plain text with the secret's ARN as a reference token inside, so it can be
put into an f-string user data like any reference: synthesis turns it into a ``join``
and the deploy fills in the ARN. It never holds the value: the instance reads the value
at boot, in this order:

1. an IMDSv2 session token (``PUT /latest/api/token`` with a TTL header), then the
   instance's region from ``/latest/meta-data/placement/region`` with that token
   (skipped when a region is given);
2. ``aws secretsmanager get-secret-value --query SecretString --output text``: the AWS CLI
   takes the role's credentials from the metadata service itself (its pager is off);
3. the value goes into a file created with umask 077 (mode 0600) and moved into place,
   or into an exported variable, inside a subshell with tracing (``set -x``) off.

Both steps are retried (``attempts`` times, 2 seconds apart): the metadata service and a
new instance profile's credentials may not answer in the first seconds after boot. When
every attempt fails the snippet prints what failed (never the value) to stderr and ends
the script with exit status 1, so a server never starts without its secret.
"""

from __future__ import annotations

import re

__all__ = ["fetch_snippet", "shell_quote"]

IMDS = "http://169.254.169.254/latest"
TTL_HEADER = "X-aws-ec2-metadata-token-ttl-seconds"
TOKEN_HEADER = "X-aws-ec2-metadata-token"
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# Shell variables the snippet itself sets in the user's shell (the env form only).
_RESERVED = frozenset({"infradsl_xtrace"})
_DELAY = 2


def shell_quote(text: str) -> str:
    """``text`` as one POSIX sh word in single quotes; reference tokens stay intact."""
    return "'" + text.replace("'", "'\\''") + "'"


def destination_problems(to: object, env: object, attempts: object) -> list[str]:
    """Messages for everything wrong with the arguments of a fetch at boot."""
    problems = []
    if (to is None) == (env is None):
        problems.append(
            "fetch_at_boot() needs exactly one of to='/run/NAME' (a file) or env='NAME' "
            f"(a variable) (got to={to!r}, env={env!r})"
        )
    if to is not None and (
        not isinstance(to, str)
        or not to.startswith("/")
        or to.endswith("/")
        or any(c in to for c in "\n\r\x00")
        or "${InfraDsl:" in to
    ):
        problems.append(f"'to' must be an absolute file path like /run/db-password (got {to!r})")
    if env is not None and (
        not isinstance(env, str) or not _ENV_NAME.match(env) or env in _RESERVED
    ):
        problems.append(f"'env' must be a shell variable name like DB_PASSWORD (got {env!r})")
    if isinstance(attempts, bool) or not isinstance(attempts, int) or not 1 <= attempts <= 1000:
        problems.append(f"'attempts' must be in 1..1000 (got {attempts!r})")
    return problems


def fetch_snippet(
    secret_id: str,
    *,
    to: str | None = None,
    env: str | None = None,
    region: str | None = None,
    attempts: int = 60,
) -> str:
    """The boot snippet; arguments must have passed `destination_problems`.

    Args:
        secret_id: the secret's ARN or name, as text (reference tokens allowed).
        to: write the value to this file, mode 0600.
        env: or export it in this variable.
        region: the secret's region; the instance's own region (from IMDS) when omitted.
        attempts: tries of each step, 2 seconds apart.
    """
    what = f"into {to} (mode 0600)" if to is not None else f"into ${env}"
    head = f"# infradsl: read a secret {what} through the instance role\n"
    lines = [
        "set +x",
        "umask 077",
        'fail() { echo "infradsl: cannot read secret $secret_id: $1" >&2; exit 1; }',
        f"secret_id={shell_quote(secret_id)}",
        "tries=0",
    ]
    retry = f'tries=$((tries + 1)); [ "$tries" -lt {attempts} ] || fail "{{}}"; sleep {_DELAY}'
    if region is None:
        lines += [
            f"until token=$(curl -sSf --connect-timeout 2 --max-time 5 -X PUT "
            f"-H '{TTL_HEADER}: 300' {IMDS}/api/token) &&",
            f'  region=$(curl -sSf --connect-timeout 2 --max-time 5 -H "{TOKEN_HEADER}: $token" '
            f"{IMDS}/meta-data/placement/region); do",
            "  " + retry.format("no answer from the instance metadata service (IMDSv2)"),
            "done",
            "tries=0",
        ]
    else:
        lines.append(f"region={shell_quote(region)}")
    lines += [
        # AWS CLI v2 pipes output through a pager (less) unless told not to; images
        # without one would fail. v1 ignores the variable.
        "export AWS_PAGER=",
        'until value=$(aws secretsmanager get-secret-value --secret-id "$secret_id" '
        '--region "$region" --query SecretString --output text); do',
        "  "
        + retry.format(
            "GetSecretValue failed; does the instance role allow it (secret.grant_read(role))?"
        ),
        "done",
    ]
    if to is not None:
        lines += [
            f"dest={shell_quote(to)}",
            'dir=${dest%/*}; mkdir -p "${dir:-/}" || fail "cannot create the directory of $dest"',
            'rm -f "$dest.tmp"',
            'printf \'%s\' "$value" > "$dest.tmp" && chmod 600 "$dest.tmp" && '
            'mv -f "$dest.tmp" "$dest" || fail "cannot write $dest"',
        ]
        body = "\n".join("  " + line for line in lines)
        return f"{head}(\n{body}\n) || exit 1\n"
    lines.append("printf '%s' \"$value\"")
    body = "\n".join("  " + line for line in lines)
    return (
        f"{head}"
        "case $- in *x*) infradsl_xtrace=1; set +x ;; *) infradsl_xtrace= ;; esac\n"
        f"{env}=$(\n{body}\n) || exit 1\n"
        f"export {env}\n"
        'if [ -n "$infradsl_xtrace" ]; then set -x; fi\n'
    )
