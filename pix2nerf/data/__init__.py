"""Data for pix2nerf: `synthetic` makes procedural multi-view datasets (cars, chairs) in the project's cameras."""
