"""`python hub/push_space.py --help`: the command line of pix2nerf.hub.push_space."""

import sys

from pix2nerf.hub.push_space import main

if __name__ == "__main__":
    sys.exit(main())
