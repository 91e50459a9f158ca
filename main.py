"""nlviz entry point: ``python main.py`` opens the app, ``python main.py record ...`` runs headless."""
import sys

from nlviz.cli import main

if __name__ == "__main__":
    sys.exit(main())
