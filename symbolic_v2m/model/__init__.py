"""The CP Transformer, constrained generation, checkpoints and device choice.

Entry points: :class:`CPTransformer` (one network per stage, built from a :class:`ModelConfig`),
:func:`generate` (batched, KV-cached, constrained sampling), :func:`load_model` /
:func:`save_model` (safetensors + config), :func:`default_model` (the shipped weights).
"""

from symbolic_v2m.model.checkpoint import (
    default_model,
    default_weights_path,
    load_model,
    pick_device,
    save_model,
)
from symbolic_v2m.model.sampling import (
    Constraints,
    LogitHook,
    RowState,
    SamplingConfig,
    generate,
)
from symbolic_v2m.model.transformer import CPTransformer, KVCache, ModelConfig

__all__ = [
    "CPTransformer",
    "Constraints",
    "KVCache",
    "LogitHook",
    "ModelConfig",
    "RowState",
    "SamplingConfig",
    "default_model",
    "default_weights_path",
    "generate",
    "load_model",
    "pick_device",
    "save_model",
]
