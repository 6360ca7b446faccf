"""Carbon intensity of electricity: providers behind one protocol, and the embedded default."""
