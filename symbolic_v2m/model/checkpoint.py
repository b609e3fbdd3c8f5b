"""Model weights on disk (safetensors + the config in its metadata) and device choice."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from symbolic_v2m.errors import InputError
from symbolic_v2m.model.transformer import CPTransformer, ModelConfig
from symbolic_v2m.music.score import Role

FORMAT = "symbolic-v2m-cp/1"


def pick_device(name: str | None = None) -> torch.device:
    """``name`` if given (``"cpu"``, ``"cuda"``, ``"cuda:1"``), else CUDA when present, else CPU."""
    if name:
        if name.startswith("cuda") and not torch.cuda.is_available():
            raise InputError(f"device {name!r} requested but CUDA is not available")
        return torch.device(name)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def save_model(model: CPTransformer, path: Path, extra: dict | None = None) -> None:
    """Write weights and config to ``path`` (safetensors), atomically."""
    from symbolic_v2m.data.prepare import representation_fingerprint
    from symbolic_v2m.export.files import atomic_output

    metadata = {
        "format": FORMAT,
        "config": json.dumps(model.config.to_dict()),
        "representation": representation_fingerprint(),
        "extra": json.dumps(extra or {}),
    }
    state = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
    with atomic_output(Path(path)) as tmp:
        save_file(state, str(tmp), metadata=metadata)


def load_model(path: Path, device: torch.device | str | None = None) -> CPTransformer:
    """A model saved by :func:`save_model`; a clear error for a file that is not one."""
    from safetensors import safe_open

    from symbolic_v2m.data.prepare import representation_fingerprint

    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: model file not found")
    try:
        with safe_open(str(path), framework="pt") as fh:
            metadata = fh.metadata() or {}
        state = load_file(str(path))
    except Exception as exc:  # safetensors raises several types for bad files
        raise InputError(f"{path}: not a safetensors model file ({exc})") from None
    if metadata.get("format") != FORMAT:
        raise InputError(f"{path}: not a symbolic-v2m model (format {metadata.get('format')!r})")
    if metadata.get("representation") != representation_fingerprint():
        raise InputError(
            f"{path}: trained for another token vocabulary "
            f"({metadata.get('representation')} != {representation_fingerprint()}); retrain it"
        )
    config = ModelConfig.from_dict(json.loads(metadata["config"]))
    model = CPTransformer(config)
    model.load_state_dict(state)
    model.to(pick_device(str(device)) if device is not None else pick_device())
    model.eval()
    return model


def default_weights_path(stage: Role | str) -> Path:
    """The shipped weights of a stage: ``symbolic_v2m/weights/<stage>.safetensors``."""
    ref = resources.files("symbolic_v2m.weights").joinpath(f"{Role(stage).value}.safetensors")
    return Path(str(ref))


def default_model(stage: Role | str, device: torch.device | str | None = None) -> CPTransformer:
    """The shipped model of a stage."""
    return load_model(default_weights_path(stage), device)
