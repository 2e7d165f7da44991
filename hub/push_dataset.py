"""`python hub/push_dataset.py --help`: the command line of pix2nerf.hub.push_dataset."""

import sys

from pix2nerf.hub.push_dataset import main

if __name__ == "__main__":
    sys.exit(main())
