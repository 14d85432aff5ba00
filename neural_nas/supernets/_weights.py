"""Where super-network weights come from: an explicit path, else the cache, else a download into the cache.

The cache folder is ``$NEURAL_NAS_CACHE/supernets`` when the environment variable ``NEURAL_NAS_CACHE`` is set, else
``~/.cache/neural_nas/supernets``. Files are loaded with ``torch.load(..., weights_only=True)``: never an arbitrary
pickle (`read_state_dict`, the one reader of every super-network's weights); `check_state_dict` names every tensor
that does not fit a model in one error.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import urllib.request
from collections.abc import Callable, Mapping, Sequence
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


def resolve_checkpoint(
    filename: str, url: str | None, ckpt_path: str | None, *, allow_download: bool = True, source: str = ""
) -> Path:
    """The weights file to load: ``ckpt_path`` if given, else the cached ``filename``, else downloaded from ``url``
    (only when ``allow_download``). ``source``: where a user gets the file, said when it is found nowhere."""
    if ckpt_path:
        path = Path(ckpt_path).expanduser()
        if not path.is_file():
            raise ConfigError(
                CKPT_KEY, ckpt_path, "the path of an existing super-network checkpoint file", "the file does not exist"
            )
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
        hint=f"No weights found for {filename!r} and {reason}. "
        + (f"Get {source}. " if source else "")
        + f"Put the file at {cached} (the folder is ${CACHE_ENV}/supernets when the environment variable "
        f"{CACHE_ENV} is set, else ~/.cache/neural_nas/supernets), or set {CKPT_KEY} to its path",
    )


def checkpoint_for(
    filename: str,
    *,
    pretrained: bool,
    ckpt_path: str | None,
    url: str | None = None,
    download: bool = False,
    source: str = "",
) -> Path | None:
    """The weights file a super-network loads (`resolve_checkpoint`), or None for a random initialisation (neither
    ``pretrained`` nor a ``ckpt_path``)."""
    if pretrained or ckpt_path:
        return resolve_checkpoint(filename, url, ckpt_path, allow_download=download, source=source)
    return None


def build_with_weights(
    name: str, path: Path | None, build: Callable[[], nn.Module], load_into: Callable[[nn.Module, Path], None]
) -> nn.Module:
    """``build()`` the super-network, then ``load_into(model, path)``, in eval mode; ``path`` None leaves it randomly
    initialised (a warning says so)."""
    model = build()
    if path is None:
        logger.warning("super-network %s is randomly initialised (pretrained=False)", name)
    else:
        load_into(model, path)
        logger.info("loaded %s weights from %s", name, path)
    return model.eval()


class Inert:
    """Stands in for an object of a training checkpoint's metadata (arguments, meters, configs): keeps what was
    pickled, imports nothing and calls nothing. Only the tensors of a checkpoint are used."""

    def __new__(cls, *args: Any, **kwargs: Any) -> Inert:
        return object.__new__(cls)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.args = args

    def __setstate__(self, state: Any) -> None:
        self.state = state


# Modules whose objects training checkpoints hold beside the weights (fairseq's: argparse.Namespace arguments,
# fairseq meters, omegaconf configs, numpy scalars): read as `Inert` placeholders. A global from any other module
# makes the file unreadable.
INERT_MODULES = ("argparse", "fairseq", "omegaconf", "numpy", "typing", "enum", "collections")


def _in_modules(name: str, modules: Sequence[str]) -> bool:
    return any(name == m or name.startswith(m + ".") for m in modules)


def _load_error(err: Exception) -> str:
    """The gist of a load error (torch's weights-only errors wrap it in advice that does not apply here)."""
    text = str(err)
    if "WeightsUnpickler error:" in text:
        text = text.split("WeightsUnpickler error:", 1)[1].split("Check the documentation", 1)[0]
    return " ".join(text.split())[:300] or type(err).__name__


def _legacy_unsafe_globals(path: Path) -> list[str]:
    """The globals of a legacy ``torch.save`` file (torch < 1.6: four pickles, the object's last) that torch's
    weights-only unpickler does not read by itself. Disassembled with pickletools: nothing is imported or run. Empty
    for a file that is not one (torch.load then says what it is)."""
    import pickletools

    from torch import _weights_only_unpickler

    names = set()
    try:
        with open(path, "rb") as f:
            for index in range(4):  # the magic number, the protocol version, the system info, then the object
                for opcode, arg, _ in pickletools.genops(f):
                    if index == 3 and opcode.name == "GLOBAL":
                        names.add(str(arg).replace(" ", "."))
    except Exception:
        return []
    return sorted(names - set(_weights_only_unpickler._get_allowed_globals()))


def read_state_dict(
    path: Path, description: str = "a super-network", *, inert_modules: Sequence[str] = INERT_MODULES
) -> dict[str, Any]:
    """The tensors of a checkpoint: a plain state dict, ``{'model': ...}`` or ``{'state_dict': ...}``.

    Read with ``torch.load(..., weights_only=True)``; the objects of ``inert_modules`` are `Inert` placeholders, a
    global of any other module is a ConfigError naming it (found in one pass, before anything is unpickled)."""
    import torch

    readable = "a readable torch checkpoint (tensors and plain containers, saved with torch.save)"
    try:
        unsafe = torch.serialization.get_unsafe_globals_in_checkpoint(path)
    except Exception:  # not a zip checkpoint: torch < 1.6's format (as the HAT checkpoint's), or no checkpoint
        unsafe = _legacy_unsafe_globals(path)
    refused = sorted(name for name in unsafe if not _in_modules(name, inert_modules))
    if refused:
        raise ConfigError(
            CKPT_KEY,
            str(path),
            readable,
            hint=f"it cannot be read safely: it holds objects of {', '.join(refused)}; only tensors, containers and "
            f"objects of {', '.join(inert_modules) or 'no module'} are read (weights_only). A file you trust can be "
            "re-saved with its tensors only: torch.save({'model': torch.load(path, weights_only=False)['model']}, "
            "new_path)",
        )
    try:
        with torch.serialization.safe_globals([(Inert, name) for name in unsafe]):
            obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # not a torch file, truncated, ...
        raise ConfigError(CKPT_KEY, str(path), readable, hint=f"loading it failed: {_load_error(err)}") from err
    for key in ("model", "state_dict"):
        if isinstance(obj, Mapping) and isinstance(obj.get(key), Mapping):
            obj = obj[key]
            break
    if not isinstance(obj, Mapping) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise ConfigError(
            CKPT_KEY,
            str(path),
            f"a checkpoint of {description}: a state dict (name -> tensor), {{'model': state dict}} or "
            "{'state_dict': state dict}",
        )
    return dict(obj)


def load_state_dict(path: Path) -> Mapping[str, Any]:
    """Tensors of a checkpoint (`read_state_dict`), loaded without unpickling objects."""
    return read_state_dict(path)


def check_state_dict(model: nn.Module, state: Mapping[str, Any], path: Path, description: str) -> None:
    """One ConfigError naming the tensors of ``state`` that are missing, unknown or of another shape for ``model``
    (nothing is copied); returns when ``model.load_state_dict(state)`` fits exactly."""
    expected = {name: tuple(t.shape) for name, t in model.state_dict().items()}
    found = {name: tuple(t.shape) for name, t in state.items()}
    missing = [n for n in expected if n not in found]
    unexpected = [n for n in found if n not in expected]
    wrong = [f"{n} is {found[n]} instead of {expected[n]}" for n in expected if n in found and found[n] != expected[n]]
    problems = []
    if wrong:
        problems.append(f"{len(wrong)} tensors of another shape ({'; '.join(wrong[:3])})")
    if missing:
        problems.append(f"{len(missing)} tensors missing ({', '.join(missing[:3])})")
    if unexpected:
        problems.append(f"{len(unexpected)} unknown tensors ({', '.join(unexpected[:3])})")
    if problems:
        raise ConfigError(
            CKPT_KEY,
            str(path),
            f"a checkpoint of {description}",
            hint="it is of another architecture: it has " + ", ".join(problems),
        )


def load_weights(model: nn.Module, path: Path, description: str) -> None:
    """Load ``path`` into ``model``; a checkpoint of another architecture is a ConfigError naming the file."""
    state = read_state_dict(path, description)
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
