import sys

from ketamon.cli import main

sys.exit(main())
