"""fairseq's binarized translation data (``fairseq-preprocess`` output), read and written with numpy only.

A data-bin folder holds, for source ``en`` and target ``de``: ``dict.en.txt`` and ``dict.de.txt`` (one ``<symbol>
<count>`` per line; the four special symbols ``<s>`` 0, ``<pad>`` 1, ``</s>`` 2, ``<unk>`` 3 come first and are not
in the file), and per split (``test``, ``valid``, ``train``) a pair ``{split}.en-de.{lang}.bin`` / ``.idx`` per
language (or ``{split}.de-en.{lang}`` for data binarized the other way round). Every sentence ends with ``</s>``.

Two index formats exist, told apart by their first bytes:

- ``MMIDIDX\\0\\0`` (fairseq's ``mmap``, its default): version (u64 = 1), dtype code (u8), sentence count N (u64),
  then N sizes (int32) and N byte offsets into the ``.bin`` (int64); the ``.bin`` holds the ids as they are.
  Megatron's variant appends a document index after them, which is not needed here and is ignored.
- ``TNTIDX\\0\\0`` (fairseq's older ``lazy``/``cached``): version (u64 = 1), dtype code and element size (u64 each),
  N and the number of size entries S (u64 each), then N + 1 dimension offsets, N + 1 element offsets into the ``.bin``
  and S sizes (int64 each). The ``.bin`` stores every id plus one (a Lua legacy), undone when reading.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from neural_nas.errors import ConfigError
from neural_nas.measurements.context import DATA_KEY

SPECIALS = ("<s>", "<pad>", "</s>", "<unk>")
BOS, PAD, EOS, UNK = 0, 1, 2, 3
MMAP_MAGIC = b"MMIDIDX\x00\x00"
TNT_MAGIC = b"TNTIDX\x00\x00"
DTYPES = {
    1: np.uint8,
    2: np.int8,
    3: np.int16,
    4: np.int32,
    5: np.int64,
    6: np.float64,
    7: np.float64,
    8: np.uint16,
    9: np.uint32,
    10: np.uint64,
}
LAYOUT = (
    "a fairseq data-bin folder (fairseq-preprocess output) with dict.{src}.txt, dict.{tgt}.txt and "
    "{split}.{src}-{tgt}.{src}/.{tgt} .bin/.idx files"
)


class Dictionary:
    """fairseq's dictionary: id <-> symbol, the four special symbols first."""

    def __init__(self, symbols: Sequence[str]) -> None:
        self.symbols = list(symbols)

    @classmethod
    def load(cls, path: Path) -> Dictionary:
        """Read ``dict.xx.txt``: ``<symbol> <count>`` lines (a trailing ``#fairseq:overwrite`` flag is allowed)."""
        symbols = list(SPECIALS)
        with open(path, encoding="utf-8") as f:
            for number, line in enumerate(f, 1):
                fields = line.rstrip("\n").rsplit(" ", 2 if line.rstrip().endswith("#fairseq:overwrite") else 1)
                if len(fields) < 2 or not fields[1].strip().isdigit():
                    raise ConfigError(
                        DATA_KEY,
                        str(path),
                        "a fairseq dictionary ('<symbol> <count>' lines)",
                        f"line {number} is {line.rstrip()!r}",
                    )
                symbols.append(fields[0])
        return cls(symbols)

    def save(self, path: Path, counts: Sequence[int] | None = None) -> None:
        counts = counts if counts is not None else [1] * (len(self) - len(SPECIALS))
        lines = [f"{s} {c}\n" for s, c in zip(self.symbols[len(SPECIALS) :], counts)]
        Path(path).write_text("".join(lines), encoding="utf-8")

    def __len__(self) -> int:
        return len(self.symbols)

    def string(self, ids: Sequence[int], bpe_symbol: str | None = "@@ ", unk: str = "<unk>") -> str:
        """Text of ids as the reference decodes them: ``</s>`` and ``<s>`` dropped, ``<unk>`` as ``unk``, then the
        BPE continuation marks removed (``"a@@ b"`` -> ``"ab"``)."""
        words = [unk if i == UNK else self.symbols[i] for i in ids if i not in (EOS, BOS)]
        text = " ".join(words)
        if bpe_symbol:
            text = (text + " ").replace(bpe_symbol, "").rstrip()
        return text

    def encode(self, words: Sequence[str]) -> np.ndarray:
        index = {s: i for i, s in enumerate(self.symbols)}
        return np.array([index.get(w, UNK) for w in words] + [EOS], dtype=np.int64)


def _bad(path: Path, problem: str) -> ConfigError:
    return ConfigError(DATA_KEY, str(path), "a fairseq binarized data set (.idx/.bin pair)", problem)


def read_indexed(prefix: Path) -> list[np.ndarray]:
    """The sentences (int64 id arrays) of ``prefix.idx`` / ``prefix.bin``, in either index format."""
    idx, binary = Path(f"{prefix}.idx"), Path(f"{prefix}.bin")
    for p in (idx, binary):
        if not p.is_file():
            raise _bad(p, "the file does not exist")
    raw = idx.read_bytes()
    data = np.fromfile(binary, dtype=np.uint8)
    try:
        if raw.startswith(MMAP_MAGIC):
            return _read_mmap(raw, data)
        if raw.startswith(TNT_MAGIC):
            return _read_tnt(raw, data)
    except (struct.error, ValueError, KeyError, IndexError) as err:
        raise _bad(idx, f"it is truncated or corrupt ({err})") from err
    raise _bad(idx, f"it starts with {raw[:9]!r}, neither {MMAP_MAGIC!r} nor {TNT_MAGIC!r}")


def _read_mmap(raw: bytes, data: np.ndarray) -> list[np.ndarray]:
    offset = len(MMAP_MAGIC)
    (version,) = struct.unpack_from("<Q", raw, offset)
    (code,) = struct.unpack_from("<B", raw, offset + 8)
    (n,) = struct.unpack_from("<Q", raw, offset + 9)
    if version != 1:
        raise ValueError(f"index version {version}, expected 1")
    dtype = np.dtype(DTYPES[code])
    start = offset + 17
    sizes = np.frombuffer(raw, dtype="<i4", count=n, offset=start)
    pointers = np.frombuffer(raw, dtype="<i8", count=n, offset=start + 4 * n)
    values = data.view(np.uint8)
    out = []
    for p, s in zip(pointers.tolist(), sizes.tolist()):
        chunk = values[p : p + s * dtype.itemsize]
        if len(chunk) != s * dtype.itemsize:
            raise ValueError(f"the .bin file ends before a sentence at byte {p}")
        out.append(chunk.view(dtype.newbyteorder("<")).astype(np.int64))
    return out


def _read_tnt(raw: bytes, data: np.ndarray) -> list[np.ndarray]:
    offset = len(TNT_MAGIC)
    version, code, element_size, n, s = struct.unpack_from("<QQQQQ", raw, offset)
    if version != 1:
        raise ValueError(f"index version {version}, expected 1")
    dtype = np.dtype(DTYPES[code])
    if dtype.itemsize != element_size:
        raise ValueError(f"element size {element_size} does not fit dtype code {code}")
    start = offset + 40
    dim_offsets = np.frombuffer(raw, dtype="<i8", count=n + 1, offset=start)
    data_offsets = np.frombuffer(raw, dtype="<i8", count=n + 1, offset=start + 8 * (n + 1))
    np.frombuffer(raw, dtype="<i8", count=s, offset=start + 16 * (n + 1))  # sizes: implied by the offsets
    if dim_offsets[-1] != s:
        raise ValueError("dimension offsets do not match the size count")
    values = data.view(np.uint8)
    out = []
    for a, b in zip(data_offsets[:-1].tolist(), data_offsets[1:].tolist()):
        chunk = values[a * element_size : b * element_size]
        if len(chunk) != (b - a) * element_size:
            raise ValueError(f"the .bin file ends before element {b}")
        out.append(chunk.view(dtype.newbyteorder("<")).astype(np.int64) - 1)  # ids are stored plus one
    return out


def write_indexed(prefix: Path, sentences: Sequence[np.ndarray], fmt: str = "mmap") -> None:
    """Write sentences as fairseq does: ``fmt`` ``"mmap"`` (MMIDIDX, uint16 ids) or ``"lazy"`` (TNTIDX, int32)."""
    if fmt == "mmap":
        dtype, code = np.dtype("<u2"), 8
        sizes = np.array([len(s) for s in sentences], dtype="<i4")
        pointers = np.concatenate([[0], np.cumsum(sizes.astype(np.int64) * dtype.itemsize)[:-1]]).astype("<i8")
        body = b"".join(np.asarray(s, dtype=dtype).tobytes() for s in sentences)
        header = MMAP_MAGIC + struct.pack("<Q", 1) + struct.pack("<B", code) + struct.pack("<Q", len(sentences))
        index = header + sizes.tobytes() + pointers[: len(sentences)].tobytes()
    elif fmt == "lazy":
        dtype, code = np.dtype("<i4"), 4
        lengths = np.array([len(s) for s in sentences], dtype=np.int64)
        data_offsets = np.concatenate([[0], np.cumsum(lengths)]).astype("<i8")
        dim_offsets = np.arange(len(sentences) + 1, dtype="<i8")
        body = b"".join((np.asarray(s, dtype=np.int64) + 1).astype(dtype).tobytes() for s in sentences)
        header = TNT_MAGIC + struct.pack("<QQQQQ", 1, code, dtype.itemsize, len(sentences), len(sentences))
        index = header + dim_offsets.tobytes() + data_offsets.tobytes() + lengths.astype("<i8").tobytes()
    else:
        raise ValueError(f"fmt must be 'mmap' or 'lazy'; got {fmt!r}")
    Path(f"{prefix}.bin").write_bytes(body)
    Path(f"{prefix}.idx").write_bytes(index)


@dataclass(frozen=True)
class ParallelSplit:
    """One split of a data-bin: source and target sentences (id arrays ending in ``</s>``) and the dictionaries."""

    source: list[np.ndarray]
    target: list[np.ndarray]
    src_dict: Dictionary
    tgt_dict: Dictionary


def load_split(root: str | Path, split: str = "test", src: str = "en", tgt: str = "de") -> ParallelSplit:
    """Read ``split`` of a data-bin folder; a folder in another layout is one ConfigError saying what is expected."""
    root = Path(root).expanduser()
    layout = LAYOUT.format(src=src, tgt=tgt, split=split)
    if not root.is_dir():
        raise ConfigError(DATA_KEY, str(root), layout, "it is not a folder")
    dicts = [root / f"dict.{lang}.txt" for lang in (src, tgt)]
    pairs = [root / f"{split}.{a}-{b}" for a, b in ((src, tgt), (tgt, src))]
    found = [p for p in pairs if Path(f"{p}.{src}.idx").is_file() or Path(f"{p}.{tgt}.idx").is_file()]
    missing = [d.name for d in dicts if not d.is_file()]
    if missing or not found:
        what = missing + ([] if found else [f"{pairs[0].name}.{src}.idx / .bin (and .{tgt})"])
        raise ConfigError(DATA_KEY, str(root), layout, f"missing: {', '.join(what)}")
    src_dict, tgt_dict = (Dictionary.load(d) for d in dicts)
    source = read_indexed(Path(f"{found[0]}.{src}"))
    target = read_indexed(Path(f"{found[0]}.{tgt}"))
    if len(source) != len(target) or not source:
        raise ConfigError(DATA_KEY, str(root), layout, f"{len(source)} source and {len(target)} target sentences")
    for name, sentences, dictionary in (("source", source, src_dict), ("target", target, tgt_dict)):
        top = max(int(s.max(initial=0)) for s in sentences)
        if top >= len(dictionary) or min(int(s.min(initial=0)) for s in sentences) < 0:
            raise ConfigError(DATA_KEY, str(root), layout, f"{name} ids outside its dictionary of {len(dictionary)}")
    return ParallelSplit(source, target, src_dict, tgt_dict)


def write_data_bin(
    root: str | Path,
    pairs: Sequence[tuple[str, str]],
    *,
    split: str = "test",
    src: str = "en",
    tgt: str = "de",
    fmt: str = "mmap",
    vocab: Sequence[str] | None = None,
    vocab_size: int | None = None,
) -> None:
    """Binarize whitespace-tokenised sentence pairs into ``root`` as ``fairseq-preprocess --joined-dictionary``.

    ``vocab`` fixes the symbols (else those of the pairs, by frequency); ``vocab_size`` pads the dictionary with
    unused ``madeupwordNNNN`` symbols to that many entries, as fairseq pads to a multiple of 8."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    if vocab is None:
        counts: dict[str, int] = {}
        for pair in pairs:
            for word in " ".join(pair).split():
                counts[word] = counts.get(word, 0) + 1
        vocab = sorted(counts, key=lambda w: (-counts[w], w))
    symbols = list(SPECIALS) + list(vocab)
    if vocab_size is not None:
        if vocab_size < len(symbols):
            raise ValueError(f"vocab_size {vocab_size} is below the {len(symbols)} symbols")
        symbols += [f"madeupword{i:04d}" for i in range(vocab_size - len(symbols))]
    dictionary = Dictionary(symbols)
    for lang in (src, tgt):
        dictionary.save(root / f"dict.{lang}.txt")
    for side, lang in enumerate((src, tgt)):
        sentences = [dictionary.encode(pair[side].split()) for pair in pairs]
        write_indexed(root / f"{split}.{src}-{tgt}.{lang}", sentences, fmt=fmt)
