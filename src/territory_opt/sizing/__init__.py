"""Headcount sizing and rep bases: exact p-median solvers (uncapacitated and capacitated) on
HiGHS, readers for the literature's instances, and :func:`size_sales_force`, the planner's
question: how many reps, based where."""

from territory_opt.sizing.headcount import (
    Attempt,
    Candidates,
    SizingResult,
    city_candidates,
    combine,
    home_candidates,
    read_candidates,
    size_sales_force,
    write_sizing,
)
from territory_opt.sizing.instances import (
    CpmpInstance,
    PMedianInstance,
    cpmp_instances,
    euclidean,
    instances_root,
    pmed_instances,
    read_cpmp,
    read_pmed,
)
from territory_opt.sizing.pmedian import (
    NO_SITE,
    LagrangianBound,
    MedianResult,
    greedy_medians,
    lagrangian_bound,
    solve_capacitated,
    solve_pmedian,
)

__all__ = ["NO_SITE", "Attempt", "Candidates", "CpmpInstance", "LagrangianBound",
           "MedianResult", "PMedianInstance", "SizingResult", "city_candidates", "combine",
           "cpmp_instances", "euclidean", "greedy_medians", "home_candidates", "instances_root",
           "lagrangian_bound", "pmed_instances", "read_candidates", "read_cpmp", "read_pmed",
           "size_sales_force", "solve_capacitated", "solve_pmedian", "write_sizing"]
