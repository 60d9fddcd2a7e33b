"""Checkpoints made elsewhere (safetensors, sharded safetensors, NPZ of named arrays): read safely
(`formats`), each tensor oriented as a layer of neurons by a stated convention (`layout`), and
measured as a condense run's layers are (`analysis.analyze_checkpoint`)."""
from .analysis import CheckpointAnalysis, CheckpointSeries, TensorAnalysis, analyze_checkpoint, is_checkpoint
from .formats import Checkpoint, open_checkpoint
from .layout import KINDS, LAYOUTS

__all__ = ["CheckpointAnalysis", "CheckpointSeries", "TensorAnalysis", "analyze_checkpoint", "is_checkpoint",
           "Checkpoint", "open_checkpoint", "KINDS", "LAYOUTS"]
