"""Framework-neutral code: specs, zoo, initial weights, safetensors, data, comparisons."""
