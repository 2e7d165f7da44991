"""Radiance fields: codes from a latent, then density and colour at points (the SIREN of pi-GAN)."""
