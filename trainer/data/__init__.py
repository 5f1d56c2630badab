"""What training is fed.

Modules:
    stream      the streaming loader's stages: resampled rounds, shuffling, crops, flips, batches
    loader      TrainStream + DataLoader: one endless, exactly resumable stream per worker
    real_pairs  a few real pairs (or noisy images) in memory, crops drawn from (seed, rank, step)

Importing this package file imports nothing.
"""
