"""`python hub/push_model.py --help`: the command line of pix2nerf.hub.push_model."""

import sys

from pix2nerf.hub.push_model import main

if __name__ == "__main__":
    sys.exit(main())
