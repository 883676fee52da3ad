"""Hand-built tile programs: configuration, kernel arguments and golden model of each."""
