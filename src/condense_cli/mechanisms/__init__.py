"""The mechanisms the papers give for condensation, measured on a network: the embedding
principle (`embedding`: one-step splitting and null embeddings), the loss landscape around a
network in float64 (`landscape`: exact Hessian, inertia, a polish to a critical point) and the
model rank (`rank`: the Jacobian's rank, and that of the narrow network the clusters imply).
`embed.embed_run` puts them together for `condense embed`. The stated tolerances are defined here,
where the CLI reads them without loading NumPy."""

ZERO_TOL = 1e-11  # |λ| ≤ this counts as zero (embedding principle, NeurIPS 2021, Fig. 3)
POLISH_BAR = 1e-10  # `landscape.polish` drives the gradient's L1 norm to at most this
