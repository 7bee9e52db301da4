"""Computational graphs of expressions: forward and reverse mode, derivatives as sums over paths."""

from .analysis import *  # noqa: F401,F403  (the public names listed in analysis.__all__)
from .analysis import __all__  # noqa: F401
