import sys

from nlviz.cli import main

sys.exit(main())
