"""Neural-network core: layers with vector–Jacobian products, losses, the MLP, backprop."""

from approx.nn.activations import ACTIVATIONS, DERIVATIVES, IN_PLACE
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
    "Layer",
    "get_layer",
    "get_loss",
    "pack",
    "unpack",
]
