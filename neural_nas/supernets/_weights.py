"""Where super-network weights come from: an explicit path, else the cache, else a download into the cache.

The cache folder is ``$NEURAL_NAS_CACHE/supernets`` when the environment variable ``NEURAL_NAS_CACHE`` is set, else
``~/.cache/neural_nas/supernets``. Files are loaded with ``torch.load(..., weights_only=True)``: never an arbitrary
pickle.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from neural_nas.errors import ConfigError

if TYPE_CHECKING:
    from torch import nn

logger = logging.getLogger("neural_nas")

CACHE_ENV = "NEURAL_NAS_CACHE"
CKPT_KEY = "nas.dynas.supernet_ckpt_path"
# First bytes of what torch.save writes: a zip archive (torch >= 1.6) or a legacy pickle stream.
_TORCH_MAGIC = (b"PK\x03\x04", b"\x80")


def cache_dir() -> Path:
    """The folder that holds downloaded super-network weights."""
    root = os.environ.get(CACHE_ENV)
    root_path = Path(root).expanduser() if root else Path.home() / ".cache" / "neural_nas"
    return root_path / "supernets"


def download(url: str, dest: Path, timeout: float = 60.0) -> None:
    """Fetch ``url`` into ``dest`` atomically: a partial download never takes the final name."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=dest.name + ".", suffix=".part", dir=dest.parent)
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as response:
            shutil.copyfileobj(response, out)
            out.flush()
            os.fsync(out.fileno())
        with open(tmp, "rb") as f:
            head = f.read(4)
        # Some hosts answer with an HTML page (quota, confirmation) instead of the file.
        if not head.startswith(_TORCH_MAGIC):
            raise OSError(f"{url} did not return a torch checkpoint (starts with {head!r})")
        os.replace(tmp, dest)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def resolve_checkpoint(filename: str, url: str | None, ckpt_path: str | None, *, allow_download: bool = True) -> Path:
    """The weights file to load: ``ckpt_path`` if given, else the cached ``filename``, else downloaded from ``url``."""
    if ckpt_path:
        path = Path(ckpt_path).expanduser()
        if not path.is_file():
            raise ConfigError(CKPT_KEY, ckpt_path, "the path of an existing super-network checkpoint file")
        return path
    cached = cache_dir() / filename
    if cached.is_file():
        return cached
    reason = "downloading is disabled"
    if url and allow_download:
        logger.info("downloading super-network weights %s into %s", url, cached)
        try:
            download(url, cached)
            return cached
        except Exception as err:  # no network, HTTP error, bad content: all end in the same advice
            reason = f"downloading {url} failed: {err}"
    elif not url:
        reason = "no download location is known"
    raise ConfigError(
        CKPT_KEY,
        ckpt_path,
        "the path of a super-network checkpoint file",
        hint=f"No weights found for {filename!r} and {reason}. Put the file at {cached} (the folder is "
        f"${CACHE_ENV}/supernets when the environment variable {CACHE_ENV} is set, else ~/.cache/neural_nas/"
        f"supernets), or set {CKPT_KEY} to its path",
    )


def load_state_dict(path: Path) -> Mapping[str, Any]:
    """Tensors of a checkpoint: a plain state dict or ``{'state_dict': ...}``, loaded without unpickling objects."""
    import torch

    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise ConfigError(
            CKPT_KEY,
            str(path),
            "a readable torch checkpoint (a state dict saved with torch.save)",
            hint=f"loading it failed: {err}",
        ) from err
    if isinstance(obj, Mapping) and isinstance(obj.get("state_dict"), Mapping):
        obj = obj["state_dict"]
    if not isinstance(obj, Mapping) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise ConfigError(CKPT_KEY, str(path), "a state dict (name -> tensor) or {'state_dict': state dict}")
    return obj


def load_weights(model: nn.Module, path: Path, description: str) -> None:
    """Load ``path`` into ``model``; a checkpoint of another architecture is a ConfigError naming the file."""
    state = load_state_dict(path)
    # OFA's loader renames legacy keys and ignores nothing, but a checkpoint holding only part of the model would
    # load silently: compare tensor counts (BatchNorm's num_batches_tracked aside, old checkpoints lack it).
    expected = sum(not k.endswith("num_batches_tracked") for k in model.state_dict())
    found = sum(not k.endswith("num_batches_tracked") for k in state)
    if found < expected:
        raise ConfigError(
            CKPT_KEY,
            str(path),
            f"a checkpoint of {description}",
            hint=f"it holds {found} tensors where the model has {expected}",
        )
    try:
        # OFA's own load_state_dict renames legacy keys, asserts they exist and then loads strictly.
        model.load_state_dict(state)
    except (RuntimeError, ValueError, KeyError, AssertionError) as err:
        raise ConfigError(
            CKPT_KEY, str(path), f"a checkpoint of {description}", hint=f"its tensors do not fit: {str(err)[:500]}"
        ) from err
