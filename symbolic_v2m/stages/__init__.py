"""The generation stages: chord, melody, accompaniment (entry: :func:`write_part`)."""

from symbolic_v2m.stages.write import (
    StageConfig,
    StageRequest,
    StageResult,
    stage_context,
    with_seed,
    write_part,
)

__all__ = [
    "StageConfig",
    "StageRequest",
    "StageResult",
    "stage_context",
    "with_seed",
    "write_part",
]
