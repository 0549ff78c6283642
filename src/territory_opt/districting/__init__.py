"""Districting: geographic units into k territories, each connected in the adjacency graph."""
