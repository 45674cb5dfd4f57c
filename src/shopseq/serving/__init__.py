"""Serving: batch scoring of every user and the online recommendation endpoint.

- `fallback`: recent popularity, what users and sequences the model knows nothing about get.
- `batch`: top-K items and category propensities for every known user (stage `score`).
- `recommend`: one history -> top-K with scores, model or fallback; no web framework inside.
- `champion`: resolve and load the registry's `champion` alias; the holder swapped atomically.
- `fold`: item text vectors folded into the item table at load time (same scores, cheaper requests).
- `watcher`: a thread that polls the alias and swaps in a new champion without a restart.
- `schemas`, `app`: the FastAPI service (`shopseq serve`) and its documented OpenAPI schema.
"""
