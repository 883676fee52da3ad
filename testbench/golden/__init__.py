"""NumPy golden models: the specification every RTL result is checked against."""
