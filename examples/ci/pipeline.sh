#!/usr/bin/env bash
# The shell steps of the infradsl CI pipeline, shared by GitHub Actions, GitLab CI and
# Jenkins (see docs/ci.md). One subcommand per step:
#
#   pipeline.sh plan      plan, save the plan file and its Markdown rendering
#   pipeline.sh comment   post the Markdown as a pull/merge request comment
#   pipeline.sh apply     apply the saved plan exactly (refused if anything moved)
#   pipeline.sh verify    plan again and fail unless there is nothing left to do
#
# Settings (environment variables, all optional):
#   INFRADSL_APP          the app file                       (default: app.py)
#   INFRADSL_PLAN_FILE    the saved plan                     (default: infradsl-plan.json)
#   INFRADSL_COMMENT_FILE the plan as Markdown               (default: infradsl-plan.md)
#   INFRADSL_LOCK_TIMEOUT how long to wait for another run   (default: 10m)
#   INFRADSL              the command to run                 (default: infradsl)
#   INFRADSL_TARGET, INFRADSL_STATE: read by infradsl itself (target and state location).
#
# In CI (CI=true) `deploy` refuses a git tree with uncommitted changes; the history of
# each stack records the commit, branch, author and the hash of the plan applied.
set -euo pipefail

APP="${INFRADSL_APP:-app.py}"
PLAN_FILE="${INFRADSL_PLAN_FILE:-infradsl-plan.json}"
COMMENT_FILE="${INFRADSL_COMMENT_FILE:-infradsl-plan.md}"
LOCK_TIMEOUT="${INFRADSL_LOCK_TIMEOUT:-10m}"
# A command with arguments is allowed (INFRADSL="python -m infradsl").
read -r -a INFRADSL_CMD <<< "${INFRADSL:-infradsl}"

usage() {
  echo "usage: $0 plan|comment|apply|verify" >&2
  exit 64
}

plan() {
  # --detailed-exitcode: 0 no changes, 2 changes, anything else is a failure.
  local status=0
  "${INFRADSL_CMD[@]}" plan "$APP" -o "$PLAN_FILE" --format markdown --detailed-exitcode \
    > "$COMMENT_FILE" || status=$?
  if [ "$status" -ne 0 ] && [ "$status" -ne 2 ]; then
    echo "infradsl plan failed (exit $status)" >&2
    exit "$status"
  fi
  cat "$COMMENT_FILE"
  if [ -n "${GITHUB_STEP_SUMMARY:-}" ]; then
    # Shown on the run's page, where the approver of the apply job reads it.
    cat "$COMMENT_FILE" >> "$GITHUB_STEP_SUMMARY"
  fi
  if [ "$status" -eq 2 ]; then
    echo "plan has changes: saved to $PLAN_FILE"
  else
    echo "no changes: saved to $PLAN_FILE"
  fi
}

comment() {
  if [ ! -f "$COMMENT_FILE" ]; then
    echo "no $COMMENT_FILE: run '$0 plan' first" >&2
    exit 1
  fi
  if [ -n "${GITHUB_ACTIONS:-}" ] && [ -n "${PR_NUMBER:-}" ]; then
    # gh reads GH_TOKEN; the workflow grants `pull-requests: write`.
    gh pr comment "$PR_NUMBER" --body-file "$COMMENT_FILE"
  elif [ -n "${GITLAB_CI:-}" ] && [ -n "${CI_MERGE_REQUEST_IID:-}" ]; then
    # A project access token with the api scope, stored as a masked CI/CD variable.
    python3 - "$COMMENT_FILE" <<'PY' > infradsl-note.json
import json, sys
print(json.dumps({"body": open(sys.argv[1], encoding="utf-8").read()}))
PY
    curl --fail --silent --show-error --request POST \
      --header "PRIVATE-TOKEN: ${GITLAB_TOKEN:?set GITLAB_TOKEN to post merge request comments}" \
      --header "Content-Type: application/json" --data @infradsl-note.json \
      "${CI_API_V4_URL}/projects/${CI_PROJECT_ID}/merge_requests/${CI_MERGE_REQUEST_IID}/notes" \
      > /dev/null
    rm -f infradsl-note.json
  elif [ -n "${CHANGE_ID:-}" ] && [ -n "${GH_TOKEN:-}" ]; then
    # Jenkins multibranch build of a GitHub pull request.
    gh pr comment "$CHANGE_ID" --body-file "$COMMENT_FILE"
  else
    echo "not a pull or merge request build: no comment posted ($COMMENT_FILE has the plan)"
  fi
}

apply() {
  if [ ! -f "$PLAN_FILE" ]; then
    echo "no saved plan $PLAN_FILE: run '$0 plan' first (or fetch the plan job's artifact)" >&2
    exit 1
  fi
  # Exactly the reviewed plan: refused (exit 1) if the state, the code or the cloud changed
  # since it was made. Waits for a run that holds a stack's lock instead of exiting 5.
  "${INFRADSL_CMD[@]}" deploy "$APP" --plan "$PLAN_FILE" --lock-timeout "$LOCK_TIMEOUT"
}

verify() {
  "${INFRADSL_CMD[@]}" plan "$APP" --detailed-exitcode
}

case "${1:-}" in
  plan) plan ;;
  comment) comment ;;
  apply) apply ;;
  verify) verify ;;
  *) usage ;;
esac
