"""Text -> vectors: model resolution, batched encoding with pooling, a content-hash cache.

Importing this package does not import torch or transformers; `load_encoder` does.
"""

from shopseq.embeddings.cache import VectorCache, text_key
from shopseq.embeddings.encode import (
    EmbedResult,
    embed_texts,
    encode_texts,
    iter_encoded,
)
from shopseq.embeddings.model import (
    DeviceError,
    Encoder,
    ModelNotFoundError,
    load_encoder,
    resolve_device,
    resolve_model,
)
from shopseq.embeddings.text import (
    fuse_item_vectors,
    item_texts,
    item_vectors_as_of,
    l2_normalize,
    load_item_vectors_as_of,
    review_texts,
)
from shopseq.embeddings.vectors import (
    ItemVectors,
    ReviewVectors,
    load_item_vectors,
    load_review_vectors,
    open_vector_file,
    save_item_vectors,
    save_review_vectors,
)

__all__ = [
    "DeviceError",
    "EmbedResult",
    "Encoder",
    "ItemVectors",
    "ModelNotFoundError",
    "ReviewVectors",
    "VectorCache",
    "embed_texts",
    "encode_texts",
    "fuse_item_vectors",
    "item_texts",
    "item_vectors_as_of",
    "iter_encoded",
    "l2_normalize",
    "load_encoder",
    "load_item_vectors",
    "load_item_vectors_as_of",
    "load_review_vectors",
    "open_vector_file",
    "resolve_device",
    "resolve_model",
    "review_texts",
    "save_item_vectors",
    "save_review_vectors",
    "text_key",
]
