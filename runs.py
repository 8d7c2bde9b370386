"""The bookkeeping around a training run: what a model depends on (its fingerprint), what train.py
checks before any work (preflight), and memory handed back between stages.

    plan = preflight(args)          # "train", "resume" or "reuse" for out_dir/base.pt, else a one-line error

A model is never replaced unless --overwrite asks for it: base.pt and every RUN.pt carry the
fingerprint of the settings and data they were made with, and a rerun with other settings is
refused with the settings that differ.
"""
import ctypes
import hashlib
import os

from data import DATA_DIR, read_jsonl, unwritable
from model import load_checkpoint
from sandbox import check_platform

PRETRAIN_KEYS = ("n_layer", "n_head", "n_embd", "block_size", "dropout", "batch_size", "max_steps", "lr",
                 "min_lr_ratio", "warmup_steps", "weight_decay", "grad_clip", "seed")


def fingerprint(args):
    """What a base model depends on: its settings and the bytes of its data and tokenizer."""
    h = hashlib.sha256()
    for name in ("pretrain.jsonl", "val.jsonl"):
        with open(os.path.join(args.data_dir, name), "rb") as f:
            h.update(f.read())
    with open(os.path.join(DATA_DIR, "tokenizer.bpe"), "rb") as f:
        h.update(f.read())
    extra = {"cpu_bf16": True} if getattr(args, "cpu_bf16", False) else {}   # only when on: fp32, the default, is named by no key
    return {**{k: getattr(args, k) for k in PRETRAIN_KEYS}, **extra, "data": h.hexdigest()[:16]}


SSD_KEYS = ("ssd_temperature", "ssd_top_k", "ssd_top_p", "ssd_min_p", "ssd_prompts", "ssd_epochs", "ssd_lr",
            "ssd_batch_size", "ssd_seed", "ssd_n", "ssd_from", "ssd_online")


def ssd_fingerprint(args):
    """What an SSD model depends on: its base, its recipe and the SSD prompts."""
    with open(os.path.join(args.data_dir, "ssd.jsonl"), "rb") as f:
        prompts = hashlib.sha256(f.read()).hexdigest()[:16]
    teacher = {}
    if args.ssd_from:   # a later round: the SSD model it starts from, by its contents
        teacher = {"teacher": load_checkpoint(os.path.join(args.out_dir, f"{args.ssd_from}.pt"))["checksum"][:16]}
    return {**fingerprint(args), **{k: getattr(args, k) for k in SSD_KEYS}, "ssd_data": prompts, **teacher}


STAGE_FILES = {"all": ("pretrain", "val", "ssd", "test"), "pretrain": ("pretrain", "val"),
               "ssd": ("val", "ssd", "test"), "eval": ("test",)}
FIELDS = {"pretrain": ("prompt", "solution"), "val": ("prompt", "solution", "canonical_solution"),
          "ssd": ("task_id", "prompt"), "test": ("task_id", "prompt", "test")}


def make_out_dir(args):
    """out_dir, made if missing and tried for writing: a read-only one must fail now, not after training."""
    try:
        os.makedirs(args.out_dir, exist_ok=True)
    except OSError as e:
        raise SystemExit(f"error: cannot make --out_dir={args.out_dir}: {e.strerror}")
    why = unwritable(os.path.join(args.out_dir, "base.pt" if args.stage == "pretrain" else f"{args.run}_report.md"))
    if why:
        raise SystemExit(f"error: --out_dir={args.out_dir}: {why}")


def preflight(args):
    """Everything that can be checked before minutes of work, each a one-line error: the data
    this stage reads, the output folder, the models it needs, and that no finished model would
    be replaced without --overwrite. Returns the plan for base.pt."""
    if args.stage != "pretrain":
        check_platform()                               # judging needs Linux: say so before training, not after
    for name in STAGE_FILES[args.stage]:
        path = os.path.join(args.data_dir, f"{name}.jsonl")
        if not os.path.isfile(path):
            raise SystemExit(f"error: --data_dir={args.data_dir} has no {name}.jsonl")
        if not read_jsonl(path, required=FIELDS[name]):
            raise SystemExit(f"error: {path} holds no problems")
    make_out_dir(args)
    base, run = os.path.join(args.out_dir, "base.pt"), os.path.join(args.out_dir, f"{args.run}.pt")
    plan = None
    if args.stage in ("all", "pretrain"):
        plan = base_plan(args)
    else:
        load_checkpoint(base)                          # the SSD stage and the report need an intact base
    if args.ssd_from and args.stage in ("all", "ssd"):
        if args.ssd_from == args.run:
            raise SystemExit(f"error: --ssd_from={args.ssd_from} is the run being made; name the new round "
                             "with another --run")
        load_checkpoint(os.path.join(args.out_dir, f"{args.ssd_from}.pt"))
    if args.stage == "eval":
        load_checkpoint(run)
    if args.stage in ("all", "ssd") and os.path.exists(run) and not args.overwrite:
        diff = differences(load_checkpoint(run).get("fingerprint"), ssd_fingerprint(args))
        if diff:
            raise SystemExit(f"error: {run} is an SSD model made with other settings: {', '.join(diff)}; keep it "
                             f"with another --run=NAME, or replace it with --overwrite")
    return plan


def differences(old, new):
    """'name=old (asked: new)' for every setting in which two fingerprints differ."""
    if not old:
        return ["no record of its settings"]
    names = {"data": "the data files or the tokenizer", "ssd_data": "the SSD prompts", "teacher": "the --ssd_from model"}
    return [names.get(k) or f"{k}={old.get(k)!r} (asked: {new[k]!r})" for k in new if old.get(k) != new[k]]


def base_plan(args):
    """What to do about out_dir/base.pt: "train", "resume" or "reuse"; else a one-line refusal.
    A model is never replaced unless --overwrite asks for it."""
    path = os.path.join(args.out_dir, "base.pt")
    if not os.path.exists(path) or args.overwrite:
        return "train"
    ckpt = load_checkpoint(path)
    diff = differences(ckpt.get("fingerprint"), fingerprint(args))
    finished = ckpt.get("step") == ckpt.get("args", {}).get("max_steps")
    if not diff and finished:
        return "reuse"
    if not diff and args.resume:
        return "resume"
    if not diff:
        raise SystemExit(f"error: {path} is an unfinished run with these settings (step {ckpt.get('step')}): "
                         "--resume continues it, --overwrite starts it over")
    what = "a finished base model" if finished else "an unfinished run"
    how = ("--resume continues a run only with the settings it was made with" if args.resume
           else "keep it and train another with --out_dir=OTHER, or replace it with --overwrite")
    raise SystemExit(f"error: {path} is {what} made with other settings: {', '.join(diff)}; {how}")


def release_memory():
    """Hand memory that freed tensors left behind back to the operating system, between stages.
    glibc's malloc keeps it: training allocates tensors of new sizes and the freed pieces pile up,
    which sampling would then add to (docs/gpu.md measures it). Nothing happens where the C library
    has no malloc_trim (macOS, Windows)."""
    try:
        ctypes.CDLL(None).malloc_trim(0)
    except (OSError, AttributeError, TypeError):
        pass
