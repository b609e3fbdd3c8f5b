"""Training the stages' CP Transformers (single process, or DDP under torchrun).

Entry point: :func:`train` with a :class:`TrainConfig`.
"""

from symbolic_v2m.training.train import (
    History,
    TrainConfig,
    evaluate,
    extend_run,
    load_run_config,
    train,
)

__all__ = ["History", "TrainConfig", "evaluate", "extend_run", "load_run_config", "train"]
