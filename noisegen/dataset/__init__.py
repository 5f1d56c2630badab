"""Datasets (DESIGN.md §4): the format, its writer and its only reader, and the jobs around them.

Modules: format (member names, σ codec, sample-JSON, index and manifest schemas), reader (small
composable stages; ``open_dataset``), writer (one shard), plan, sources, generate, inspect,
pack_pairs, download, and image/pair I/O (images, png, pairs, samples). This package file imports
nothing, so importing the reader does not import the writer, the pipeline or numba.
"""
