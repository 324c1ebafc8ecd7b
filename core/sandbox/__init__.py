"""sandbox domain."""
