"""The Dramatiq actors (one module each) and our middleware.

Importing declares nothing: `wearon.bootstrap` declares each actor, with the options its module
gives, on the broker it builds; `python -m wearon.worker` (Dramatiq's command line for
`wearon.worker:setup`) is the worker's entry point.
"""
