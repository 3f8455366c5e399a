"""The `git` command as an adapter: every Git operation of the plugin workspace goes here.

Git's own command line is the interface (never `.git` parsed by hand); it runs through
`trio.run_process`, so a slow disk never stalls the event loop. Author and committer are set
per call so a workspace commits on a machine with no Git identity configured.
"""

from __future__ import annotations

import os

import trio

from ._errors import AdapterError

__all__ = ["GitError", "git", "git_bytes"]

_IDENTITY = ("-c", "user.name=Parley", "-c", "user.email=parley@localhost")


class GitError(AdapterError):
    """Raised when a git command exits non-zero; the message names the command and its stderr."""

    def __init__(self, args: tuple[str, ...], code: int, stderr: str) -> None:
        self.code = code
        self.stderr = stderr
        super().__init__(f"git {' '.join(args)} failed ({code}): {stderr.strip()[:500]}")


async def git(repo: str | os.PathLike[str], *args: str, stdin: bytes | None = None) -> str:
    """Run `git -C repo ARGS` and return its stdout (text); raises GitError."""
    return (await git_bytes(repo, *args, stdin=stdin)).decode(errors="replace")


async def git_bytes(repo: str | os.PathLike[str], *args: str, stdin: bytes | None = None) -> bytes:
    """Run `git -C repo ARGS` and return its stdout as bytes (an archive); raises GitError."""
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C"}
    # The repository is the one named, whatever the caller's environment says.
    env.pop("GIT_DIR", None)
    env.pop("GIT_WORK_TREE", None)
    env.pop("GIT_INDEX_FILE", None)
    try:
        done = await trio.run_process(
            ["git", "-C", os.fspath(repo), *_IDENTITY, "--no-pager", *args],
            stdin=stdin,
            capture_stdout=True,
            capture_stderr=True,
            check=False,
            env=env,
        )
    except FileNotFoundError:
        raise GitError(args, 127, "the git command is not installed") from None
    if done.returncode != 0:
        raise GitError(args, done.returncode, done.stderr.decode(errors="replace"))
    return done.stdout
