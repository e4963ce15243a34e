"""Code quality (report Table 5): Radon over the package, the ``quality`` verb."""
