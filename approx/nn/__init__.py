"""Neural-network core: layers with vector–Jacobian products, losses, the MLP, backprop.

Each activation is one :class:`~approx.nn.activations.Activation` record in
:data:`approx.nn.activations.REGISTRY`; :data:`ACTIVATIONS`, :data:`DERIVATIVES`,
:data:`IN_PLACE` and the layer table are views of it.
"""

from approx.nn.activations import ACTIVATIONS, DERIVATIVES, IN_PLACE, Activation
from approx.nn.layers import AFFINE, LAYERS, Layer, get_layer
from approx.nn.losses import LOSSES, get_loss
from approx.nn.mlp import MLP
from approx.nn.params import pack, unpack

__all__ = [
    "ACTIVATIONS",
    "AFFINE",
    "DERIVATIVES",
    "IN_PLACE",
    "LAYERS",
    "LOSSES",
    "MLP",
    "Activation",
    "Layer",
    "get_layer",
    "get_loss",
    "pack",
    "unpack",
]
