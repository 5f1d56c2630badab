import sys

from noisegen.cli import main

sys.exit(main())
