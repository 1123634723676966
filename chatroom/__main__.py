"""`python -m chatroom`."""

import sys

from chatroom.app import main

sys.exit(main())
