"""symbackprop: backpropagation derived symbolically, proven and written out.

>>> import symbackprop as sbp
>>> d = sbp.derive(sbp.Network([2, 2, 2], activation="sigmoid", cost="quadratic", bias=False))
>>> len(d.params)
8

The names below are imported when first used, so that importing the package (and
``symbackprop --help``) does not load SymPy.
"""

import importlib

#: each public name and the module that defines it
_API = {
    "Derivation": "proof.chain", "Step": "proof.chain", "derive": "proof.chain",
    "check_document": "claims.verdicts", "check_formula": "claims.verdicts",
    "SpecError": "errors",
    "derive_general": "proof.general",
    "worked_example": "numbers",
    "Layer": "model.spec", "Network": "model.spec",
    "LayeredNetwork": "model.layers",
    "derive_layered": "proof.layered",
}

__all__ = sorted(_API)
__version__ = "0.1.0"


def __getattr__(name: str):
    if name not in _API:
        raise AttributeError(f"module 'symbackprop' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_API[name]}", __name__), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted([*globals(), *_API])
