"""The request layer of the app and its API, without Gradio: uploads, the per-image cache, views, orbits, meshes."""
