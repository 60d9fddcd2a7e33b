"""The transformer of the anchor-function task (Zhang et al., NeurIPS 2024), written with
flax.nnx: `model` (the network and its initialization), `training` (the compiled training
program, AdamW with warm-up and cosine decay, snapshots of the recorded matrices)."""
from .model import AnchorTransformer, TransformerSpec, recorded_matrices

__all__ = ["AnchorTransformer", "TransformerSpec", "recorded_matrices"]
