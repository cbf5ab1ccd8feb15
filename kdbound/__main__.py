import sys

from kdbound.cli.main import main

sys.exit(main())
