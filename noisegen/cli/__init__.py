"""The ``noisegen`` command line: ``main`` builds one parser with a subcommand per job; each
subcommand module adds its commands and calls library code from inside its handlers.

Modules:
    main        the parser and ``main()`` (the ``noisegen`` console script)
    synth       `noisegen synth`: the camera on one image, to look at
    crf         `noisegen crf list|import|plot`
    generate    `noisegen generate`, `inspect`, `download`
    pack_pairs  `noisegen pack-pairs`
    stats       `noisegen stats`, `preview`
    calibrate   `noisegen calibrate`
    realism     `noisegen realism`
    profile     the options that choose a camera profile and pin its parameters (shared)
    output      what several subcommands share: list arguments, JSON outputs, skipped inputs
"""
