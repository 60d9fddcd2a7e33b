"""`python -m condense_cli` runs the CLI."""
from .cli import main

main()
