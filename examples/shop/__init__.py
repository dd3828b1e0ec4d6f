"""Corner Shop: a small inventory and order API, written with the standard library only.

It is the example application of reflens. It works, and it leaks: run it with
`python3 -m shop` from the `examples/` directory and watch the registries, caches and
stored tracebacks grow from one round of requests to the next, then run
`reflens check examples/` to see why.
"""

__version__ = "0.3.0"
