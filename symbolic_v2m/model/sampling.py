"""Constrained, batched, incremental generation from a :class:`CPTransformer`.

A stage asks for a piece of known shape (the timeline's bars) and gives what it knows:

- :class:`Constraints`: the bars' meters (always), and optionally per-bar ``density`` and
  per-tick ``strength`` controls (forced), fully given bars (``forced_events``: e.g. the chord
  progression the user typed), additive ``pitch_bias`` per tick (scale lock, chord tones, pitch
  range; ``-inf`` masks), and any extra :data:`LogitHook`.
- :class:`SamplingConfig`: temperature and top-p, per family.

The sampler keeps a small state per candidate (bar, position, notes left in the simu-note) and
masks what would break the structure: bar count, positions that go backwards or leave the bar,
a density that cannot be reached, more or fewer notes than the simu-note's strength, a pitch
repeated within one simu-note. Because
density and strength decide how many onsets and notes follow, forcing them makes the output
meet the controls exactly, not just tend toward them.

Step: hidden state -> type (masked, sampled) -> the type's families (masked / forced, sampled)
-> the token's tick -> its context families from :class:`~symbolic_v2m.music.tokens.StageContext`
-> fed back through the KV cache.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor

from symbolic_v2m.model.transformer import CPTransformer, KVCache
from symbolic_v2m.music.score import Role, TimeSignature
from symbolic_v2m.music.tokens import TOKEN_DTYPE, StageContext, TokenSequence
from symbolic_v2m.music.vocab import MAX_STRENGTH, StageSpec

#: When the cache reaches the model's context, drop this many of its oldest positions.
WINDOW_SLACK = 128
#: Extra notes a simu-note of strength MAX_STRENGTH may take (strength is clamped there).
_MAX_EXTRA_NOTES = 4


@dataclass
class RowState:
    """Where one candidate is in the piece."""

    bar: int = -1
    bar_start: int = 0
    bar_length: int = 0
    onsets_in_bar: int = 0
    density: int | None = None
    last_position: int = -1
    tick: int = 0
    strength: int = 0
    notes_in_simu: int = 0
    #: pitch indices already in the current simu-note: a pitch sounds once per onset
    pitches_in_simu: set[int] = field(default_factory=set)
    last_type: str = ""
    done: bool = False
    forced_in_bar: list[dict] = field(default_factory=list)
    #: the families of the token being sampled, as values, filled in as each is chosen (in the
    #: order of ``generate``: quality before root before bass), so that a :data:`LogitHook` can
    #: make one family depend on an earlier one: a chord's root on its quality, say
    token: dict[str, object] = field(default_factory=dict)


#: ``hook(family, states, logits) -> logits``: a caller's own mask or bias, applied after the
#: built-in ones. ``logits`` is (B, V) for the family's vocabulary (index 0 = "not used").
LogitHook = Callable[[str, Sequence[RowState], Tensor], Tensor]


@dataclass(frozen=True, eq=False)
class Constraints:
    """What the generated part must respect (see the module doc)."""

    meters: tuple[TimeSignature, ...]
    density: np.ndarray | None = None  # (n_bars,) density per bar, -1 = free
    strength: np.ndarray | None = None  # (length_ticks,) strength at an onset tick, -1 = free
    pitch_bias: np.ndarray | None = None  # (length_ticks, 128) additive logit bias
    onsets: np.ndarray | None = None  # (length_ticks,) bool: ticks that must carry an onset
    forced_events: dict[int, list[dict[str, object]]] = field(default_factory=dict)
    hooks: tuple[LogitHook, ...] = ()


#: Per-family settings chosen on POP909's validation split under real songs' controls
#: (bench/RESULTS.md, "sampling chosen on the validation split"): pitch, duration and strength
#: drawn from the model's whole distribution (a 0.95 nucleus cut away rare but real choices:
#: too few pitch classes, too thin a texture), positions a little cooler (steadier grooves).
DEFAULT_TEMPERATURE = {"position": 0.7}
DEFAULT_TOP_P = {"pitch": 1.0, "duration": 1.0, "strength": 1.0}


@dataclass(frozen=True)
class SamplingConfig:
    """Per-family temperature and nucleus (top-p) sampling; families not named use
    ``default_temperature`` / ``default_top_p`` (pass ``temperature={}`` to set every family's
    temperature with ``default_temperature``, e.g. 0 for greedy decoding)."""

    temperature: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_TEMPERATURE))
    top_p: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_TOP_P))
    default_temperature: float = 1.0
    default_top_p: float = 0.95

    def for_family(self, name: str) -> tuple[float, float]:
        return (
            self.temperature.get(name, self.default_temperature),
            self.top_p.get(name, self.default_top_p),
        )


def _sample(logits: Tensor, temperature: float, top_p: float, gen: torch.Generator) -> Tensor:
    """(B, V) logits -> (B,) indices, nucleus sampling; temperature 0 = greedy."""
    if temperature <= 0:
        return logits.argmax(-1)
    probs = torch.softmax(logits.float() / temperature, dim=-1)
    if top_p < 1.0:
        sorted_p, order = probs.sort(dim=-1, descending=True)
        keep = sorted_p.cumsum(-1) - sorted_p < top_p
        keep[:, 0] = True
        sorted_p = sorted_p * keep
        probs = torch.zeros_like(probs).scatter(-1, order, sorted_p)
    return torch.multinomial(probs, 1, generator=gen).squeeze(-1)


class Sampler:
    """Applies the structure rules and the constraints for one stage; see the module doc."""

    def __init__(self, spec: StageSpec, context: StageContext, constraints: Constraints) -> None:
        self.spec = spec
        self.context = context
        self.c = constraints
        self.n_bars = len(constraints.meters)
        self.chord_stage = spec.role is Role.CHORD
        self.onset_type = "chord" if self.chord_stage else "pos"
        self.types = spec.family("type")
        if "pitch" in spec.column:
            assert spec.family("pitch").values == tuple(range(128))

    # -- state -------------------------------------------------------------------------------

    def advance(self, state: RowState, row: np.ndarray) -> None:
        """Update ``state`` with an emitted token (F,) and set its tick."""
        col = self.spec.column
        fam = self.spec.family
        kind = self.types.value(int(row[0]))
        state.last_type = kind
        if kind == "bos":
            state.tick = 0
        elif kind == "bar":
            state.bar += 1
            state.bar_start = int(self.context.bar_starts[state.bar])
            state.bar_length = int(self.context.bar_starts[state.bar + 1]) - state.bar_start
            state.onsets_in_bar = 0
            state.density = fam("density").value(int(row[col["density"]]))
            state.last_position = -1
            state.tick = state.bar_start
            state.forced_in_bar = list(self.c.forced_events.get(state.bar, []))
        elif kind in ("pos", "chord"):
            position = fam("position").value(int(row[col["position"]]))
            state.onsets_in_bar += 1
            state.last_position = position
            state.tick = state.bar_start + position
            if state.forced_in_bar:
                state.forced_in_bar.pop(0)
            if kind == "pos":
                state.strength = fam("strength").value(int(row[col["strength"]]))
                state.notes_in_simu = 0
                state.pitches_in_simu = set()
        elif kind == "note":
            state.notes_in_simu += 1
            state.pitches_in_simu.add(int(row[col["pitch"]]))
        elif kind == "eos":
            state.done = True
            state.tick = self.context.length

    # -- masks -------------------------------------------------------------------------------

    def allowed_types(self, state: RowState) -> list[str]:
        """Token types that may come next without breaking the structure."""
        if state.done:
            return ["eos"]
        if state.last_type == "":
            return ["bos"]
        if state.last_type == "bos":
            return ["bar"]
        if state.last_type == "pos" or (
            state.last_type == "note" and state.notes_in_simu < state.strength
        ):
            return ["note"]
        allowed = []
        if (
            state.last_type == "note"
            and state.strength >= MAX_STRENGTH
            and state.notes_in_simu < MAX_STRENGTH + _MAX_EXTRA_NOTES
        ):
            allowed.append("note")
        if state.density is not None and state.onsets_in_bar < state.density:
            return [*allowed, self.onset_type]
        allowed.append("bar" if state.bar + 1 < self.n_bars else "eos")
        return allowed

    def _forced_value(self, state: RowState, family: str) -> object | None:
        """The value a constraint imposes on ``family`` for the next token, if any."""
        if state.forced_in_bar and family in state.forced_in_bar[0]:
            return state.forced_in_bar[0][family]
        if family == "density":
            bar = state.bar + 1
            if bar in self.c.forced_events:
                return len(self.c.forced_events[bar])
            if (
                self.c.density is not None
                and bar < len(self.c.density)
                and self.c.density[bar] >= 0
            ):
                return int(self.c.density[bar])
        return None

    def mask(
        self, family: str, states: Sequence[RowState], logits: Tensor, next_types: list[str]
    ) -> Tensor:
        """Mask (B, V) logits of ``family`` for the next tokens (of types ``next_types``)."""
        fam = self.spec.family(family)
        logits = logits.clone()
        logits[:, 0] = -torch.inf  # index 0 = "not used": never sampled for a used family
        for b, (state, kind) in enumerate(zip(states, next_types, strict=True)):
            if kind not in self.spec.type_families or family not in self.spec.type_families[kind]:
                continue
            forced = self._forced_value(state, family)
            if forced is not None:
                keep = fam.index(forced)
                row = torch.full_like(logits[b], -torch.inf)
                row[keep] = 0.0
                logits[b] = row
                continue
            if family == "density":
                bar = state.bar + 1
                length = int(self.context.bar_starts[bar + 1] - self.context.bar_starts[bar])
                required = 0
                if self.c.onsets is not None:
                    a, z = int(self.context.bar_starts[bar]), int(self.context.bar_starts[bar + 1])
                    required = int(self.c.onsets[a:z].sum())
                bad = [fam.index(d) for d in fam.values if d > length or d < required]
                logits[b, bad] = -torch.inf
                if self.chord_stage and bar == 0:
                    logits[b, fam.index(0)] = -torch.inf  # the piece opens on a chord
            elif family == "pitch" and state.pitches_in_simu:
                # two notes of one pitch on one tick are one note in MIDI: the simu-note would
                # fall short of its strength once written (and the DAW would show a stray note)
                used = list(state.pitches_in_simu)
                if torch.isfinite(logits[b]).sum() > len(used):
                    logits[b, used] = -torch.inf
            elif family == "position":
                remaining = (state.density or 0) - state.onsets_in_bar
                low = state.last_position + 1
                high = state.bar_length - remaining  # leave room for the onsets still owed
                if self.chord_stage and state.bar == 0 and state.onsets_in_bar == 0:
                    high = 0  # the first chord starts the piece
                ahead = self.required_ahead(state)
                if ahead:
                    # never skip a required onset; spend a free onset only if enough are left
                    high = min(high, ahead[0])
                    if remaining <= len(ahead):
                        low = high = ahead[0]
                bad = [fam.index(p) for p in fam.values if not low <= p <= high]
                logits[b, bad] = -torch.inf
        return logits

    def required_ahead(self, state: RowState) -> list[int]:
        """Positions in the current bar after the last onset that must carry an onset."""
        if self.c.onsets is None:
            return []
        start = state.bar_start + state.last_position + 1
        end = state.bar_start + state.bar_length
        return [int(t) - state.bar_start for t in np.flatnonzero(self.c.onsets[start:end]) + start]

    def key_of_next(
        self, states: Sequence[RowState], new: np.ndarray, kinds: list[str]
    ) -> np.ndarray:
        """(B,) key family index at the tick of each next token: a note sounds at its
        simu-note's tick, a chord at its bar's start plus the position just sampled."""
        ticks = np.zeros(len(states), dtype=np.int64)
        positions = self.spec.family("position")
        for b, (state, kind) in enumerate(zip(states, kinds, strict=True)):
            if kind == "chord":
                position = positions.value(int(new[b, self.spec.column["position"]])) or 0
                ticks[b] = state.bar_start + position
            else:
                ticks[b] = state.tick
        return self.context.by_tick["key"][np.clip(ticks, 0, self.context.length)]

    def pitch_bias(self, states: Sequence[RowState], logits: Tensor) -> Tensor:
        """Add the caller's per-tick pitch bias (B, 128 + 1 with index 0) to pitch logits."""
        if self.c.pitch_bias is None:
            return logits
        ticks = [min(s.tick, len(self.c.pitch_bias) - 1) for s in states]
        bias = torch.as_tensor(self.c.pitch_bias[ticks], dtype=logits.dtype, device=logits.device)
        # pitch values are MIDI 0..127 at indices 1..128 (vocab.py), so the bias lines up
        logits = logits.clone()
        logits[:, 1:129] = logits[:, 1:129] + bias
        return logits


@torch.inference_mode()
def generate(
    model: CPTransformer,
    context: StageContext,
    constraints: Constraints,
    sampling: SamplingConfig = SamplingConfig(),
    n: int = 1,
    prompt: np.ndarray | None = None,
    seed: int = 0,
    use_cache: bool = True,
    max_tokens: int | None = None,
    on_bar: Callable[[int], None] | None = None,
    prompt_bar: int = 0,
) -> list[TokenSequence]:
    """Write ``n`` candidates of one stage's part in one batch.

    ``prompt`` (T, F) are tokens already decided (regeneration keeps the music before a span
    this way; default: just ``bos``). ``use_cache=False`` recomputes the whole sequence at each
    step (the way CMT generates; kept for the speed benchmark). ``on_bar(bars)`` is told how
    many bars every candidate has finished (the prompt's bars included): once after the prompt,
    then once each time that number grows, so at most once a bar. ``prompt_bar`` > 0 says the
    prompt was cut at that bar's line (it starts with the bar's token, the bars before are left
    out): the model sees only the last ``max_context`` tokens anyway, so a prompt that holds at
    least that many writes exactly what the whole one would, and a long piece written in
    segments does not replay the whole piece before each.
    """
    model.eval()
    spec = model.spec
    device = next(model.parameters()).device
    sampler = Sampler(spec, context, constraints)
    col = spec.column
    width = len(spec.families)
    gen = torch.Generator(device="cpu").manual_seed(seed)
    window = model.config.max_context
    if max_tokens is None:  # a bound no valid piece reaches: every tick an onset, every note
        bar_ticks = np.diff(context.bar_starts)
        max_tokens = int(8 + np.sum(2 + bar_ticks * (2 + MAX_STRENGTH + _MAX_EXTRA_NOTES)))

    if prompt is None or len(prompt) == 0:
        prompt = np.zeros((1, width), dtype=TOKEN_DTYPE)
        prompt[0, 0] = spec.type_index("bos")
    # every candidate starts from the same prompt: replay it once (it holds the whole piece
    # before a regenerated span or a segment) and give each candidate its own copy
    state = RowState(bar=prompt_bar - 1)
    if prompt_bar and spec.family("type").value(int(prompt[0, 0])) != "bar":
        raise ValueError("a prompt cut at a bar line must start with that bar's token")
    prompt_ticks = np.zeros(len(prompt), dtype=np.int64)
    for i, row in enumerate(prompt):
        sampler.advance(state, row)
        prompt_ticks[i] = state.tick
    states = [copy.deepcopy(state) for _ in range(n)]
    prompt = prompt.copy()
    context.fill(spec, prompt, prompt_ticks)
    tokens = [np.repeat(prompt[None], n, axis=0)]  # list of (B, t, F)
    ticks = [np.repeat(prompt_ticks[None], n, axis=0)]

    cache = KVCache(len(model.blocks)) if use_cache else None
    feed_tokens = torch.as_tensor(tokens[0][:, -window:], device=device).long()
    feed_ticks = torch.as_tensor(ticks[0][:, -window:], device=device)
    steps = 0
    bars_reported = _bars_finished(states, sampler.n_bars)
    if on_bar is not None:
        on_bar(bars_reported)
    while not all(s.done for s in states) and steps < max_tokens:
        steps += 1
        for state in states:
            state.token = {}
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
            h = model.hidden(feed_tokens, feed_ticks, cache=cache)[:, -1].float()  # (B, D)
        # 1) the type
        type_logits = model.type_logits(h).float()
        allowed = [sampler.allowed_types(s) for s in states]
        mask = torch.full_like(type_logits, -torch.inf)
        for b, kinds in enumerate(allowed):
            mask[b, [spec.type_index(k) for k in kinds]] = 0.0
        type_logits = type_logits + mask
        for hook in constraints.hooks:
            type_logits = hook("type", states, type_logits)
        temperature, top_p = sampling.for_family("type")
        next_type = _sample(type_logits, temperature, top_p, gen)
        kinds = [sampler.types.value(int(t)) for t in next_type]
        # 2) the families of that type
        needed = {f for k in set(kinds) for f in spec.type_families.get(k, ())}
        # a chained family is predicted once the families it is given are chosen (below)
        unchained = {f for f in needed if not model.chained(f)}
        family_logits = model.family_logits(h, next_type.to(device), unchained) if unchained else {}
        new = np.zeros((n, width), dtype=TOKEN_DTYPE)
        new[:, 0] = next_type.cpu().numpy()
        # quality before root and bass: a no-chord ("N") has neither
        order = [
            f
            for f in (
                "density",
                "position",
                "strength",
                "quality",
                "root",
                "bass",
                "pitch",
                "duration",
                "velocity",
            )
            if f in needed
        ]
        for family in order:
            users = [k in spec.type_families and family in spec.type_families[k] for k in kinds]
            if not any(users):
                continue
            moves = spec.family(family).transposes is not None
            if moves or model.chained(family):
                keys = sampler.key_of_next(states, new, kinds)
            if model.chained(family):
                chosen = new.copy()
                chosen[:, col["key"]] = keys
                chosen_t = torch.as_tensor(chosen, device=device).long()
                family_logits[family] = model.family_logits(
                    h, next_type.to(device), {family}, chosen=chosen_t
                )[family]
            logits = family_logits[family].float()
            if moves:
                logits = model.absolute_logits(family, logits, torch.as_tensor(keys))
            logits = sampler.mask(family, states, logits, kinds)
            if family == "strength" and constraints.strength is not None:
                logits = _force_strength(sampler, states, new, logits, kinds)
            if family == "pitch":
                logits = sampler.pitch_bias(states, logits)
            for hook in constraints.hooks:
                logits = hook(family, states, logits)
            temperature, top_p = sampling.for_family(family)
            picked = _sample(logits, temperature, top_p, gen).cpu().numpy()
            if family in ("root", "bass"):
                no_chord = new[:, col["quality"]] == spec.family("quality").index("N")
                users = np.logical_and(users, ~no_chord)
            new[:, col[family]] = np.where(users, picked, 0)
            values = spec.family(family)
            for b in np.flatnonzero(users):
                states[b].token[family] = values.value(int(new[b, col[family]]))
        # 3) ticks and context
        new_ticks = np.zeros(n, dtype=np.int64)
        for b, state in enumerate(states):
            if state.done:
                new[b] = 0
                new[b, 0] = spec.type_index("eos")
            sampler.advance(state, new[b])
            new_ticks[b] = state.tick
        context.fill(spec, new, new_ticks)
        tokens.append(new[:, None])
        ticks.append(new_ticks[:, None])
        if on_bar is not None and (bars := _bars_finished(states, sampler.n_bars)) > bars_reported:
            bars_reported = bars
            on_bar(bars)
        if cache is not None:
            if cache.length >= window:
                # trim in chunks: one copy every WINDOW_SLACK steps instead of one every step
                cache.trim(window - WINDOW_SLACK)
            feed_tokens = torch.as_tensor(new[:, None], device=device).long()
            feed_ticks = torch.as_tensor(new_ticks[:, None], device=device)
        else:
            all_tokens = np.concatenate(tokens, axis=1)[:, -window:]
            all_ticks = np.concatenate(ticks, axis=1)[:, -window:]
            feed_tokens = torch.as_tensor(all_tokens, device=device).long()
            feed_ticks = torch.as_tensor(all_ticks, device=device)

    out_tokens = np.concatenate(tokens, axis=1)
    out_ticks = np.concatenate(ticks, axis=1)
    results = []
    eos = spec.type_index("eos")
    for b in range(n):
        end = np.flatnonzero(out_tokens[b, :, 0] == eos)
        stop = int(end[0]) + 1 if len(end) else out_tokens.shape[1]
        results.append(TokenSequence(spec.role, out_tokens[b, :stop], out_ticks[b, :stop]))
    return results


def _bars_finished(states: Sequence[RowState], n_bars: int) -> int:
    """Bars that every candidate has finished: one in bar k has finished k, one at its end all."""
    return min(n_bars if s.done else max(s.bar, 0) for s in states)


def _force_strength(
    sampler: Sampler, states: Sequence[RowState], new: np.ndarray, logits: Tensor, kinds: list[str]
) -> Tensor:
    """Force the strength control at the onset tick each new simu-note was placed on."""
    spec = sampler.spec
    fam = spec.family("strength")
    positions = spec.family("position")
    strength = sampler.c.strength
    logits = logits.clone()
    for b, (state, kind) in enumerate(zip(states, kinds, strict=True)):
        if kind != "pos":
            continue
        position = positions.value(int(new[b, spec.column["position"]]))
        bar = state.bar
        tick = int(sampler.context.bar_starts[bar]) + position
        if 0 <= tick < len(strength) and strength[tick] >= 1:
            row = torch.full_like(logits[b], -torch.inf)
            row[fam.index(min(int(strength[tick]), MAX_STRENGTH))] = 0.0
            logits[b] = row
    return logits
