"""Solver backends behind one contract (:mod:`territory_opt.backends.contract`), found through
one registry (:mod:`territory_opt.backends.registry`)."""
