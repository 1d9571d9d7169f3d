import sys

from siyu.cli import main

sys.exit(main())
