"""Business outputs built on the next-item model: ad audiences and per-item demand forecasts.

Library code only: DataFrames and arrays in, DataFrames and plain dicts out. Reading and writing
files is the job of `shopseq.stages.audiences` and `shopseq.stages.forecast`.
"""
