"""What we conclude: `clustering` (the one clustering: persistent counts, readings, the isotropic
reference), `condensation` (one layer's measure), `theory` (the initial-condensation predictions),
`analyze` (a whole run: steps, layers, series, theory, figures' data)."""
