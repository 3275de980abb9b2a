"""funcad.scipy.linalg."""
