import sys

from noisegen.cli.main import main

sys.exit(main())
