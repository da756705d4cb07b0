"""``python -m fastload`` runs the command-line interface."""

import sys

try:
    from fastload.cli import main
except KeyboardInterrupt:  # Ctrl-C while the interpreter imports: one line, no traceback
    print("interrupted", file=sys.stderr)
    sys.exit(130)

sys.exit(main())
