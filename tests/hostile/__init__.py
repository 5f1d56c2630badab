"""The hostile-input suite (issue 12): every case builds its bad input, runs it, and asserts the outcome
(one line naming the input, the exit code, nothing lost, no temporary files left, damaged samples
counted). Rerun with ``python -m pytest -q tests/hostile``."""
