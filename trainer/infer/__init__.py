"""Using a trained model.

Modules:
    inference  loading a model; whole-image and tiled prediction, the ×8 self-ensemble
    evaluate   `noisegen-train eval`: PSNR/SSIM on real pairs, per image, group and overall
    denoise    `noisegen-train denoise`: denoised PNGs of photos of any size
    sigma_picture  the picture of an estimated σ map: scaled to the map, with a legend

Importing this package file imports nothing.
"""
