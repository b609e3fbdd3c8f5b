"""The compound-word (CP) Transformer: one decoder-only network per stage.

Input: a token is a vector of family indices (B, T, F). Each family has its own embedding table,
sized from its vocabulary; the embeddings are concatenated and projected to the model width.
Tokens also carry their tick (B, T); a sinusoidal encoding of the tick is the *beat-based*
position (all tokens of one simu-note share it, as in CMT), and the ``progress`` context family
tells how far the piece has gone. Pre-LayerNorm blocks with causal attention through
``torch.nn.functional.scaled_dot_product_attention``, with rotary position embeddings of the
token index in the queries and keys (``rotary``): the tick encoding says *when* a token sounds,
the rotation says *how many tokens back* another one is, which is what "the previous note"
means (``bench/context_use.py`` measures what each model takes from its history).

With ``key_relative`` the network works in the key's frame (:mod:`.key_frame`): tokens enter
moved so that their key's tonic is C, and pitch-like logits leave moved back, so everything
outside the model (arrays, masks, biases, decoding) stays in absolute pitch.

Output in two steps, as in the CP Transformer (Hsiao et al. 2021) and CMT: first the token
*type* from the hidden state; then every other predicted family from the hidden state joined
with the embedding of that type (the true next type in training, the sampled one in
generation), so e.g. the pitch head knows it is writing a note. A *chained* model
(``chained``) goes one step further within a token where its families depend on each other:
the chord's root head also sees the quality, and the bass head the quality and root (again the
true ones in training, the sampled ones in generation). The CP Transformer samples a token's
families independently, which suits a note's pitch, duration and velocity, but a chord's root
and quality drawn apart give the vi's root with the IV's quality: 36% of the chords an
unchained model wrote under POP909's controls had a tone outside the key, against 9% of the
real ones (bench/RESULTS.md).

Incremental decoding keeps per-layer keys and values (:class:`KVCache`), so each new token costs
one position's work instead of the whole sequence's.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from symbolic_v2m.model.key_frame import KeyFrame
from symbolic_v2m.music.score import Role
from symbolic_v2m.music.vocab import StageSpec, stage_spec


@dataclass(frozen=True)
class ModelConfig:
    """Sizes of a stage's network. Vocabulary sizes come from the stage's :class:`StageSpec`."""

    stage: str = "melody"
    d_model: int = 256
    n_layers: int = 4
    n_heads: int = 4
    d_ff: int = 1024
    dropout: float = 0.1
    #: longest context the model attends to; generation slides a window of this many tokens
    max_context: int = 1024
    #: ticks are divided by this before the sinusoidal position encoding (ticks per beat)
    ticks_per_beat: int = 4
    family_dims: dict[str, int] = field(default_factory=dict)
    #: pitches and chords seen relative to the key's tonic (see :mod:`.key_frame`)
    key_relative: bool = True
    #: rotary embedding of the token index in attention
    rotary: bool = True
    #: a family's head also sees the families of its token sampled before it (the stage's
    #: ``StageSpec.given``: a chord's root its quality); off, they are sampled independently
    chained: bool = True

    @property
    def spec(self) -> StageSpec:
        return stage_spec(Role(self.stage))

    def family_dim(self, name: str) -> int:
        """Embedding width of a family: set in ``family_dims`` or derived from its size."""
        if name in self.family_dims:
            return self.family_dims[name]
        size = self.spec.family(name).size
        return int(min(128, max(16, 2 ** math.ceil(math.log2(size)))))

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> ModelConfig:
        """A config from :meth:`to_dict`; fields added since a file was written take the value
        that reproduces the network it was written by (absolute pitch, no rotation)."""
        return cls(**{**_LEGACY, **d})


#: what a config written before a field existed meant by its absence
_LEGACY = {"key_relative": False, "rotary": False, "chained": False}


class KVCache:
    """Keys and values of every layer for the tokens seen so far: (B, H, T, Dh) per layer.

    Stored in buffers that grow by doubling, so appending one token copies nothing but that
    token (a concatenation per step would copy the whole cache, every layer, every step).
    """

    def __init__(self, n_layers: int) -> None:
        self.keys: list[Tensor | None] = [None] * n_layers
        self.values: list[Tensor | None] = [None] * n_layers
        self.lengths = [0] * n_layers
        #: tokens ever appended (trimming keeps it): the next token's index for the rotation
        self.seen = 0

    @property
    def length(self) -> int:
        return self.lengths[0]

    def layer_length(self, layer: int) -> int:
        return self.lengths[layer]

    def append(self, layer: int, k: Tensor, v: Tensor) -> tuple[Tensor, Tensor]:
        """Add (B, H, t, Dh) keys/values for ``layer``; returns the full (B, H, T, Dh) ones."""
        n, t = self.lengths[layer], k.shape[2]
        buffer = self.keys[layer]
        if buffer is None or n + t > buffer.shape[2]:
            capacity = max(2 * (n + t), 256)
            keys = k.new_empty(k.shape[0], k.shape[1], capacity, k.shape[3])
            values = v.new_empty(v.shape[0], v.shape[1], capacity, v.shape[3])
            if buffer is not None:
                keys[:, :, :n] = buffer[:, :, :n]
                values[:, :, :n] = self.values[layer][:, :, :n]
            self.keys[layer], self.values[layer] = keys, values
        self.keys[layer][:, :, n : n + t] = k
        self.values[layer][:, :, n : n + t] = v
        self.lengths[layer] = n + t
        return self.keys[layer][:, :, : n + t], self.values[layer][:, :, : n + t]

    def trim(self, keep: int) -> None:
        """Keep only the last ``keep`` positions (a sliding window for long pieces)."""
        for i, n in enumerate(self.lengths):
            if self.keys[i] is not None and n > keep:
                self.keys[i][:, :, :keep] = self.keys[i][:, :, n - keep : n].clone()
                self.values[i][:, :, :keep] = self.values[i][:, :, n - keep : n].clone()
                self.lengths[i] = keep

    def select(self, index: Tensor) -> None:
        """Keep the batch rows ``index`` (e.g. the surviving candidates)."""
        for i, (k, v) in enumerate(zip(self.keys, self.values, strict=True)):
            if k is not None:
                self.keys[i], self.values[i] = k[index], v[index]


class Block(nn.Module):
    """Pre-LayerNorm Transformer block with causal self-attention."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.n_heads = config.n_heads
        self.dropout = config.dropout
        self.ln1 = nn.LayerNorm(config.d_model)
        self.qkv = nn.Linear(config.d_model, 3 * config.d_model)
        self.proj = nn.Linear(config.d_model, config.d_model)
        self.ln2 = nn.LayerNorm(config.d_model)
        self.mlp = nn.Sequential(
            nn.Linear(config.d_model, config.d_ff),
            nn.GELU(),
            nn.Linear(config.d_ff, config.d_model),
            nn.Dropout(config.dropout),
        )
        self.resid_drop = nn.Dropout(config.dropout)

    def forward(
        self,
        x: Tensor,
        pad_mask: Tensor | None,
        cache: KVCache | None,
        layer: int,
        rotation: tuple[Tensor, Tensor] | None = None,
    ) -> Tensor:
        b, t, d = x.shape
        q, k, v = self.qkv(self.ln1(x)).split(d, dim=2)
        # (B, T, D) -> (B, H, T, Dh)
        q, k, v = (z.view(b, t, self.n_heads, d // self.n_heads).transpose(1, 2) for z in (q, k, v))
        if rotation is not None:
            q, k = _rotate(q, *rotation), _rotate(k, *rotation)
        past = 0
        if cache is not None:
            past = cache.layer_length(layer)  # not .length: earlier layers already grew
            k, v = cache.append(layer, k, v)
        dropout = self.dropout if self.training else 0.0
        if past == 0 and pad_mask is None:
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True, dropout_p=dropout)
        elif t == 1 and pad_mask is None:  # one new token: every cached key is in its past
            y = F.scaled_dot_product_attention(q, k, v, dropout_p=dropout)
        else:
            # queries at positions past..past+t-1 see keys 0..their own position
            total = k.shape[2]
            rows = torch.arange(past, past + t, device=x.device)[:, None]
            allowed = torch.arange(total, device=x.device)[None, :] <= rows  # (t, total)
            if pad_mask is not None:  # (B, total) True where a real token
                allowed = allowed[None, None] & pad_mask[:, None, None, :]
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=allowed, dropout_p=dropout)
        y = y.transpose(1, 2).reshape(b, t, d)
        x = x + self.resid_drop(self.proj(y))
        return x + self.mlp(self.ln2(x))


def tick_encoding(ticks: Tensor, d_model: int, ticks_per_beat: int) -> Tensor:
    """Sinusoidal encoding of (B, T) ticks -> (B, T, D); one beat is one position unit, and the
    tick within the beat moves the phase, so tokens on one tick share an encoding."""
    half = d_model // 2
    freqs = torch.exp(
        -math.log(10000.0) * torch.arange(half, device=ticks.device, dtype=torch.float32) / half
    )
    angles = (ticks.float() / ticks_per_beat)[..., None] * freqs * 4.0  # (B, T, D/2)
    return torch.cat([angles.sin(), angles.cos()], dim=-1)


def rotary_tables(positions: Tensor, head_dim: int) -> tuple[Tensor, Tensor]:
    """cos and sin (T, Dh / 2) for token indices ``positions`` (T,)."""
    half = head_dim // 2
    inv = 1.0 / (10000.0 ** (torch.arange(half, device=positions.device).float() / half))
    angles = positions.float()[:, None] * inv[None, :]
    return angles.cos(), angles.sin()


def _rotate(x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
    """Rotary embedding of (B, H, T, Dh) queries or keys (pairs: first half, second half)."""
    half = x.shape[-1] // 2
    x1, x2 = x[..., :half], x[..., half : 2 * half]
    rotated = torch.cat([x1 * cos - x2 * sin, x1 * sin + x2 * cos], dim=-1)
    if x.shape[-1] % 2:
        rotated = torch.cat([rotated, x[..., -1:]], dim=-1)
    return rotated


def _key(family: str) -> str:
    return f"f_{family}"


def _given_key(family: str, given: str) -> str:
    return f"{_key(family)}__{given}"


class CPTransformer(nn.Module):
    """One stage's network; see the module doc. ``forward`` returns per-family logits."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        spec = config.spec
        self.spec = spec
        self.embeddings = nn.ModuleDict(
            # keys are prefixed: a family called "type" would shadow nn.Module.type
            {_key(f.name): nn.Embedding(f.size, config.family_dim(f.name)) for f in spec.families}
        )
        in_dim = sum(config.family_dim(f.name) for f in spec.families)
        self.in_proj = nn.Linear(in_dim, config.d_model)
        self.drop = nn.Dropout(config.dropout)
        self.blocks = nn.ModuleList(Block(config) for _ in range(config.n_layers))
        self.ln_f = nn.LayerNorm(config.d_model)
        type_family = spec.family("type")
        self.type_head = nn.Linear(config.d_model, type_family.size)
        self.type_embedding = nn.Embedding(type_family.size, config.d_model)
        self.joint = nn.Sequential(nn.Linear(2 * config.d_model, config.d_model), nn.GELU())
        self.heads = nn.ModuleDict(
            {
                _key(f.name): nn.Linear(config.d_model, f.size)
                for f in spec.predicted
                if f.name != "type"
            }
        )
        # chained heads: the embedding of each given family's value is added to the joint
        # layer's input of the family predicted from it; zero at first, so that a chained model
        # made from an unchained one's weights starts out predicting exactly as that one did
        self.given = nn.ModuleDict(
            {
                _given_key(name, given): nn.Embedding(spec.family(given).size, config.d_model)
                for name, givens in (spec.given.items() if config.chained else ())
                for given in givens
            }
        )
        self.key_frame = KeyFrame(spec) if config.key_relative else None
        self.apply(self._init)
        for table in self.given.values():
            nn.init.zeros_(table.weight)

    @staticmethod
    def _init(module: nn.Module) -> None:
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, std=0.02)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            # unit scale, like the sinusoidal tick encoding they are added to: at 0.02 the token
            # content was ~1% of the input, and Adam needed ~1,000 steps (lr / step) to grow it,
            # which kept the root and pitch losses at their no-information level that long
            nn.init.normal_(module.weight, std=1.0)

    def hidden(
        self,
        tokens: Tensor,
        ticks: Tensor,
        cache: KVCache | None = None,
        pad_mask: Tensor | None = None,
    ) -> Tensor:
        """(B, T, F) tokens and (B, T) ticks -> (B, T, D) hidden states.

        With a cache, ``tokens`` are the new positions only and the cache grows by T.
        ``pad_mask`` (B, T_total) marks real tokens (for batches of unequal prompts).
        Tokens are absolute; a key-relative model moves them into its frame here.
        """
        if self.key_frame is not None:
            tokens = self.key_frame.to_frame(tokens)
        rotation = None
        if self.config.rotary:
            start = cache.seen if cache is not None else 0
            positions = torch.arange(start, start + tokens.shape[1], device=tokens.device)
            rotation = rotary_tables(positions, self.config.d_model // self.config.n_heads)
        embedded = torch.cat(
            [
                self.embeddings[_key(f.name)](tokens[..., i])
                for i, f in enumerate(self.spec.families)
            ],
            dim=-1,
        )
        x = self.in_proj(embedded)
        x = x + tick_encoding(ticks, self.config.d_model, self.config.ticks_per_beat)
        x = self.drop(x)
        for layer, block in enumerate(self.blocks):
            x = block(x, pad_mask, cache, layer, rotation)
        if cache is not None:
            cache.seen += tokens.shape[1]
        return self.ln_f(x)

    def type_logits(self, h: Tensor) -> Tensor:
        """(..., D) -> (..., n_types) logits of the next token's type."""
        return self.type_head(h)

    def family_logits(
        self,
        h: Tensor,
        next_type: Tensor,
        names: set[str] | None = None,
        chosen: Tensor | None = None,
    ) -> dict[str, Tensor]:
        """Logits of the other predicted families (or only ``names``) given the next token's
        type (...,).

        A chained family (:meth:`chained`) is predicted from the values its token already has:
        ``chosen`` (..., F) holds them as absolute token indices, with the token's key in the
        key column (the true next token in training; in generation the families sampled so far).
        """
        pre = self.joint[0](torch.cat([h, self.type_embedding(next_type)], dim=-1))
        joint = self.joint[1](pre)
        if chosen is not None and self.key_frame is not None:
            chosen = self.key_frame.to_frame(chosen)
        out = {}
        for key, head in self.heads.items():
            name = key[2:]
            if names is not None and name not in names:
                continue
            givens = self.chained(name)
            if not givens:
                out[name] = head(joint)
                continue
            if chosen is None:
                raise ValueError(f"{name} is predicted from {', '.join(givens)}: pass chosen")
            x = pre
            for given in givens:
                table = self.given[_given_key(name, given)]
                x = x + table(chosen[..., self.spec.column[given]].long())
            out[name] = head(self.joint[1](x))
        return out

    def chained(self, family: str) -> tuple[str, ...]:
        """The families of its own token that ``family`` is predicted from (none unless the
        model is chained)."""
        return self.spec.given.get(family, ()) if self.config.chained else ()

    def absolute_logits(self, family: str, logits: Tensor, key_index: Tensor) -> Tensor:
        """(B, V) logits of ``family`` for tokens in key ``key_index`` (B,) -> over absolute
        values (unchanged for an absolute-pitch model or a family that does not transpose)."""
        if self.key_frame is None:
            return logits
        shift = self.key_frame.shift(key_index.to(logits.device))
        return self.key_frame.logits_to_absolute(self.spec.family(family), logits, shift)

    def forward(
        self,
        tokens: Tensor,
        ticks: Tensor,
        pad_mask: Tensor | None = None,
        targets: Tensor | None = None,
    ) -> dict[str, Tensor]:
        """Teacher-forced logits (B, T-1, V_f) for tokens 1..T-1 from tokens 0..T-2, in the
        model's frame (see :meth:`loss_from_logits`). The type and the chained heads' given
        families of each predicted token come from ``targets`` (B, T, F) when the input was
        altered (``bench/context_use.py``), else from ``tokens``."""
        h = self.hidden(tokens[:, :-1], ticks[:, :-1], pad_mask=pad_mask)
        nxt = (tokens if targets is None else targets)[:, 1:]
        logits = {"type": self.type_logits(h)}
        logits.update(self.family_logits(h, nxt[..., 0].long(), chosen=nxt))
        return logits

    def loss(
        self, tokens: Tensor, ticks: Tensor, pad_mask: Tensor | None = None
    ) -> tuple[Tensor, dict[str, tuple[float, int, int]]]:
        """Mean cross-entropy over predicted families (index 0 = "not used" is ignored).

        Returns the loss (mean of the per-family means) and, per family, ``(summed loss,
        correct, counted)`` for logging.
        """
        return self.loss_from_logits(self.forward(tokens, ticks, pad_mask), tokens)

    def loss_from_logits(
        self, logits: dict[str, Tensor], tokens: Tensor
    ) -> tuple[Tensor, dict[str, tuple[float, int, int]]]:
        """:meth:`loss` from logits already computed (by a DistributedDataParallel wrapper).

        Targets are in the model's frame: each token moved by its own key."""
        if self.key_frame is not None:
            tokens = self.key_frame.to_frame(tokens)
        targets = tokens[:, 1:].long()
        total = []
        report = {}
        for name, lg in logits.items():
            target = targets[..., self.spec.column[name]]
            mask = target != 0
            count = int(mask.sum())
            if count == 0:
                continue
            ce = F.cross_entropy(lg[mask].float(), target[mask], reduction="sum")
            correct = int((lg[mask].argmax(-1) == target[mask]).sum())
            total.append(ce / count)
            report[name] = (float(ce.detach()), correct, count)
        return torch.stack(total).mean(), report

    def n_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())
