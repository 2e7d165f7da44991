"""The paper's and pi-GAN's checkpoints: reading them without running their code, and converting them."""
