import sys

from vendorsim.cli import main

sys.exit(main())
