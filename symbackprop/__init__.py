"""symbackprop: backpropagation derived symbolically, proven and written out.

>>> import symbackprop as sbp
>>> d = sbp.derive(sbp.Network([2, 2, 2], activation="sigmoid", cost="quadratic", bias=False))
>>> len(d.params)
8
"""

from .chain import Derivation, Step, derive
from .errors import SpecError
from .spec import Layer, Network

__all__ = ["Derivation", "Layer", "Network", "SpecError", "Step", "derive"]
__version__ = "0.1.0"
