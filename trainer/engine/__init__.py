"""How every stage is trained: one loop, nanoGPT style, and what it writes.

Modules:
    loop          run(): set-up, restore, step, log, validate, checkpoint (DDP, bf16, compile)
    stage         the Stage interface between the loop and a stage; batch → device
    meter         interval means of the logged values on the device; the non-finite loss check
    interrupt     Ctrl-C / SIGTERM: finish the step, write last.pt, stop (RunInterrupted)
    pace          one early warning when a run cannot finish in reasonable time on its device
    run_config    RunConfig: the settings every run shares; no torch
    run_folder    the files of a run folder; a run folder or .pt → its checkpoint; no torch
    checkpoint    atomic checkpoints, read with torch.load(weights_only=True) only
    validate      validation sets (clean images + synthetic noise, real pairs, shards) and their PSNR
    metrics       PSNR, metrics.jsonl, curves.png
    images        uint8 images ↔ the model's tensors (validation, eval, denoise)
    distributed   torchrun process group (gloo on CPU, NCCL on CUDA), device resolution
    global_state  global RNGs, threads, cuDNN/TF32 flags: set for a run, restored after

Importing this package file imports nothing.
"""
