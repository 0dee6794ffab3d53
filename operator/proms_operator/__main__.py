"""`python -m proms_operator`: the same as the `proms-mcp` command."""

import sys

from proms_operator import main

sys.exit(main.main())
