"""GPU kernels: everything that imports Triton (fused inference pass, training layer kernels) and the objects that
choose between them and the reference maths."""
