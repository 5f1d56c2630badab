"""Datasets (docs/format.md): the format, its writer and its only reader, and the jobs around them.

Modules:
    format       the contract: member names, sample-JSON, index and manifest schemas
    sigma_codec  the σ member: σ_raw as a planar 16-bit PNG, and back
    reader/      the only reader: small composable stages, ``open_dataset``
    writer       byte-reproducible tars, the index and the manifest, atomically
    plan         the shard plan: which patches of which photos, with which seeds
    sources      finding and probing the clean source photos
    make_shard   one shard of `generate`: synthesize, encode, write
    generate     `noisegen generate`
    backends     where generate's shard tasks run: local processes or Dask
    resume       the output folder: checks, the run lock, resume, repair of damaged shards
    repair       a complete dataset's index.parquet and counts, rebuilt from its intact shards
    inspect      `noisegen inspect [--verify]`
    pack_pairs   `noisegen pack-pairs`: real pairs into the format
    pairs        finding real noisy/clean pairs; camera, ISO and scene from their names
    images       reading and writing 8-bit RGB images at the edges
    png          a fast deterministic PNG encoder; a 16-bit colour PNG decoder
    samples      the embedded default photos
    download     `noisegen download`: fetch, verify, extract
    archives     safe extraction of tar, zip and RAR archives

This package file imports nothing, so importing the reader does not import the writer, the
pipeline or numba.
"""
