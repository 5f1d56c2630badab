"""The camera response curve banks shipped with noisegen (``*.npz``; format in ``noisegen.crf.io``).

This folder is installed as the package data ``noisegen.crf.shipped`` (pyproject.toml maps the name
onto it); noisegen finds the banks through ``noisegen.crf.io.shipped_bank_dir`` and never imports
``crf_data``. ``build_default_bank.py`` regenerates ``default.npz`` from colour-science; it imports
the installed noisegen (``pip install -e .`` first): ``python crf_data/build_default_bank.py``.
"""
