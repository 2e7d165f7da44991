"""From latent codes to pixels: cameras and rays, samples along rays, volume integration, empty-space skipping."""
