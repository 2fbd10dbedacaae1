"""Reports people read: volumes, charts and printable statements."""
