import sys

from apiproxy.cli import main

sys.exit(main())
