"""Finding a checkpoint: a directory, or a repo id in the Hugging Face cache.

A repo id (org/name, or a bare name like gpt2) is looked up in the local Hugging Face
cache, at refs/main or at a revision (a branch or tag in refs/, or a commit hash); an
org/name missing there is downloaded only if huggingface_hub is installed and
HF_HUB_OFFLINE is not "1", and a bare name never is (it may be a mistyped directory).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from attncli.errors import AttnError
from attncli.models.checkpoint import CONFIG, SINGLE, TOKENIZER
from attncli.safe_text import visible

DOWNLOAD_PATTERNS = [CONFIG, TOKENIZER, "*.safetensors", "*.json"]
REPO_ID = r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$"  # org/name, or a bare name (gpt2)
REVISION = r"[\w.-]+(/[\w.-]+)*"  # a branch, a tag (v1.0, refs/pr/1) or a hash
SAMPLES = Path(__file__).parent.parent / "sample_weights"  # shipped in the package: pronoun-lm


def hub_cache() -> Path:
    """The HF hub cache: $HF_HUB_CACHE, else $HF_HOME/hub, else ~/.cache/huggingface/hub."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]).expanduser() / "hub"
    return Path.home() / ".cache" / "huggingface" / "hub"


def cached_snapshot(repo_id: str, cache: Path, revision: str | None = None) -> Path | None:
    """The snapshot directory of repo_id in the cache, or None when the repo is not there:
    at revision (a name in refs/, or a snapshot's commit hash) if given, else refs/main, else
    the latest."""
    repo = cache / ("models--" + repo_id.replace("/", "--"))
    snapshots = repo / "snapshots"
    if not snapshots.is_dir():
        return None
    if revision is not None:
        return _revision(repo_id, repo, revision)
    ref = repo / "refs" / "main"
    if ref.is_file():  # it names the snapshot to use: that one, or a clear refusal
        return _snapshot_of(ref, snapshots)
    found = sorted((p for p in snapshots.iterdir() if p.is_dir()), key=lambda p: p.stat().st_mtime)
    return found[-1] if found else None


def _snapshot_of(ref: Path, snapshots: Path) -> Path:
    """The snapshot a refs/ file names: that one, or a clear refusal."""
    try:
        name = ref.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise AttnError(f"{ref}: cannot read it ({exc})") from None
    if not re.fullmatch(r"[0-9A-Za-z._-]+", name) or name in (".", ".."):
        raise AttnError(f"{ref}: {name[:60]!r} is not a snapshot name (a commit hash)")
    if not (snapshots / name).is_dir():
        raise AttnError(f"{ref}: names snapshot {name}, which is not in {snapshots} (an "
                        "interrupted download? fetch the model again)")
    return snapshots / name


def _revision(repo_id: str, repo: Path, revision: str) -> Path:
    """The snapshot of a cached repo at revision: a branch or tag in refs/, or a hash."""
    snapshots = repo / "snapshots"
    if re.fullmatch(REVISION, revision) and ".." not in revision.split("/"):
        ref = repo / "refs" / revision
        if ref.is_file():
            return _snapshot_of(ref, snapshots)
        if "/" not in revision and (snapshots / revision).is_dir():
            return snapshots / revision
    refs = sorted(p.relative_to(repo / "refs").as_posix()
                  for p in (repo / "refs").rglob("*") if p.is_file()) \
        if (repo / "refs").is_dir() else []
    hashes = sorted(p.name for p in snapshots.iterdir() if p.is_dir())
    have = "; ".join(part for part in (
        f"refs: {', '.join(refs)}" if refs else "",
        f"snapshots: {', '.join(h[:12] for h in hashes)}" if hashes else "") if part)
    raise AttnError(f"{repo_id}: no revision {visible(revision)!r} in {repo} "
                    f"({have or 'it holds no snapshot'})")


def resolve(spec: str, revision: str | None = None) -> Path:
    """The directory a model spec names: itself, or a repo id's snapshot in the HF cache (at
    revision, if given)."""
    path = Path(spec).expanduser()
    if path.is_dir():
        return path
    shipped = SAMPLES / path.name  # sample_weights/NAME from any folder, as -w finds it
    if path.parent == Path("sample_weights") and not path.exists() and shipped.is_dir():
        return shipped
    if path.exists():
        raise AttnError(f"{spec}: is a file; pass the directory that holds {CONFIG}, {TOKENIZER}"
                        f" and {SINGLE}")
    if not re.match(REPO_ID, spec):
        raise AttnError(f"{spec}: no such directory, and not a repo id like org/name")
    cache = hub_cache()
    snapshot = cached_snapshot(spec, cache, revision)
    if snapshot is not None:
        return snapshot
    if "/" not in spec:  # a bare name may be a mistyped directory: looked up, never fetched
        raise AttnError(f"{spec}: no such directory, and not in the Hugging Face cache (no "
                        f"models--{spec} in {cache})")
    return download(spec, cache, revision)


def download(repo_id: str, cache: Path, revision: str | None = None) -> Path:
    """Fetch config, tokenizer and safetensors weights with huggingface_hub, if allowed."""
    at = "" if revision is None else f" at revision {visible(revision)!r}"
    how = (f"no local copy of {repo_id}{at} in {cache}: download it with `hf download "
           f"{repo_id}{'' if revision is None else ' --revision ' + visible(revision)}` or pass a "
           "directory")
    if os.environ.get("HF_HUB_OFFLINE") == "1":
        raise AttnError(how)
    try:
        from huggingface_hub import snapshot_download  # optional, and slow to import
    except ImportError:
        raise AttnError(how) from None
    try:
        got = snapshot_download(repo_id, allow_patterns=DOWNLOAD_PATTERNS, cache_dir=cache,
                                revision=revision)
    except Exception as exc:  # network, auth, missing repo: all end the same way for the user
        raise AttnError(f"{how} (download failed: {type(exc).__name__})") from None
    return Path(str(got))
