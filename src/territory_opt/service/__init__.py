"""The HTTP service: other SPM tools submit scenarios as jobs, poll them, fetch plans and KPIs,
evaluate assignments and route leads (``territory-opt serve``; see ``docs/service.md``).

Modules: :mod:`.config` (settings, API keys), :mod:`.store` (jobs in SQL through SQLAlchemy),
:mod:`.inputs` (a request's scenario and tables → a validated :class:`Scenario`, no server
paths), :mod:`.worker` (solver processes), :mod:`.app` (the FastAPI routes).
"""
