"""Benchmarks behind `shopseq benchmark ...`: each writes one small JSON report (see DESIGN.md)."""
