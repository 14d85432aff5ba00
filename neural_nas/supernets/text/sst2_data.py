"""GLUE SST-2's dev split, tokenised as BERT reads it: ``[CLS] sentence [SEP]``, truncated and padded to a fixed length.

The split is ``dev.tsv`` in its published layout: tab-separated, a header row naming the ``sentence`` and ``label``
columns (labels ``0``/``1``), no quoting. Tokens come from the checkpoint's WordPiece vocabulary (``vocab.txt``, one
token a line, the line number is the id) through the ``tokenizers`` library's BERT WordPiece tokenizer, lower-cased
as BERT-base uncased was trained.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from neural_nas.errors import ConfigError
from neural_nas.measurements.context import DATA_KEY

DEV_FILE = "dev.tsv"
VOCAB_FILE = "vocab.txt"
SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")


@dataclass(frozen=True)
class TokenisedSplit:
    """Token ids, attention mask (1: a token, 0: padding) and token types, ``(examples, max_len)`` int64 each, and
    the labels ``(examples,)``."""

    input_ids: np.ndarray
    attention_mask: np.ndarray
    token_type_ids: np.ndarray
    labels: np.ndarray


def find_vocab(dataset_path: str | Path, ckpt_path: str | None) -> Path:
    """``vocab.txt`` in the data set folder, else beside the super-network checkpoint."""
    places = [Path(dataset_path) / VOCAB_FILE]
    if ckpt_path:
        places.append(Path(ckpt_path).expanduser().parent / VOCAB_FILE)
    for place in places:
        if place.is_file():
            return place
    raise ConfigError(
        DATA_KEY,
        str(dataset_path),
        f"a folder with {DEV_FILE} and the checkpoint's WordPiece vocabulary {VOCAB_FILE}",
        hint=f"no {VOCAB_FILE} at {' or '.join(str(p) for p in places)}: copy the vocabulary the checkpoint was "
        f"trained with (BERT-base uncased's {VOCAB_FILE}) into {dataset_path} or beside the checkpoint",
    )


def read_dev_tsv(path: Path, num_labels: int) -> tuple[list[str], np.ndarray]:
    """Sentences and labels of an SST-2 ``dev.tsv``; a ConfigError names the file and line of anything else."""
    if not path.is_file():
        raise ConfigError(DATA_KEY, str(path.parent), f"a GLUE SST-2 folder with {DEV_FILE}", hint=f"{path} is missing")
    data = path.read_bytes()
    try:
        text = data.decode("utf-8-sig")  # -sig: a byte-order mark is not part of the header
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        raise ConfigError(
            DATA_KEY,
            str(path.parent),
            f"a GLUE SST-2 folder whose {DEV_FILE} is UTF-8 text",
            hint=f"{path} line {line} has bytes that are not UTF-8 ({err.reason})",
        ) from None
    rows = list(csv.reader(io.StringIO(text, newline=""), delimiter="\t", quotechar=None))
    header = [c.strip() for c in rows[0]] if rows else []
    if "sentence" not in header or "label" not in header:
        raise ConfigError(
            DATA_KEY,
            str(path.parent),
            f"a GLUE SST-2 folder whose {DEV_FILE} has a header row with 'sentence' and 'label' columns",
            hint=f"{path} starts with {header!r}",
        )
    text_col, label_col = header.index("sentence"), header.index("label")
    allowed = {str(i): i for i in range(num_labels)}
    sentences, labels = [], []
    for line, row in enumerate(rows[1:], start=2):
        if not row:
            continue
        if len(row) != len(header) or row[label_col].strip() not in allowed:
            raise ConfigError(
                DATA_KEY,
                str(path.parent),
                f"a {DEV_FILE} of {len(header)} tab-separated fields a line, labels in {sorted(allowed)}",
                hint=f"{path} line {line} is {row!r}",
            )
        sentences.append(row[text_col])
        labels.append(allowed[row[label_col].strip()])
    if not sentences:
        raise ConfigError(
            DATA_KEY, str(path.parent), f"a {DEV_FILE} with at least one sentence", hint=f"{path} has none"
        )
    return sentences, np.array(labels, dtype=np.int64)


def read_vocab(path: Path) -> list[str]:
    with open(path, encoding="utf-8") as f:
        tokens = [line.rstrip("\n") for line in f]
    missing = [t for t in SPECIAL_TOKENS if t not in tokens]
    if missing:
        raise ConfigError(
            DATA_KEY, str(path), "a BERT WordPiece vocabulary (one token a line)", hint=f"it lacks {missing}"
        )
    return tokens


def tokenise(sentences: Sequence[str], vocab_path: Path, max_len: int, lowercase: bool, pad_id: int) -> TokenisedSplit:
    """``[CLS] tokens [SEP]`` of each sentence (tokens cut to ``max_len - 2``), padded with ``[PAD]`` (id ``pad_id``)
    to ``max_len``; labels left empty."""
    try:
        from tokenizers import BertWordPieceTokenizer
    except ImportError as err:
        raise ImportError("bert_base_sst2 needs the tokenizers library: pip install 'neural-nas[text]'") from err

    tokenizer = BertWordPieceTokenizer(str(vocab_path), lowercase=lowercase, strip_accents=None, clean_text=True)
    tokenizer.enable_truncation(max_len)  # counts the [CLS] and [SEP] it adds
    tokenizer.enable_padding(length=max_len, pad_id=pad_id, pad_token="[PAD]")
    encoded = tokenizer.encode_batch(list(sentences))
    return TokenisedSplit(
        np.array([e.ids for e in encoded], dtype=np.int64).reshape(len(encoded), max_len),
        np.array([e.attention_mask for e in encoded], dtype=np.int64).reshape(len(encoded), max_len),
        np.array([e.type_ids for e in encoded], dtype=np.int64).reshape(len(encoded), max_len),
        np.zeros(0, dtype=np.int64),
    )


def load_dev_split(
    dataset_path: str | None,
    *,
    ckpt_path: str | None,
    vocab_size: int,
    num_labels: int,
    max_len: int,
    lowercase: bool,
    test_fraction: float = 1.0,
    seed: int = 0,
) -> TokenisedSplit:
    """The tokenised dev split (a fixed seeded ``test_fraction`` of it, in file order).

    ``vocab_size``: the rows of the super-network's word embedding; the vocabulary must have exactly that many
    tokens (another vocabulary's ids would index the wrong rows, or none)."""
    if dataset_path is None:
        raise ConfigError(DATA_KEY, None, f"the GLUE SST-2 folder holding {DEV_FILE} (SST-2 accuracy is measured)")
    folder = Path(dataset_path).expanduser()
    sentences, labels = read_dev_tsv(folder / DEV_FILE, num_labels)
    vocab_path = find_vocab(folder, ckpt_path)
    tokens = read_vocab(vocab_path)
    if len(tokens) != vocab_size:
        raise ConfigError(
            DATA_KEY,
            str(vocab_path),
            f"the vocabulary of the checkpoint: {vocab_size} tokens, one per row of its word embedding",
            hint=f"{vocab_path} has {len(tokens)} tokens",
        )
    from neural_nas.measurements.accuracy import seeded_subset

    keep = seeded_subset(len(sentences), test_fraction, seed)
    sentences, labels = [sentences[i] for i in keep], labels[keep]
    split = tokenise(sentences, vocab_path, max_len, lowercase, tokens.index("[PAD]"))
    return TokenisedSplit(split.input_ids, split.attention_mask, split.token_type_ids, labels)
