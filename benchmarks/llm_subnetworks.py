"""Sub-networks of a trained language model (``hf_causal_lm``): importance order against natural order, and the front
a search finds against random sampling.

A small Llama-family model (grouped-query attention: hidden 128, 4 layers, 8 query heads in 4 key/value groups, MLP
384) is trained here with a plain AdamW loop on text from the grammar of ``tests/lm_data.py`` (fixed seeds), saved as a
Hugging Face folder (safetensors and a word-level tokenizer) and used as the super-network. Its validation perplexity
is printed beside three references on the same text: uniform over the vocabulary, unigram (token frequencies of
``train.txt``) and the grammar's own (the generator's probability of each sentence: no model can beat it).

1. Importance order against natural order: the same gene vectors (so the same parameters) measured twice, on two fresh
   super-network instances: heads and channels in importance order (the library's default, Minitron-style scores on
   ``train.txt``) and in natural order (``supernet.importance = False``: a sub-network keeps the first ones). The
   sub-networks: uniform widths (1/4, 1/2, 3/4 of the key/value groups and MLP channels, all layers kept, and some
   with one layer dropped) and random ones (``--random-subnets``; any whose widths are all full are skipped: both
   orders give the same model). Summary: ``importance: lower perplexity in <k>/<n>, median ratio <r>``
   (importance / natural; below 1 is better).
2. Front against random: a search of ``--num-evals`` measurements (population ``--population``) of perplexity and
   params with ``search_tactic: linas`` and with ``random``, for each of ``--seeds`` seeds. Per seed: the hypervolume
   of each run's measured front with one reference point per seed (`default_ref_point` of both runs' points) and its
   ratio linas / random; the same with a fixed reference (the unigram perplexity, the whole model's params: the
   region of sub-networks worth having, which the first reference dwarfs when a sub-network without its early
   layers scores a perplexity in the hundreds); the size of each front; the best perplexity under parameter budgets
   (``--budgets``, shares of the whole model's params). Summary: ``linas vs random: HV ratio <median>,
   useful-region HV ratio <median>`` and the median best perplexity per budget for each tactic.

    python benchmarks/llm_subnetworks.py [--seeds 3] [--num-evals 60] [--population 10] [--random-subnets 12]
        [--steps 300] [--workdir DIR] [--budgets 0.25,0.5,0.75]

``--workdir`` keeps the trained model folder (and its data) there: a rerun with the same training options skips the
training. Without it everything lives in a temporary folder.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import shutil
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

SUPERNET = "hf_causal_lm"
METRICS = ("perplexity", "params")
HIGHER = (False, False)
SEQUENCE = 64  # tokens per training sequence and per perplexity window
CALIBRATION = 128  # sequences of train.txt that score the importance of heads and channels
MODEL = dict(
    hidden_size=128,
    intermediate_size=384,
    num_hidden_layers=4,
    num_attention_heads=8,
    num_key_value_heads=4,
    max_position_embeddings=128,
    tie_word_embeddings=False,
)


# -- the model ---------------------------------------------------------------------------------------------------------
def write_data(folder: Path, args: argparse.Namespace) -> Path:
    from tests.lm_data import write_text_folder

    return write_text_folder(folder, train=args.train_sentences, valid=args.valid_sentences, seed=0)


def train(data: Path, folder: Path, args: argparse.Namespace) -> tuple[float, float]:
    """Train the model on ``data/train.txt`` and save it as a model folder; returns (last training loss, seconds)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaConfig

    from tests.lm_data import make_model_dir, write_tokenizer

    write_tokenizer(folder)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    ids = torch.tensor(tokenizer((data / "train.txt").read_text(encoding="utf-8"))["input_ids"], dtype=torch.long)
    torch.manual_seed(args.train_seed)
    model = AutoModelForCausalLM.from_config(LlamaConfig(vocab_size=len(tokenizer), **MODEL))
    decay = [p for p in model.parameters() if p.dim() >= 2]
    rest = [p for p in model.parameters() if p.dim() < 2]
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": 0.01}, {"params": rest, "weight_decay": 0.0}], lr=args.lr, betas=(0.9, 0.95)
    )
    warmup = max(1, args.steps // 20)

    def lr_factor(step: int) -> float:  # linear warmup, cosine down to a tenth
        if step < warmup:
            return (step + 1) / warmup
        return 0.1 + 0.45 * (1 + math.cos(math.pi * (step - warmup) / max(1, args.steps - warmup)))

    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_factor)
    generator = torch.Generator().manual_seed(args.train_seed)
    model.train()
    start, losses = time.perf_counter(), []
    for step in range(args.steps):
        begin = torch.randint(0, len(ids) - SEQUENCE, (args.batch,), generator=generator)
        batch = torch.stack([ids[b : b + SEQUENCE] for b in begin.tolist()])
        loss = model(input_ids=batch, labels=batch).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(float(loss.detach()))
        if (step + 1) % max(1, args.steps // 5) == 0:
            print(f"  step {step + 1:>4}/{args.steps}: training loss {np.mean(losses[-20:]):.3f}", flush=True)
    seconds = time.perf_counter() - start
    make_model_dir(folder, model=model.eval())
    return float(np.mean(losses[-20:])), seconds


def references(data: Path, model_dir: Path) -> dict[str, float]:
    """Perplexities of ``valid.txt`` that frame the model's: uniform, unigram (add-one counts of ``train.txt``) and
    the grammar's own (each sentence's probability under the generator of ``tests/lm_data.py``)."""
    from transformers import AutoTokenizer

    from tests.lm_data import WORDS

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    train_ids = tokenizer((data / "train.txt").read_text(encoding="utf-8"))["input_ids"]
    valid_text = (data / "valid.txt").read_text(encoding="utf-8")
    valid_ids = tokenizer(valid_text)["input_ids"]
    counts = np.bincount(train_ids, minlength=len(tokenizer)) + 1.0
    unigram = math.exp(-np.log(counts[valid_ids[1:]] / counts.sum()).mean())
    subjects, verbs = WORDS["subject"], WORDS["verb"]
    nll = 0.0
    for line in valid_text.splitlines():
        s = next(i for i, p in enumerate(subjects) if line.startswith(p + " "))
        v = next(i for i, p in enumerate(verbs) if line[len(subjects[s]) + 1 :].startswith(p + " "))
        # 1/8 for the subject; the verb follows it half the time, else any of 8; a place or not, half each
        nll -= math.log(1 / len(subjects)) + math.log(0.5 * (v == s) + 0.5 / len(verbs)) + math.log(0.5)
    grammar = math.exp(nll / (len(valid_ids) - 1))  # the first token's share is not predicted
    return {"uniform": float(len(tokenizer)), "unigram": unigram, "grammar": grammar}


def prepared_model(workdir: Path, args: argparse.Namespace) -> tuple[Path, Path, dict]:
    """The data folder and trained model folder under ``workdir``, trained unless the same training is there."""
    recipe = {
        k: getattr(args, k) for k in ("steps", "batch", "lr", "train_seed", "train_sentences", "valid_sentences")
    } | {"model": MODEL, "sequence": SEQUENCE}
    data, model_dir, record = workdir / "text", workdir / "model", workdir / "model.json"
    if record.is_file() and (model_dir / "model.safetensors").is_file():
        saved = json.loads(record.read_text())
        if saved.get("recipe") == recipe:
            print(f"trained model reused from {model_dir} (trained in {saved['seconds']:.0f} s)")
            return data, model_dir, saved
    shutil.rmtree(model_dir, ignore_errors=True)
    write_data(data, args)
    print(f"training: {args.steps} steps of {args.batch} x {SEQUENCE} tokens, AdamW lr {args.lr}", flush=True)
    loss, seconds = train(data, model_dir, args)
    saved = {"recipe": recipe, "loss": loss, "seconds": seconds}
    record.write_text(json.dumps(saved, indent=1))
    return data, model_dir, saved


# -- measuring sub-networks directly -----------------------------------------------------------------------------------
def settings(model_dir: Path, data: Path, csv: Path) -> SimpleNamespace:
    return SimpleNamespace(
        supernet_ckpt_path=str(model_dir),
        dataset_path=str(data),
        calibration_size=CALIBRATION,
        sequence_length=SEQUENCE,
        results_csv_path=str(csv),
        eval_batch_size=64,
        batch_size=1,
        latency_warmup=0,
        latency_steps=1,
        test_fraction=1.0,
        pretrained=True,
    )


def measurer(conf: SimpleNamespace, importance: bool):
    """A fresh super-network (importance order or natural order) and its perplexity/params measurer."""
    from neural_nas.measurements.context import MeasureContext
    from neural_nas.supernets import create_supernet

    supernet = create_supernet(SUPERNET, conf)
    supernet.importance = importance
    supernet.load(pretrained=True, ckpt_path=conf.supernet_ckpt_path, device="cpu")
    return supernet, supernet.measurer(MeasureContext(METRICS, conf, "cpu", 0))


def compared_vectors(encoding, layers: int, random_subnets: int) -> list[np.ndarray]:
    """Gene vectors (choice indices: keep_layer, kv_heads, mlp_channels, one per layer each) of part 1."""
    full = [1] * layers
    vectors = []
    for width in (0, 1, 2):  # 1/4, 1/2, 3/4 of the key/value groups and of the MLP channels
        vectors.append(np.array(full + [width] * layers + [width] * layers))
    for kv, mlp in ((3, 0), (0, 3), (3, 1), (1, 3)):  # one of the two cut, the other (nearly) whole
        vectors.append(np.array(full + [kv] * layers + [mlp] * layers))
    for dropped in (1, layers - 1):
        for width in (1, 2):
            keep = [int(i != dropped) for i in range(layers)]
            vectors.append(np.array(keep + [width] * layers + [width] * layers))
    rng = np.random.default_rng(1234)
    cardinalities = encoding.cardinalities
    while len(vectors) < 11 + random_subnets:
        v = encoding.random_vectors(1, rng)[0]
        kept = v[:layers].astype(bool)
        widths_full = (v[layers:][np.tile(kept, 2)] == cardinalities[layers:][np.tile(kept, 2)] - 1).all()
        if kept.any() and not widths_full:
            vectors.append(v)
    return vectors


def describe(subnet: dict) -> str:
    keep = "".join(str(int(k)) for k in subnet["keep_layer"])
    kv = ",".join(str(v) if k else "-" for v, k in zip(subnet["kv_heads"], subnet["keep_layer"]))
    mlp = ",".join(str(v) if k else "-" for v, k in zip(subnet["mlp_channels"], subnet["keep_layer"]))
    return f"keep {keep} kv {kv:<7} mlp {mlp}"


def importance_vs_natural(conf: SimpleNamespace, random_subnets: int) -> dict:
    ordered_net, ordered = measurer(conf, importance=True)
    _, natural = measurer(conf, importance=False)
    vectors = compared_vectors(ordered_net.encoding, ordered_net.shape.layers, random_subnets)
    whole = ordered_net.encoding.vector_to_dict(ordered_net.encoding.cardinalities - 1)
    print(
        f"whole model, importance order {ordered(whole)['perplexity']:.6f}, natural order "
        f"{natural(whole)['perplexity']:.6f} (reordering alone changes no output)"
    )
    print("\nimportance order vs natural order: the same sub-networks (same params), perplexity on valid.txt")
    print(f"{'sub-network':<45} {'params':>8} {'ppl importance':>14} {'ppl natural':>11} {'ratio':>6}")
    rows = []
    for i, vector in enumerate(vectors):
        subnet = ordered_net.encoding.vector_to_dict(vector)
        a, b = ordered(subnet), natural(subnet)
        assert a["params"] == b["params"]
        ratio = a["perplexity"] / b["perplexity"]
        kind = "random" if i >= 11 else "uniform"
        rows.append(
            dict(subnet=describe(subnet), kind=kind, params=a["params"], imp=a["perplexity"], nat=b["perplexity"])
        )
        print(
            f"{describe(subnet):<45} {a['params']:>8,.0f} {a['perplexity']:>14.3f} {b['perplexity']:>11.3f} "
            f"{ratio:>6.3f}"
        )
    ratios = np.array([r["imp"] / r["nat"] for r in rows])
    wins = int((ratios < 1).sum())
    for kind in ("uniform", "random"):
        part = np.array([r["imp"] / r["nat"] for r in rows if r["kind"] == kind])
        if len(part):
            print(f"  {kind}: lower perplexity in {(part < 1).sum()}/{len(part)}, median ratio {np.median(part):.3f}")
    return {"rows": rows, "wins": wins, "n": len(rows), "median_ratio": float(np.median(ratios))}


# -- searches ----------------------------------------------------------------------------------------------------------
def search(
    seed: int, tactic: str, args: argparse.Namespace, model_dir: Path, data: Path, folder: Path, scores: Path
) -> tuple[Path, float]:
    """One search into its own CSV, with the importance scores of part 1 already cached beside it (same model, text
    and calibration: the library reads them instead of scoring again); returns (the CSV, wall seconds)."""
    from neural_nas import NAS, NASConfig

    config = NASConfig(approach="dynas")
    config.nas.search.seed = seed
    d = config.dynas
    d.supernet, d.metrics, d.population, d.num_evals = SUPERNET, list(METRICS), args.population, args.num_evals
    d.search_tactic, d.pretrained, d.device = tactic, True, "cpu"
    d.supernet_ckpt_path, d.dataset_path = str(model_dir), str(data)
    d.calibration_size, d.sequence_length, d.eval_batch_size = CALIBRATION, SEQUENCE, 64
    d.results_csv_path = str(folder / f"s{seed}_{tactic}.csv")
    if scores.is_file():
        shutil.copyfile(scores, f"{d.results_csv_path}.importance.safetensors")
    start = time.perf_counter()
    NAS(config).search()
    return Path(d.results_csv_path), time.perf_counter() - start


def measured(csv: Path) -> np.ndarray:
    from neural_nas.plotting import load_results

    results = load_results(csv, list(METRICS))
    return np.array([[p[m] for m in METRICS] for p in results.points])


def hypervolume(points: np.ndarray, ref: np.ndarray) -> float:
    from neural_nas.pareto import HypervolumeTracker

    tracker = HypervolumeTracker(HIGHER, ref_point=ref)
    for p in points:
        tracker.add(p)
    return tracker.hypervolume()


def best_under(points: np.ndarray, limits: list[float]) -> list[float]:
    """The lowest perplexity among rows with params at most each limit (nan: none that small)."""
    return [
        float(points[points[:, 1] <= limit, 0].min()) if (points[:, 1] <= limit).any() else math.nan for limit in limits
    ]


def front_vs_random(
    args: argparse.Namespace,
    model_dir: Path,
    data: Path,
    folder: Path,
    scores: Path,
    full_params: float,
    unigram: float,
) -> dict:
    """Part 2 (the module docstring). Two hypervolumes per run: with `default_ref_point` of both runs' points (set
    by their worst perplexity, which dropped early layers push into the hundreds), and with the fixed reference
    (unigram perplexity, the whole model's params): only sub-networks better than a unigram model and smaller than the
    whole model count there."""
    from neural_nas.pareto import default_ref_point, pareto_front

    shares = [float(s) for s in args.budgets.split(",")]
    limits = [s * full_params for s in shares]
    budget_names = "/".join(f"<={s:g}" for s in shares)
    useful_ref = np.array([unigram, full_params])
    print(
        f"\nfront vs random: {args.num_evals} measurements, population {args.population}, metrics {', '.join(METRICS)};"
        f" HV: reference point of both runs' points; HV useful: reference (unigram ppl {unigram:.2f}, "
        f"{full_params:,.0f} params); best perplexity under params budgets {budget_names} of the whole model"
    )
    print(
        f"{'seed':>4}  {'HV linas':>9}  {'HV random':>9}  {'ratio':>6}  {'useful l':>9}  {'useful r':>9}  "
        f"{'ratio':>6}  {'best ppl linas':>20}  {'best ppl random':>20}  front l/r  wall l/r (s)"
    )
    ratios, useful_ratios, best = [], [], {"linas": [], "random": []}
    runs = []
    for seed in range(args.seeds):
        points, walls = {}, {}
        for tactic in ("linas", "random"):
            csv, walls[tactic] = search(seed, tactic, args, model_dir, data, folder, scores)
            points[tactic] = measured(csv)
        ref = default_ref_point(np.concatenate(list(points.values())), HIGHER)
        hv = {t: hypervolume(p, ref) for t, p in points.items()}
        useful = {t: hypervolume(p, useful_ref) for t, p in points.items()}
        ratio, useful_ratio = hv["linas"] / hv["random"], useful["linas"] / useful["random"]
        ratios.append(ratio)
        useful_ratios.append(useful_ratio)
        bests = {t: best_under(p, limits) for t, p in points.items()}
        fronts = {t: len(pareto_front(p, HIGHER)) for t, p in points.items()}
        for t in best:
            best[t].append(bests[t])
        runs.append(
            dict(seed=seed, hv=hv, ratio=ratio, useful=useful, useful_ratio=useful_ratio, best=bests, fronts=fronts)
        )
        fmt = {t: "/".join(f"{b:.3f}" for b in bests[t]) for t in bests}
        print(
            f"{seed:>4}  {hv['linas']:>9.4g}  {hv['random']:>9.4g}  {ratio:>6.4f}  {useful['linas']:>9.4g}  "
            f"{useful['random']:>9.4g}  {useful_ratio:>6.4f}  {fmt['linas']:>20}  {fmt['random']:>20}  "
            f"{fronts['linas']:>5}/{fronts['random']:<3}  {walls['linas']:>5.1f}/{walls['random']:.1f}",
            flush=True,
        )
    medians = {t: np.nanmedian(np.array(b), axis=0) for t, b in best.items()}
    return {
        "runs": runs,
        "hv_ratio": float(np.median(ratios)),
        "useful_ratio": float(np.median(useful_ratios)),
        "best": medians,
        "budget_names": budget_names,
    }


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--num-evals", type=int, default=60)
    parser.add_argument("--population", type=int, default=10)
    parser.add_argument("--random-subnets", type=int, default=12, help="random sub-networks of part 1")
    parser.add_argument("--budgets", default="0.25,0.5,0.75", help="params budgets, shares of the whole model")
    parser.add_argument("--steps", type=int, default=300, help="training steps")
    parser.add_argument("--batch", type=int, default=16, help="training sequences per step")
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--train-seed", type=int, default=0)
    parser.add_argument("--train-sentences", type=int, default=20000)
    parser.add_argument("--valid-sentences", type=int, default=400)
    parser.add_argument("--workdir", default=None, help="keep the trained model here (reruns skip training)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(message)s")

    import torch
    from transformers.utils import logging as hf_logging

    torch.set_num_threads(2)
    hf_logging.disable_progress_bar()
    begin = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(args.workdir) if args.workdir else Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        data, model_dir, trained = prepared_model(workdir, args)
        refs = references(data, model_dir)
        direct = workdir / "direct"
        shutil.rmtree(direct, ignore_errors=True)
        direct.mkdir()
        conf = settings(model_dir, data, direct / "direct.csv")
        whole_net, whole = measurer(conf, importance=True)
        full = whole_net.encoding.cardinalities - 1  # the last choice of every gene: the whole model
        full_metrics = whole(whole_net.encoding.vector_to_dict(full))
        print(
            f"model: llama, hidden {MODEL['hidden_size']}, {MODEL['num_hidden_layers']} layers, "
            f"{MODEL['num_attention_heads']} query heads in {MODEL['num_key_value_heads']} key/value groups, "
            f"MLP {MODEL['intermediate_size']}, vocabulary {whole_net.shape.vocab}: "
            f"{full_metrics['params']:,.0f} params; "
            f"trained {trained['recipe']['steps']} steps in {trained['seconds']:.0f} s, final training loss "
            f"{trained['loss']:.3f}"
        )
        print(
            f"validation perplexity: model {full_metrics['perplexity']:.3f}, grammar {refs['grammar']:.3f}, "
            f"unigram {refs['unigram']:.3f}, uniform {refs['uniform']:.0f}"
        )
        part1 = importance_vs_natural(conf, args.random_subnets)
        part2 = None
        if args.seeds > 0:
            searches = workdir / "searches"
            shutil.rmtree(searches, ignore_errors=True)
            searches.mkdir()
            scores = Path(f"{conf.results_csv_path}.importance.safetensors")
            part2 = front_vs_random(args, model_dir, data, searches, scores, full_metrics["params"], refs["unigram"])
    print(
        f"\nimportance: lower perplexity in {part1['wins']}/{part1['n']} sub-networks, "
        f"median ratio importance/natural {part1['median_ratio']:.3f}"
    )
    if part2 is not None:
        print(
            f"linas vs random: HV ratio {part2['hv_ratio']:.4f}, useful-region HV ratio {part2['useful_ratio']:.4f} "
            f"(medians of {args.seeds} seeds)"
        )
        for tactic, values in part2["best"].items():
            best = "/".join(f"{v:.3f}" for v in values)
            print(f"best perplexity {tactic} at params {part2['budget_names']}: {best} (median of seeds)")
    print(f"total {time.perf_counter() - begin:.0f} s")
    return {"model": full_metrics, "references": refs, "importance": part1, "search": part2}


if __name__ == "__main__":
    main()
