"""Training of the optional learned parts on the synthetic benchmark's data (needs torch)."""
