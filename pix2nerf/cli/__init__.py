"""The `pix2nerf` command."""
