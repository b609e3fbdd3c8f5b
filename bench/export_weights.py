"""Pick a stage's default weights among training runs by validation loss; write them and a card.

    python bench/export_weights.py --stage chord --run runs/chord-d128 --run runs/chord-d64 \
        [--sanity runs/sanity.json] [--context-use runs/context.json] [--hardware "..."]

Writes ``symbolic_v2m/weights/<stage>.safetensors`` (the best run's best epoch, stored in
float16: half the bytes in the repository, and the models load them back into float32) and
``symbolic_v2m/weights/<stage>.md``, the model card: data and split, size, steps, hardware, the
per-family train and valid loss of the chosen epoch, every candidate with its validation loss,
the command that reproduces the run, and the sample-sanity figures when given.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch
from safetensors import safe_open

from symbolic_v2m.model import load_model, save_model

HERE = Path(__file__).resolve().parents[1]
WEIGHTS = HERE / "symbolic_v2m" / "weights"
CHAINED = "; chained heads (a chord's root given its quality, its bass given both)"


def run_summary(run: Path) -> dict:
    """Config, per-epoch log, best epoch and process history of a run directory."""
    config = json.loads((run / "config.json").read_text())
    log = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    best = min(log, key=lambda e: e["valid"]["loss"])
    with safe_open(str(run / "best.safetensors"), framework="pt") as fh:
        extra = json.loads(fh.metadata()["extra"])
    sessions = []
    if (run / "sessions.jsonl").is_file():
        sessions = [json.loads(x) for x in (run / "sessions.jsonl").read_text().splitlines()]
    return {
        "run": run,
        "config": config,
        "log": log,
        "best": best,
        "extra": extra,
        "sessions": sessions,
    }


def _frame(config: dict) -> tuple[bool, bool]:
    """(key_relative, rotary) of a run; runs from before the fields existed had neither."""
    m = config["model"]
    return m.get("key_relative", False), m.get("rotary", False)


def _schedule(config: dict) -> tuple[int, list[tuple[int, float]]]:
    """(epochs of the first schedule, [(epochs added, restart peak), ...]) of a run that may
    have been carried on with ``train --resume RUN --extend N`` (``config["restarts"]``)."""
    per_epoch = config["steps_per_epoch"]
    restarts = [(int(step), float(peak)) for step, peak in config.get("restarts", [])]
    if not restarts:
        return config["epochs"], []
    bounds = [step // per_epoch for step, _ in restarts] + [config["epochs"]]
    added = [b - a for a, b in zip(bounds, bounds[1:], strict=False)]
    return bounds[0], [(n, peak) for n, (_, peak) in zip(added, restarts, strict=True)]


def restart_words(config: dict) -> str:
    """The warm restarts of an extended run, as a sentence ("" for none)."""
    first, extensions = _schedule(config)
    if not extensions:
        return ""
    per_epoch, step = config["steps_per_epoch"], first * config["steps_per_epoch"]
    parts = []
    for epochs, peak in extensions:
        parts.append(
            f"at step {step:,} a warm restart to {peak:g} x the peak ({config['warmup_steps']} "
            f"warm-up steps from the floor) and cosine decay over {epochs} more epochs"
        )
        step += epochs * per_epoch
    return "Carried on (`train --resume RUN --extend N`): " + "; ".join(parts) + "."


def finetune_command(config: dict, out: str) -> str:
    """The command of a fine-tune (``train --init-from``) into run ``out``: the network is the
    start file's."""
    return (
        f"symbolic-v2m train --stage {config['stage']} --data data/pop909 --out {out} "
        f"--init-from symbolic_v2m/weights/{config['stage']}.safetensors "
        f"--dropout {config['model']['dropout']} --seq-len {config['seq_len']} "
        f"--batch-size {config['batch_size']} --epochs {config['epochs']} "
        f"--steps-per-epoch {config['steps_per_epoch']} --lr {config['lr']} "
        f"--warmup {config['warmup_steps']} --seed {config['seed']}"
    )


def command(config: dict) -> str:
    m = config["model"]
    key_relative, rotary = _frame(config)
    first, extensions = _schedule(config)
    extend = "".join(
        f"\nsymbolic-v2m train --resume RUN --extend {epochs} --restart-peak {peak:g}"
        for epochs, peak in extensions
    )
    return (
        f"symbolic-v2m train --stage {config['stage']} --data data/pop909 --out RUN "
        f"--d-model {m['d_model']} --layers {m['n_layers']} --heads {m['n_heads']} "
        f"--ff {m['d_ff']} --dropout {m['dropout']} --seq-len {config['seq_len']} "
        f"--batch-size {config['batch_size']} --epochs {first} "
        f"--steps-per-epoch {config['steps_per_epoch']} --lr {config['lr']} "
        f"--warmup {config['warmup_steps']} --seed {config['seed']} "
        f"--pitch {'key-relative' if key_relative else 'absolute'} "
        f"--{'' if rotary else 'no-'}rotary" + extend
    )


def history_lines(sessions: list[dict], tokens_per_step: int) -> list[str]:
    """The processes a run was trained in (a run may span sessions and machines)."""
    if not sessions:
        return []
    lines = [
        "",
        "Processes of this run (`RUN/sessions.jsonl`; a start without a stop was killed and "
        "resumed from its last checkpoint):",
        "",
        "| # | started (UTC) | from step | to step | device, threads | host |",
        "|---|---|---|---|---|---|",
    ]
    import datetime

    starts = [x for x in sessions if x["event"] == "start"]
    for i, start in enumerate(starts):
        later = [x for x in sessions if x["time"] > start["time"]]
        stop = next((x for x in later if x["event"] == "stop"), None)
        following = next((x for x in later if x["event"] == "start"), None)
        end = (
            stop["step"]
            if stop and (not following or stop["time"] < following["time"])
            else (f"killed (resumed at {following['step']})" if following else "killed")
        )
        when = datetime.datetime.fromtimestamp(start["time"], datetime.UTC)
        lines.append(
            f"| {i + 1} | {when:%Y-%m-%d %H:%M} | {start['step']} | {end} | "
            f"{start['device']}, {start['threads']} | {start['host']} |"
        )
    return lines


def card(
    stage: str,
    chosen: dict,
    candidates: list[dict],
    params: int,
    hardware: str,
    sanity: dict | None,
    size_bytes: int,
    context_use: list[str] | None = None,
    note: str | None = None,
    base: dict | None = None,
) -> str:
    """The model card. ``base`` is the run a fine-tune (``chosen``, trained with
    ``--init-from``) started from: the card tells both, the base run first."""
    tuned = chosen if base is not None else None
    if tuned is not None:
        chosen = base
    c = chosen["config"]
    best = chosen["best"]
    tokens_per_step = c["batch_size"] * c["seq_len"]
    key_relative, rotary = _frame(c)
    trained_steps = chosen["log"][-1]["step"]
    if key_relative:
        representation = (
            "Every token is seen in its own key's frame (`symbolic_v2m/model/key_frame.py`): "
            "pitches, chord roots and basses moved so that the key's tonic is C (-5..6 "
            "semitones), the key family keeping only the mode; no random transposition."
        )
    else:
        lo, hi = c["transpose"] or (-5, 6)
        representation = (
            f"Absolute pitch; each window transposed by a random interval in {lo}..{hi} semitones."
        )
    lines = [
        f"# Model card: {stage} stage",
        "",
        f"Default weights of the {stage} stage: `{stage}.safetensors` ({size_bytes / 1e6:.1f} MB, "
        "float16; loaded as float32).",
        "",
        "## Data",
        "POP909 (Wang et al., ISMIR 2020, MIT), prepared by `symbolic-v2m dataset prepare` with "
        "the split in `datasets/pop909/split.json`: 775 train songs, 45 valid, 49 test after "
        "the 40 off-grid songs are excluded (`datasets/pop909/README.md`). Training windows "
        f"are random {c['seq_len']}-token crops starting on a bar line. {representation}",
        "",
        "## Model",
        f"CP Transformer (`symbolic_v2m/model/transformer.py`): d_model {c['model']['d_model']}, "
        f"{c['model']['n_layers']} layers, {c['model']['n_heads']} heads, feed-forward "
        f"{c['model']['d_ff']}, dropout {c['model']['dropout']}, context {c['seq_len']} tokens, "
        f"{'rotary positions of the token index and ' if rotary else ''}the sinusoidal tick "
        f"encoding{CHAINED if tuned else ''}; **{params:,} parameters**.",
        "",
        "## Training",
        f"AdamW (lr {c['lr']}, weight decay {c['weight_decay']}, betas 0.9/0.95), "
        f"{c['warmup_steps']} warm-up steps then cosine decay to {c['min_lr_ratio']} x, gradient "
        f"clipping {c['grad_clip']}, batch {c['batch_size']} x {c['seq_len']} tokens, "
        f"a schedule of {c['epochs']} epochs of {c['steps_per_epoch']} steps, trained to step "
        f"{trained_steps} ({trained_steps * tokens_per_step:,} training tokens), seed "
        f"{c['seed']}. Chosen epoch: {best['epoch']} (step {best['step']}, "
        f"{best['step'] * tokens_per_step:,} tokens), the lowest validation loss of the run.",
        *([restart_words(c)] if restart_words(c) else []),
        f"Hardware: {hardware}.",
        *([note] if note else []),
        *history_lines(chosen["sessions"], tokens_per_step),
    ]
    reproduce = [
        command(c),
        "symbolic-v2m train --resume RUN     # after any stop, as often as needed",
        "python bench/export_weights.py --stage " + stage + " --run RUN",
    ]
    shipped = best
    if tuned is not None:
        t, shipped = tuned["config"], tuned["best"]
        per_step = t["batch_size"] * t["seq_len"]
        lines += [
            "",
            f"**Fine-tuned with chained heads** (`train --init-from`, run `{tuned['run']}`): "
            f"from the weights above, exported in float16, the {stage} stage's heads made "
            "chained (`ModelConfig.chained`: a chord's root predicted from its quality, its bass "
            "from both; the new tables start at zero, so the model starts out as it was) and "
            f"every parameter trained on: AdamW (lr {t['lr']}, the new tables "
            f"{t.get('new_lr_scale', 10.0):g} x that), {t['warmup_steps']} warm-up steps then "
            f"cosine decay to {t['min_lr_ratio']} x, batch {t['batch_size']} x {t['seq_len']} "
            f"tokens, {t['epochs']} epochs of {t['steps_per_epoch']} steps "
            f"({t['epochs'] * t['steps_per_epoch'] * per_step:,} tokens), seed {t['seed']}. "
            f"Chosen epoch: {shipped['epoch']} (step {shipped['step']}), the lowest validation "
            "loss of the fine-tune.",
            *history_lines(tuned["sessions"], per_step),
        ]
        reproduce += [
            finetune_command(t, "RUN2"),
            "python bench/export_weights.py --stage " + stage + " --run RUN2 --base-run RUN",
        ]
    lines += [
        "",
        "Reproduce (after `symbolic-v2m dataset prepare --pop909 PATH --out data/pop909`):",
        "",
        "```sh",
        *reproduce,
        "```",
        "",
        "## Losses of the chosen epoch (cross-entropy, nats; accuracy of the arg-max)",
        "",
    ]
    if tuned is None:
        lines += ["| family | train loss | valid loss | valid accuracy |", "|---|---|---|---|"]
    else:
        lines += [
            "| family | train loss | valid loss | valid accuracy | valid loss before the "
            "fine-tune |",
            "|---|---|---|---|---|",
        ]
    for family, v in shipped["valid"]["families"].items():
        t = shipped["train"]["families"].get(family, {"loss": float("nan")})
        row = f"| {family} | {t['loss']:.3f} | {v['loss']:.3f} | {v['accuracy']:.3f} |"
        if tuned is not None:
            row += f" {best['valid']['families'][family]['loss']:.3f} |"
        lines.append(row)
    mean = f"| **mean** | {shipped['train']['loss']:.3f} | {shipped['valid']['loss']:.3f} | |"
    lines.append(mean + (f" {best['valid']['loss']:.3f} |" if tuned is not None else ""))
    lines += [
        "",
        "Train loss is the running mean over the epoch's batches (with dropout); valid loss is "
        "over every window of the valid split.",
        "",
        "## Candidates (chosen by validation loss, not by size)",
        "",
        "| run | d_model | layers | peak lr | parameters | training tokens | "
        "best valid loss (epoch) |",
        "|---|---|---|---|---|---|---|",
    ]
    for cand in candidates:
        cc = cand["config"]
        model = load_model(cand["run"] / "best.safetensors", "cpu")
        lines.append(
            f"| {cand['run']} | {cc['model']['d_model']} | {cc['model']['n_layers']} | "
            f"{cc['lr']:g} | {model.n_parameters():,} | "
            f"{cc['epochs'] * cc['steps_per_epoch'] * cc['batch_size'] * cc['seq_len']:,} | "
            f"{cand['best']['valid']['loss']:.3f} ({cand['best']['epoch']}) |"
        )
    main = "root" if stage == "chord" else "pitch"
    lines += [
        "",
        "Loss per epoch of the chosen run (mean over families, and the main family):",
        "",
        f"| epoch | step | train | valid | valid {main} | valid {main} accuracy |",
        "|---|---|---|---|---|---|",
    ]
    epochs = [("", e) for e in chosen["log"]]
    if tuned is not None:  # the fine-tune's epochs, numbered on from the base's chosen step
        epochs += [("fine-tune ", {**e, "step": best["step"] + e["step"]}) for e in tuned["log"]]
    for label, e in epochs:
        f = e["valid"]["families"][main]
        lines.append(
            f"| {label}{e['epoch']} | {e['step']} | {e['train']['loss']:.3f} | "
            f"{e['valid']['loss']:.3f} | {f['loss']:.3f} | {f['accuracy']:.3f} |"
        )
    if context_use:
        lines += [
            "",
            "## What the model takes from its context",
            "",
            "Validation loss with each kind of context replaced by an unrelated one "
            "(`python bench/context_use.py`; chord / melody context from another song at the "
            "same tick, in this song's key; pitch history: each note's input pitch drawn from "
            "one of the 16 notes before it). A model that uses a context loses when it is "
            "shuffled.",
            "",
            f"| condition | {main} loss | change | mean loss | change |",
            "|---|---|---|---|---|",
            *context_use,
        ]
    if sanity:
        lines += ["", "## Sample sanity", "", sanity["description"], "", *sanity["table"]]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stage", required=True, choices=["chord", "melody", "accompaniment"])
    parser.add_argument("--run", type=Path, action="append", required=True)
    parser.add_argument("--sanity", type=Path)
    parser.add_argument(
        "--context-use", type=Path, help="JSON written by bench/context_use.py --json"
    )
    parser.add_argument(
        "--hardware",
        default="the project's dev VM, 2 x86_64 CPU cores, "
        "no GPU (training shared the cores with a second run)",
    )
    parser.add_argument("--note", help="a sentence for the Training section (what else happened)")
    parser.add_argument(
        "--base-run", type=Path, help="the run a fine-tune (--init-from) started from"
    )
    args = parser.parse_args()
    candidates = [run_summary(r) for r in args.run]
    base = run_summary(args.base_run) if args.base_run else None
    listed = ([base] if base else []) + candidates
    chosen = min(candidates, key=lambda c: c["best"]["valid"]["loss"])
    model = load_model(chosen["run"] / "best.safetensors", "cpu")
    half = model.half()
    out = WEIGHTS / f"{args.stage}.safetensors"
    save_model(half, out, extra={k: chosen["extra"][k] for k in ("epoch", "step")})
    reloaded = load_model(out, "cpu")
    assert all(p.dtype == torch.float32 for p in reloaded.parameters())
    sanity = json.loads(args.sanity.read_text()) if args.sanity else None
    context_rows = None
    if args.context_use:
        from context_use import table  # bench/ is the script's own folder

        from symbolic_v2m.music import Role

        results = json.loads(args.context_use.read_text())[args.stage]
        context_rows = table(Role(args.stage), results, with_stage=False)
    text = card(
        args.stage,
        chosen,
        listed,
        model.n_parameters(),
        args.hardware,
        sanity,
        out.stat().st_size,
        context_rows,
        args.note,
        base,
    )
    (WEIGHTS / f"{args.stage}.md").write_text(text)
    print(
        f"{args.stage}: chose {chosen['run']} (valid {chosen['best']['valid']['loss']:.3f}) "
        f"-> {out} ({out.stat().st_size / 1e6:.1f} MB)"
    )


if __name__ == "__main__":
    main()
