"""The network model: symbols, the activation and cost rule tables, the network description and its
forward pass. The bottom of the pipeline: it imports nothing else of symbackprop but ``errors``."""
