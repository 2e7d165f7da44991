"""Model cards, packaging and publishing to the Hugging Face hub (the scripts in the top-level hub/ call these)."""
