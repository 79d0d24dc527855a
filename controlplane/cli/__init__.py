"""The `mlcp` command line: thin commands over the library, one module per noun or verb.

Importing the CLI raises the garbage collector's young-generation threshold (as mypy does), before the
heavy imports below it: a plan decodes and builds hundreds of thousands of dicts, almost none of them in
cycles, and at the default threshold of 700 the collector took ~20% of a 1,000-tenant plan walking them.
"""

import gc

GC_THRESHOLD = (100_000, 50, 100)

gc.set_threshold(*GC_THRESHOLD)
