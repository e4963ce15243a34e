"""Small shared utilities: atomic file writes, tables in three formats, devices, seeding."""
