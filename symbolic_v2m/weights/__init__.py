"""Default weights of the three stages (safetensors) and their model cards."""
