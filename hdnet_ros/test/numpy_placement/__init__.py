"""Main's numpy placement fit, kept as the compiled kernel's reference."""
