"""Hand-written claims: the formula grammar and its reader, and the verdict on each claim."""

from .verdicts import check_document, check_formula

__all__ = ["check_document", "check_formula"]
