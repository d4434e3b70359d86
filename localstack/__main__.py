"""python3 -m localstack demo|up|render-deploy ... (from the repository root)."""

import sys

from .cli import main

sys.exit(main())
