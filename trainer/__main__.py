"""`python -m trainer ...` = `noisegen-train ...` (also what torchrun runs: `torchrun ... -m trainer sn ...`)."""

import sys

from trainer.cli import main

if __name__ == "__main__":
    sys.exit(main())
