"""The key-relative frame: what the model sees of pitch is its distance from the key's tonic.

POP909 gives every song its key, so a model need not learn each scale degree twelve times (once
per tonic). With ``ModelConfig.key_relative`` every token is moved, inside the model, by its own
key (the ``key`` context family it carries): pitches, chord roots and basses, the melody
context, so that the tonic becomes C, and the key family keeps only the mode. The shift is
folded into -5..6 semitones (the nearest C), so registers move by at most a tritone.

Everything outside the model stays absolute: token arrays, prompts, masks and pitch biases,
decoding. The model moves its inputs into the frame and its pitch-like logits back out of it
(:func:`logits_to_absolute`), so a stage's constraints need no change and the round trip of a
score is untouched. Which families move, and how, comes from each family's ``transposes``
attribute in :mod:`symbolic_v2m.music.vocab`.
"""

from __future__ import annotations

import torch
from torch import Tensor

from symbolic_v2m.music.vocab import Family, StageSpec

#: the tonic moves to the nearest C: shifts run -5..6 semitones
_LOWEST_SHIFT = -5


def _shift_of_tonic(tonic: int) -> int:
    return (tonic - _LOWEST_SHIFT) % 12 + _LOWEST_SHIFT


class KeyFrame:
    """Per-stage lookup tables for moving tokens into the key frame and logits out of it."""

    def __init__(self, spec: StageSpec) -> None:
        self.spec = spec
        key = spec.family("key")
        self.key_column = spec.column["key"]
        # key index -> semitones to subtract; key index -> the same mode on tonic C
        shifts = [0] + [_shift_of_tonic(tonic) for tonic, _ in key.values]
        on_c = [0] + [key.index((0, mode)) for _, mode in key.values]
        self.shift_of_key = torch.tensor(shifts, dtype=torch.long)
        self.key_on_c = torch.tensor(on_c, dtype=torch.long)
        self.moving = [
            (spec.column[f.name], f.transposes) for f in spec.families if f.transposes is not None
        ]

    def shift(self, key_index: Tensor) -> Tensor:
        """Semitones each token is moved down by, from its key family index (any shape)."""
        return self.shift_of_key.to(key_index.device)[key_index.long()]

    def to_frame(self, tokens: Tensor) -> Tensor:
        """(B, T, F) absolute token indices -> the same tokens in their own key's frame."""
        key = tokens[..., self.key_column].long()
        shift = self.shift(key)
        out = tokens.clone()
        for column, how in self.moving:
            values = tokens[..., column].long()
            used = values > 0
            if how == "pitch":
                moved = (values - shift).clamp(1, 128)  # the vocabulary's indices 1..128
            elif how == "pitch_class":
                moved = (values - 1 - shift) % 12 + 1
            else:  # "key"
                moved = self.key_on_c.to(tokens.device)[key]
            out[..., column] = torch.where(used, moved, values).to(tokens.dtype)
        return out

    def logits_to_absolute(self, family: Family, logits: Tensor, shift: Tensor) -> Tensor:
        """(B, V) logits of a moving family in the key frame -> over absolute values.

        ``shift`` is (B,), the semitones the predicted token's key moves it by. A pitch whose
        frame value would leave the vocabulary gets ``-inf``.
        """
        if family.transposes is None:
            return logits
        b, v = logits.shape
        values = torch.arange(1, v, device=logits.device)  # absolute indices 1..V-1
        if family.transposes == "pitch":
            source = values[None, :] - shift[:, None]
            valid = (source >= 1) & (source <= v - 1)
            source = source.clamp(1, v - 1)
        else:  # pitch classes
            source = (values[None, :] - 1 - shift[:, None]) % 12 + 1
            valid = torch.ones_like(source, dtype=torch.bool)
        moved = logits.gather(1, source)
        moved = moved.masked_fill(~valid, -torch.inf)
        return torch.cat([logits[:, :1], moved], dim=1)
