"""Small shared utilities: atomic file writes, devices, seeding."""
