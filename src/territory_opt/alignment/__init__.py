"""The alignment family: formulation, candidate pairs, relaxations, the heuristic engine,
diagnosis and decomposition."""
