"""python -m mbus COMMAND ...: the same as the `mbus` command (mbus.cli).

Host code (CPython): `import mbus` never imports this module or mbus.cli.
"""
import sys

from mbus.cli import main

if __name__ == "__main__":
    sys.exit(main())
