"""shopseq: governed next-item models from e-commerce behaviour logs."""

__version__ = "0.1.0"
