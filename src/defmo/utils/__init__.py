"""Small shared utilities: atomic file writes, tables in three formats, frozen configuration sections, devices, seeding."""
