"""Neural-network core: activations, the MLP, and (hand-written) backpropagation."""

from approx.nn.activations import ACTIVATIONS, DERIVATIVES
from approx.nn.mlp import MLP

__all__ = ["ACTIVATIONS", "DERIVATIVES", "MLP"]
