import sys

from backend.commands import main

sys.exit(main())
