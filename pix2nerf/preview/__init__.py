"""Fast looks at one latent's field: a baked sparse grid for CPU views and orbits, animations, mesh export."""
