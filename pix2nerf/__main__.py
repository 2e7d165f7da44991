import sys

from pix2nerf.cli.main import main

sys.exit(main())
