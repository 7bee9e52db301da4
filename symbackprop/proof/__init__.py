"""The derivation and its proofs: the chain rule per parameter, BP1–BP4 checked exactly, by induction
or numerically, the independent numeric oracle, and the general proofs in index notation."""
