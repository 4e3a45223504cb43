"""approx: function-approximation experiments with neural networks.

The library builds exact ±ReLU networks, trains networks with hand-written
backpropagation and certifies their max error against smooth targets.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("approx")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0+unknown"

__all__ = ["__version__"]
