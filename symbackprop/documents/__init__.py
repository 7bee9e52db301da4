"""Documents: the notation-aware printers, the Jinja2 environment and the drawings. Renders the
document models it is given; prose lives in the top-level ``templates/`` folder."""
