"""The ``noisegen`` command line: ``main`` builds one parser with a subcommand per job; each
subcommand module (synth, crf, profile, generate, stats) adds its commands and calls library code."""
