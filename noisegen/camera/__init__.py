"""The data half of `noisegen-train camera`: one camera's photos → a held-out split by shot, per-ISO
profiles, generated training data and realism scores (no torch here; the trainer reaches it through
``noisegen.camera.api``).

Modules:
    folder  the camera's folder: pairs and noisy-only photos, camera and ISO from EXIF or names
    scenes  the content check: do two photos show the same content (masked NCC of thumbnails)
    split   calibration and test images per camera-ISO group, held out by shot and checked by content
    steps   per-ISO profiles, generated datasets, realism scores, noise levels of noisy photos
    api     the door: what the trainer's camera command may use

Importing this package file imports nothing.
"""
