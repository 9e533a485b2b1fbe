"""The command-line interface (``convergence ...``)."""
