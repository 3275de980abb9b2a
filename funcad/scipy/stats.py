"""funcad.scipy.stats."""
