"""Freeze the release branch and tag the release, in a local git repository (GitHub optional).

``freeze_and_tag(plan, store, actor=...)`` in ``plan.release.repository`` (relative to the plan):

* **tag** — an annotated tag ``plan.release.tag_name`` on the tip of ``plan.release.branch``.
  Idempotent: the same tag on the same commit is success; on another commit it is refused.
* **freeze** — a ``pre-commit`` hook (marked as Launch Control's) that refuses commits on the
  frozen branch until ``unfreeze``; an existing hook of someone else's is left alone and the
  freeze is recorded in the store only (said in the result). ``launch_state.frozen`` is set and
  both steps are audited.

``GitHubRelease`` does the same on GitHub (branch protection ``lock_branch`` and a tag ref) for
teams whose repository lives there; it is only used when the plan's repository is ``github:owner/name``.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from launch_control.errors import LaunchControlError, UsageError

if TYPE_CHECKING:
    from launch_control.plan.model import Plan
    from launch_control.store.db import Store

HOOK_MARK = "# launch-control freeze"


class ReleaseError(LaunchControlError):
    """The branch could not be frozen or the tag created; the message says why and what to do."""


@dataclass
class ReleaseResult:
    tag: str
    commit: str
    tag_created: bool
    frozen: bool
    detail: str


def _git(repo: Path, *args: str) -> str:
    try:
        done = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, timeout=30)
    except FileNotFoundError as exc:
        raise ReleaseError("git is not installed; install it or tag the release by hand") from exc
    if done.returncode != 0:
        raise ReleaseError(f"git {' '.join(args)} failed in {repo}: {done.stderr.strip() or done.stdout.strip()}")
    return done.stdout.strip()


def repository(plan: Plan) -> Path:
    repo = plan.resolve(plan.release.repository)
    if not repo.is_dir():
        raise UsageError(f"release.repository {plan.release.repository!r} is not a directory ({repo})")
    return repo


def create_tag(repo: Path, branch: str, tag: str, message: str) -> tuple[str, bool]:
    """Annotated ``tag`` on ``branch``'s tip → (commit, created). Same tag, same commit: not an error."""
    try:
        commit = _git(repo, "rev-parse", "--verify", f"refs/heads/{branch}^{{commit}}")
    except ReleaseError as exc:
        raise ReleaseError(f"branch {branch!r} not found in {repo}; check release.branch in the plan") from exc
    existing = subprocess.run(
        ["git", "-C", str(repo), "rev-parse", "--verify", "--quiet", f"refs/tags/{tag}^{{commit}}"],
        capture_output=True,
        text=True,
    )
    if existing.returncode == 0:
        tagged = existing.stdout.strip()
        if tagged == commit:
            return commit, False
        raise ReleaseError(
            f"tag {tag} already exists on {tagged[:12]}, but {branch} is at {commit[:12]}; "
            "delete the old tag (git tag -d) or set release.tag to a new name"
        )
    _git(repo, "tag", "-a", tag, "-m", message, commit)
    return commit, True


def _hooks_dir(repo: Path) -> Path:
    path = Path(_git(repo, "rev-parse", "--git-path", "hooks"))
    return path if path.is_absolute() else repo / path


def freeze_branch(repo: Path, branch: str, reason: str) -> tuple[bool, str]:
    """Install the freeze hook → (enforced by git, detail)."""
    hook = _hooks_dir(repo) / "pre-commit"
    if hook.exists() and HOOK_MARK not in hook.read_text(errors="replace"):
        return False, f"{hook} belongs to another tool; freeze recorded in the launch store only"
    hook.parent.mkdir(parents=True, exist_ok=True)
    hook.write_text(
        "#!/bin/sh\n"
        f"{HOOK_MARK} of {branch}: {reason.replace(chr(10), ' ')}\n"
        "current=$(git symbolic-ref --short HEAD 2>/dev/null)\n"
        f'if [ "$current" = "{branch}" ]; then\n'
        f'  echo "branch {branch} is frozen for the release (launch-control unfreeze to lift)" >&2\n'
        "  exit 1\n"
        "fi\n"
    )
    hook.chmod(0o755)
    return True, f"commits to {branch} refused by {hook}"


def unfreeze_branch(repo: Path) -> bool:
    hook = _hooks_dir(repo) / "pre-commit"
    if hook.exists() and HOOK_MARK in hook.read_text(errors="replace"):
        hook.unlink()
        return True
    return False


def freeze_and_tag(plan: Plan, store: Store, *, actor: str, repo: Path | str | None = None) -> ReleaseResult:
    """Tag the release and freeze its branch; record and audit both."""
    if str(plan.release.repository).startswith("github:"):
        owner_repo = str(plan.release.repository).split(":", 1)[1]
        return GitHubRelease.from_env(owner_repo).freeze_and_tag(plan, store, actor=actor)
    path = Path(repo) if repo else repository(plan)
    release = plan.release
    commit, created = create_tag(path, release.branch, release.tag_name, f"{release.product} {release.version}")
    enforced, detail = freeze_branch(path, release.branch, f"{release.product} {release.version} launch")
    store.update_state(frozen=True)
    store.audit(actor, "release.tag", tag=release.tag_name, commit=commit, created=created, repository=str(path))
    store.audit(actor, "release.freeze", branch=release.branch, enforced=enforced, detail=detail)
    verb = "created" if created else "already there"
    summary = f"tag {release.tag_name} {verb} on {commit[:12]}; {detail}"
    return ReleaseResult(release.tag_name, commit, created, True, summary)


def unfreeze(plan: Plan, store: Store, *, actor: str, repo: Path | str | None = None) -> bool:
    removed = False
    if not str(plan.release.repository).startswith("github:"):
        removed = unfreeze_branch(Path(repo) if repo else repository(plan))
    store.update_state(frozen=False)
    store.audit(actor, "release.unfreeze", branch=plan.release.branch, hook_removed=removed)
    return removed


class GitHubRelease:
    """The optional GitHub adapter: lock the branch (branch protection) and create the tag ref.

    REST: ``GET /repos/{o}/{r}/git/ref/heads/{branch}``, ``POST /repos/{o}/{r}/git/refs``
    (``refs/tags/{tag}``; 422 "Reference already exists" is success when it points at the same
    commit), ``PUT /repos/{o}/{r}/branches/{branch}/protection`` with ``lock_branch: true``.
    """

    def __init__(self, owner_repo: str, token: str, *, api_url: str = "https://api.github.com", transport: Any = None):
        import httpx

        if owner_repo.count("/") != 1:
            raise UsageError(f"GitHub repository must be owner/name (got {owner_repo!r})")
        self.repo = owner_repo
        self.client = httpx.Client(
            base_url=api_url,
            headers={"Authorization": f"Bearer {token}", "Accept": "application/vnd.github+json"},
            timeout=10,
            transport=transport,
        )

    @classmethod
    def from_env(cls, owner_repo: str) -> GitHubRelease:
        token = os.environ.get("GITHUB_TOKEN")
        if not token:
            raise UsageError("set GITHUB_TOKEN to freeze and tag on GitHub")
        return cls(owner_repo, token)

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.client.request(method, f"/repos/{self.repo}{path}", **kwargs)
        if response.status_code >= 400:
            raise ReleaseError(f"GitHub {method} {path} answered {response.status_code}: {response.text[:200]}")
        return response.json() if response.content else {}

    def freeze_and_tag(self, plan: Plan, store: Store, *, actor: str) -> ReleaseResult:
        release = plan.release
        commit = self._call("GET", f"/git/ref/heads/{release.branch}")["object"]["sha"]
        response = self.client.post(
            f"/repos/{self.repo}/git/refs", json={"ref": f"refs/tags/{release.tag_name}", "sha": commit}
        )
        created = response.status_code == 201
        if not created:
            existing = self._call("GET", f"/git/ref/tags/{release.tag_name}")["object"]["sha"]
            if existing != commit:
                raise ReleaseError(f"tag {release.tag_name} exists on GitHub at {existing[:12]}, not {commit[:12]}")
        self._call(
            "PUT",
            f"/branches/{release.branch}/protection",
            json={
                "required_status_checks": None,
                "enforce_admins": True,
                "required_pull_request_reviews": None,
                "restrictions": None,
                "lock_branch": True,
            },
        )
        store.update_state(frozen=True)
        store.audit(actor, "release.tag", tag=release.tag_name, commit=commit, created=created, repository=self.repo)
        store.audit(actor, "release.freeze", branch=release.branch, enforced=True, detail="GitHub lock_branch")
        summary = f"GitHub {self.repo}: tagged, {release.branch} locked"
        return ReleaseResult(release.tag_name, commit, created, True, summary)
