"""The bridge: moves tasks from the Next.js API's Redis list into Dramatiq, losing none.

Run it with `python -m wearon.bridge`.
"""
