"""Typed schema of ``scenario.yaml`` (format version 1).

The pydantic models here are the single source of truth for the file format: the loader validates
against them, and ``docs/scenario.schema.json`` is generated from them (see :func:`json_schema`).
Every model forbids unknown keys, so a typo such as ``tolerence`` is reported instead of ignored.
"""

from __future__ import annotations

import codecs
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator
from pydantic_core import PydanticCustomError

NonNegative = Annotated[float, Field(ge=0)]
Share = Annotated[float, Field(ge=0, le=1)]


TABLE_PATH_HELP = "Table path relative to the YAML: .csv, .parquet, .geojson, .gpkg or .shp."
NOT_FILE_ENCODINGS = frozenset({"idna", "punycode", "unicode-escape", "raw-unicode-escape"})
"""Text codecs that are not a file's encoding (domain names, Python literals); punycode also
decodes in quadratic time, which an uploaded table must not be able to ask for."""


class _Strict(BaseModel):
    # No .inf or .nan: a non-finite limit, gap, weight or target would pass every bound check
    # (nan > 0 is false) and silently remove a limit or poison the objective.
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class _CsvOptions(_Strict):
    """How a CSV table is written, for the files Excel saves (a table section's settings)."""

    encoding: str | None = Field(
        None, description="CSV only: the text encoding, a Python codec name such as cp1252 "
        "(Excel 'CSV' on Windows), latin-1 or utf-16. Default: UTF-8 (a byte-order mark, as "
        "Excel's 'CSV UTF-8' writes, is skipped).")
    sep: Literal[",", ";", "\t", "|"] | None = Field(
        None, description="CSV only: the separator, one of ',' ';' tab ('\\t') '|'. Default: "
        "',', or ';' when the header has semicolons and no commas.")
    decimal: Literal[".", ","] = Field(
        ".", description="CSV only: the decimal mark of numbers, '.' or ',' (Excel in much of "
        "Europe; then set `sep`, e.g. ';'). Thousands separators are not read.")

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:  # LookupError: unknown, or a bytes codec such as base64 that cannot read text
            "x".encode(value)
            known = codecs.lookup(value).name not in NOT_FILE_ENCODINGS
        except (LookupError, UnicodeError):
            known = False
        if not known:
            raise PydanticCustomError(
                "encoding", "a text encoding Python knows, e.g. utf-8, cp1252 or latin-1")
        return value

    @field_validator("decimal")
    @classmethod
    def _decimal_is_not_sep(cls, value: str, info: ValidationInfo) -> str:
        if value == info.data.get("sep"):
            raise PydanticCustomError(
                "decimal", "a decimal mark other than the separator (with decimal ',', set "
                "sep to the file's separator, e.g. ';')")
        return value

    @model_validator(mode="after")
    def _settings_only_for_csv(self) -> _CsvOptions:
        used = [key for key, value in (("encoding", self.encoding), ("sep", self.sep))
                if value is not None] + (["decimal"] if self.decimal != "." else [])
        path = getattr(self, "path", None)
        if used and not str(path or "").lower().endswith(".csv"):
            raise ValueError(f"encoding, sep and decimal are for .csv tables only (given "
                             f"here: {', '.join(used)})")
        return self


class ItemsTable(_CsvOptions):
    """Where the items (accounts) are and which column holds what."""

    path: str = Field(description=TABLE_PATH_HELP)
    id: str = Field("id", description="Column with the unique item id.")
    latitude: str | None = Field(None, description="Column with WGS84 latitude in degrees.")
    longitude: str | None = Field(None, description="Column with WGS84 longitude in degrees.")
    x: str | None = Field(None, description="Column with projected x (needs `crs`).")
    y: str | None = Field(None, description="Column with projected y (needs `crs`).")
    crs: str | None = Field(None, description="CRS of x/y, e.g. 'EPSG:32617'.")
    attributes: list[str] | dict[str, str] = Field(
        default_factory=list,
        description="Numeric attributes: a list of column names, or a map name -> column.",
    )
    current: str | None = Field(None, description="Column with the current territory id.")
    lock: str | None = Field(None, description="Column with a territory id the item is locked to.")
    tags: list[str] | dict[str, str] = Field(
        default_factory=list,
        description="Categorical tags (segment, language...): columns, or a map name -> column.",
    )
    lock_state: str | None = Field(
        None, description="Column with each item's lock state: 'locked' (stays with its current "
        "territory; needs `current`), 'free', or 'leave' (must not stay with its current "
        "territory). Aliases: married, single, divorced; case is ignored; empty means free.")

    @model_validator(mode="after")
    def _one_coordinate_system(self) -> ItemsTable:
        has_geo = self.latitude is not None or self.longitude is not None
        has_xy = self.x is not None or self.y is not None
        if has_geo and has_xy:
            raise ValueError("give either latitude/longitude or x/y, not both")
        if has_xy and (self.x is None or self.y is None or self.crs is None):
            raise ValueError("projected coordinates need all of x, y and crs")
        if has_geo and (self.latitude is None or self.longitude is None):
            raise ValueError("give both latitude and longitude")
        return self

    def attribute_columns(self) -> dict[str, str]:
        """Attribute name -> column name."""
        return _as_mapping(self.attributes)

    def tag_columns(self) -> dict[str, str]:
        """Tag name -> column name."""
        return _as_mapping(self.tags)


class TerritoriesTable(_CsvOptions):
    """Where the territories (reps) are and which column holds what — or, for districting,
    just how many territories to draw (``count``)."""

    path: str | None = Field(None, description=TABLE_PATH_HELP)
    count: Annotated[int, Field(ge=1)] | None = Field(
        None, description="Districting only: draw this many territories, no table (their "
        "centres are chosen by the model).")
    id: str = Field("id", description="Column with the unique territory id.")
    name: str | None = Field(None, description="Column with a display name (rep name).")
    home_latitude: str | None = Field(None, description="Column with the home base latitude.")
    home_longitude: str | None = Field(None, description="Column with the home base longitude.")
    fte: str | None = Field(None, description="Column with the FTE share (default 1).")
    skills: str | None = Field(
        None, description="Column with skills separated by ';' (or ',' / '|')."
    )
    capacity: dict[str, str] = Field(
        default_factory=dict, description="Attribute name -> column with that territory's capacity."
    )
    region: str | None = Field(
        None, description="Column with the territory's region (decomposed solves: the "
        "regions are solved in parallel and stitched; without it, regions are clustered).")
    levels: list[str] | dict[str, str] = Field(
        default_factory=list, description="Alignment: the hierarchy above the territories, "
        "lowest level first (e.g. [district, region]): columns holding each territory's "
        "parent at that level, or a map level name -> column. Each parent belongs to one "
        "parent of the next level (a tree). Balance rules with `level` and rules.same_parent "
        "use them.")

    def level_columns(self) -> dict[str, str]:
        """Level name -> column, lowest level first."""
        return _as_mapping(self.levels)

    @model_validator(mode="after")
    def _both_home_columns(self) -> TerritoriesTable:
        if (self.home_latitude is None) != (self.home_longitude is None):
            raise ValueError("give both home_latitude and home_longitude, or neither")
        if (self.path is None) == (self.count is None):
            raise ValueError("give either path (a territories table) or count, not both")
        return self


class AccountsTable(_CsvOptions):
    """Districting: named accounts inside the units. Each account goes with its unit's
    territory unless it is locked to another; KPIs count units and accounts together."""

    path: str = Field(description=TABLE_PATH_HELP)
    id: str = Field("id", description="Column with the unique account id.")
    unit: str | None = Field(
        None, description="Column with the id of the unit the account lies in. Without it the "
        "account's location places it (the unit whose polygon holds the point): "
        "latitude/longitude, or the points of a geo table.")
    latitude: str | None = Field(None, description="Column with WGS84 latitude in degrees.")
    longitude: str | None = Field(None, description="Column with WGS84 longitude in degrees.")
    attributes: list[str] | dict[str, str] = Field(
        default_factory=list,
        description="Numeric attributes: a list of column names, or a map name -> column. A "
        "name the units also have adds up with theirs (rules and KPIs see the sum).",
    )
    current: str | None = Field(None, description="Column with the current territory id.")
    lock: str | None = Field(None, description="Column with a territory id the account is "
                             "locked to, whatever its unit's territory.")

    @model_validator(mode="after")
    def _unit_or_coordinates(self) -> AccountsTable:
        if (self.latitude is None) != (self.longitude is None):
            raise ValueError("give both latitude and longitude, or neither")
        return self

    def attribute_columns(self) -> dict[str, str]:
        """Attribute name -> column name."""
        return _as_mapping(self.attributes)


DistanceUnit = Literal["km", "mi", "min"]
"""The unit of a pair table's distances (and so of every distance, KPI and rule)."""


class PairCompletion(_Strict):
    """How a pair missing from the pair table gets its distance: great-circle km × ``detour``,
    in the table's unit (mi: ÷ 1.609344; min: ÷ ``speed_kmh`` × 60)."""

    detour: Annotated[float, Field(ge=1)] = Field(
        1.0, description="Road distance per great-circle km (1.3 is typical of roads).")
    speed_kmh: Annotated[float, Field(gt=0)] | None = Field(
        None, description="Average speed in km/h: turns km into minutes (unit: min only).")


class PairTable(_CsvOptions):
    """Per item-territory values: a distance matrix, territory-specific loads, sparse eligibility.

    Listed pairs override the defaults (great-circle km, the item's attribute value); unlisted
    pairs keep them, unless ``only_listed``.
    """

    path: str = Field(description=TABLE_PATH_HELP)
    item: str = Field("item", description="Column with the item id of each pair.")
    territory: str = Field("territory", description="Column with the territory id of each pair.")
    distance: str | None = Field(
        None, description="Column with the pair's distance in `unit` (replaces the completed "
        "great-circle distance)."
    )
    loads: dict[str, str] = Field(
        default_factory=dict,
        description="Attribute name -> column with the load the item puts on this territory "
        "(replaces the item's attribute value for this pair).",
    )
    only_listed: bool = Field(
        False, description="Only the listed pairs are allowed (locks still override)."
    )
    unit: DistanceUnit = Field(
        "km", description="Unit of the distance column: km, mi or min (drive minutes). Every "
        "distance KPI, rules.max_distance and the reports use it.")
    complete: PairCompletion | None = Field(
        None, description="How pairs missing from the table get a distance (great-circle km × "
        "detour, in the unit). Needed for a mi or min table that leaves pairs out (unless "
        "only_listed); a km table without it completes with great-circle km.")

    @model_validator(mode="after")
    def _speed_for_minutes(self) -> PairTable:
        c = self.complete
        if c is not None and self.unit == "min" and c.speed_kmh is None:
            raise ValueError("pairs.complete needs speed_kmh for unit: min (great-circle km "
                             "÷ speed_kmh × 60 gives minutes)")
        if c is not None and self.unit != "min" and c.speed_kmh is not None:
            raise ValueError(f"pairs.complete.speed_kmh only applies to unit: min (this table "
                             f"is in {self.unit})")
        return self


class BalanceRule(_Strict):
    """Keep each territory's load of ``attribute`` within ``±tolerance`` of its FTE-share target."""

    attribute: str
    tolerance: NonNegative = Field(description="Relative band: 0.05 means ±5% of target.")
    hard: bool = Field(True, description="Hard band, or soft with a penalty per unit outside.")
    penalty: NonNegative = Field(
        1.0, description="Soft rules only: objective cost per attribute unit outside the band."
    )
    level: str | None = Field(
        None, description="A level of territories.levels (e.g. district): the band is on each "
        "parent's load, within ±tolerance of its target (the sum of its territories' "
        "FTE-share targets). Default: each territory.")


class SameParent(_Strict):
    """Alignment: an item stays within its current territory's parent at ``level`` (needs
    items.current); or, with ``max_moves`` or ``price``, moves across are capped or priced."""

    level: str = Field(description="A level of territories.levels, e.g. region.")
    max_moves: Annotated[int, Field(ge=0)] | None = Field(
        None, description="At most this many items move to a territory of another parent "
        "(instead of none).")
    price: NonNegative | None = Field(
        None, description="Objective cost per item moved to a territory of another parent "
        "(instead of forbidding it); counted in the disruption term.")

    @model_validator(mode="after")
    def _one_mode(self) -> SameParent:
        if self.max_moves is not None and self.price is not None:
            raise ValueError("give max_moves or price, not both")
        return self


class Hierarchy(_Strict):
    """Alignment: how the upper levels of territories.levels are designed."""

    design: Literal["fixed", "joint"] = Field(
        "fixed", description="fixed: each territory keeps the parents of the territories "
        "table. joint: the solver also chooses each territory's parent at the lowest level "
        "(the levels above follow the table's tree), with the assignment in one model; each "
        "parent keeps at least one territory. Exact backends only.")


class DisruptionCap(_Strict):
    """At most ``max_share`` of ``attribute`` (or of the items, with ``attribute: items``) moves."""

    attribute: str = Field("items", description="An attribute name, or 'items' to count items.")
    max_share: Share


class AtMost(_Strict):
    """At most ``count`` items carrying ``tag`` in any one territory (e.g. key accounts)."""

    tag: str = Field(description="An item tag (declared under items.tags). An item carries it "
                     "when its value is `value`, or, without `value`, when the cell is non-empty "
                     "and not false, no, n or 0.")
    count: Annotated[int, Field(ge=1)] = Field(description="Most items with the tag per "
                                               "territory.")
    value: str | None = Field(None, description="The tag value that counts (default: any "
                              "non-empty value other than false, no, n, 0).")


class GroupRules(_Strict):
    """Alignment: account groups. Each is a hard rule, checked by `validate` before a solve."""

    together: list[str] = Field(
        default_factory=list, description="Columns of the items table (e.g. a parent company "
        "or buying group id): items sharing a non-empty value go to one territory.")
    apart: list[str] = Field(
        default_factory=list, description="Columns of the items table: items sharing a "
        "non-empty value all go to different territories.")
    at_most: list[AtMost] = Field(
        default_factory=list, description="Per territory, at most `count` items carrying "
        "`tag`.")


class Rules(_Strict):
    """Hard and soft rules of the alignment model."""

    balance: list[BalanceRule] = Field(default_factory=list)
    locks: dict[str, str] = Field(
        default_factory=dict, description="Item id -> territory id, in addition to a lock column."
    )
    eligibility: list[str] = Field(
        default_factory=list,
        description="Tag names; an item's tag value must be among its territory's skills.",
    )
    contiguity: bool = Field(
        True, description="Districting: every territory connected in the adjacency graph.")
    max_distance: Annotated[float, Field(gt=0)] | None = Field(
        None, description="No item further than this from its territory's home, in the "
        "scenario's distance unit (pairs.unit; km without a pair table)."
    )
    max_distance_km: Annotated[float, Field(gt=0)] | None = Field(
        None, description="Deprecated alias of max_distance for km scenarios."
    )

    @model_validator(mode="after")
    def _one_max_distance(self) -> Rules:
        if self.max_distance is not None and self.max_distance_km is not None:
            raise ValueError("rules.max_distance and rules.max_distance_km both given: keep "
                             "max_distance (max_distance_km is its deprecated km alias)")
        return self
    disruption: DisruptionCap | None = None
    groups: GroupRules | None = Field(
        None, description="Alignment: account groups that stay together, stay apart, or share "
        "a territory only up to a count.")
    same_parent: SameParent | None = Field(
        None, description="Alignment: items stay within their current parent at a level of "
        "territories.levels (or moves across are capped or priced).")


class TravelTerm(_Strict):
    """Travel: distance from home to item (great-circle km, or the pair table's distance in
    its unit), times ``attribute`` (e.g. visits)."""

    weight: NonNegative = 1.0
    attribute: str | None = Field(None, description="Per-item multiplier; none means 1.")


class DisruptionTerm(_Strict):
    """Disruption: ``weight`` per moved item, or per moved unit of ``per``."""

    weight: NonNegative = 0.0
    per: str = Field("items", description="'items', or an attribute name.")


class DispersionTerm(_Strict):
    """Districting: attribute-weighted distance of each unit to its territory's centre."""

    weight: NonNegative = 1.0
    attribute: str | None = Field(None, description="Per-unit weight (e.g. population); "
                                  "none means 1.")


class CutEdgesTerm(_Strict):
    """Districting: adjacency edges whose two units lie in different territories."""

    weight: NonNegative = 1.0


PRIORITY_CRITERIA = ("balance", "travel", "disruption", "compactness")
"""The criteria ``objective.priorities`` may order (docs/scenario-format.md, "Priorities")."""


class Priority(_Strict):
    """One level of ``objective.priorities``: a criterion, minimised after the levels above
    it, and how far later levels may let it rise above the value its level reached."""

    criterion: Literal["balance", "travel", "disruption", "compactness"] = Field(
        description="balance: Σ |load − target| / target over the territories and the "
        "attributes of rules.balance; travel: Σ distance × objective.travel.attribute; "
        "disruption: moved items, or moved units of objective.disruption.per; compactness: "
        "Σ distance² × objective.travel.attribute.")
    slack: NonNegative = Field(
        0.0, description="Later levels keep this criterion within (1 + slack) × the value its "
        "level reached: 0.05 gives up to 5%.")


class Objective(_Strict):
    """Weighted terms to minimise, or ``priorities`` (criteria solved in order) instead.
    Soft-balance penalties are set on each balance rule.

    Districting minimises one of ``dispersion``, ``cut_edges`` or, with territory homes,
    ``travel`` (from each home unit)."""

    travel: TravelTerm = Field(default_factory=TravelTerm)
    disruption: DisruptionTerm = Field(default_factory=DisruptionTerm)
    dispersion: DispersionTerm | None = None
    cut_edges: CutEdgesTerm | None = None
    priorities: list[Priority] | None = Field(
        None, description="Alignment, instead of weights: criteria minimised level by level, "
        "each level's value kept within its slack by the levels after it. travel.attribute and "
        "disruption.per still say what travel and disruption count; the weights must stay "
        "unset.")

    @model_validator(mode="after")
    def _one_districting_term(self) -> Objective:
        if self.dispersion is not None and self.cut_edges is not None:
            raise ValueError("choose one of dispersion and cut_edges")
        return self

    @model_validator(mode="after")
    def _priorities_instead_of_weights(self) -> Objective:
        if self.priorities is None:
            return self
        if not self.priorities:
            raise ValueError("objective.priorities is empty: list at least one criterion "
                             f"of {list(PRIORITY_CRITERIA)}, or leave it out")
        names = [p.criterion for p in self.priorities]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"objective.priorities lists {', '.join(twice)} more than once: "
                             "each criterion takes one level")
        weighted = [key for key, set_ in (
            ("objective.travel.weight", "weight" in self.travel.model_fields_set),
            ("objective.disruption.weight", "weight" in self.disruption.model_fields_set),
            ("objective.dispersion", self.dispersion is not None),
            ("objective.cut_edges", self.cut_edges is not None)) if set_]
        if weighted:
            raise ValueError(f"objective.priorities and {', '.join(weighted)} both given: "
                             "priorities replace the weights; keep one")
        return self


class Adjacency(_Strict):
    """Which units neighbour which (districting): from the polygons, or a table of pairs."""

    method: Literal["queen", "rook", "table"] = Field(
        "queen", description="queen: polygons sharing a border or a corner; rook: a border; "
        "table: the pairs listed in `path`.")
    path: str | None = Field(None, description="CSV of neighbour pairs (method: table).")
    a: str = Field("a", description="Column with one unit id of each pair.")
    b: str = Field("b", description="Column with the other unit id.")
    bridges: bool = Field(
        True, description="Join islands (parts of the map no border reaches) to the nearest "
        "unit of another part, so every territory can be connected.")

    @model_validator(mode="after")
    def _table_needs_path(self) -> Adjacency:
        if (self.method == "table") != (self.path is not None):
            raise ValueError("method: table needs path, and path needs method: table")
        return self


class LeadColumns(_Strict):
    """Leads: the lead-specific columns of the items (leads) table."""

    created: str = Field(description="Column with the lead's creation time (ISO 8601; UTC "
                         "unless it carries an offset).")
    value: str = Field(description="Column with the estimated deal value (>= 0).")
    score: str | None = Field(None, description="Column with a lead score in [0, 1]; it scales "
                              "the win rate by score / mean score.")
    account: str | None = Field(None, description="Column with the account the lead comes "
                                "from (for ownership, with `leads.owners`).")
    outcome: str | None = Field(None, description="History: column with won / lost (empty: "
                                "open or unknown).")
    amount: str | None = Field(None, description="History: column with the amount won.")
    days_to_close: str | None = Field(None, description="History: column with the days from "
                                      "creation to close.")


class RepColumns(_Strict):
    """Leads: the routing columns of the territories (reps) table."""

    capacity: str | None = Field(None, description="Column with the leads a rep takes per "
                                 "period (empty: no limit).")
    win_rate: str | None = Field(None, description="Column with the rep's win rate in [0, 1] "
                                 "where the win-rate table has no row (default 0.2).")
    days: str | None = Field(None, description="Availability: column with working days, e.g. "
                             "'Mon-Fri' or 'Mon;Wed;Fri' (empty: every day).")
    start: str | None = Field(None, description="Availability: column with the shift start, "
                              "'HH:MM' UTC.")
    end: str | None = Field(None, description="Availability: column with the shift end, "
                            "'HH:MM' UTC (before the start: the shift runs past midnight).")

    @model_validator(mode="after")
    def _start_and_end(self) -> RepColumns:
        if (self.start is None) != (self.end is None):
            raise ValueError("give both start and end, or neither")
        return self


class WinRates(_Strict):
    """Leads: a fit table of win rates per rep and lead tag values (e.g. per segment)."""

    path: str = Field(description=TABLE_PATH_HELP)
    rep: str = Field("rep", description="Column with the rep (territory) id.")
    by: list[str] = Field(description="Lead tags the rate depends on (item tag names), e.g. "
                          "[segment] or [segment, product].", min_length=1)
    rate: str = Field("win_rate", description="Column with the win rate in [0, 1].")


class Owners(_Strict):
    """Leads: which rep owns which account (a lead from an owned account goes to its owner)."""

    path: str = Field(description=TABLE_PATH_HELP)
    account: str = Field("account", description="Column with the account id.")
    rep: str = Field("rep", description="Column with the owning rep (territory) id.")


class Fairness(_Strict):
    """Leads: each rep's expected value within ±tolerance of ``total × fte / Σ fte``."""

    tolerance: NonNegative = Field(description="Relative band: 0.3 means ±30% of the rep's "
                                   "FTE share of the batch's expected value.")
    hard: bool = Field(True, description="Hard band (a batch that cannot keep it is "
                       "infeasible), or soft with `penalty` per unit of value outside.")
    penalty: NonNegative = Field(1.0, description="Soft only: objective cost per unit of "
                                 "expected value outside the band.")


PERIODS = ("day", "week", "month", "quarter")


class LeadsSection(_Strict):
    """``model: leads``: lead columns, rep columns, win rates, ownership, fairness, windows."""

    columns: LeadColumns
    reps: RepColumns = Field(default_factory=RepColumns)
    win_rates: WinRates | None = None
    owners: Owners | None = None
    ownership: bool = Field(True, description="A lead from an owned account goes to its "
                            "owner (when `owners` is given).")
    fairness: Fairness | None = None
    period: Literal["day", "week", "month", "quarter"] = Field(
        "week", description="Capacity period: a rep's capacity is per day, week (from Monday), "
        "month or quarter (UTC).")
    window: str = Field("1h", description="Policy replay: the optimized policy re-solves the "
                        "leads of each window, e.g. '15min', '1h', '1d'.",
                        pattern=r"^\s*\d+(\.\d+)?\s*(s|min|h|d)\s*$")


class Quotas(_Strict):
    """Quotas: a company target split over the territories by their share of an attribute
    (potential), optionally blended with their FTE share, within floors and caps."""

    target: Annotated[float, Field(gt=0)] = Field(
        description="Company target for the period (currency), split over the territories.")
    basis: str = Field(description="Attribute whose share of each territory splits the target, "
                       "e.g. potential.")
    fte_weight: Share = Field(
        0.0, description="Weight of the FTE share in the split: 0 splits by the basis share "
        "alone, 1 by FTE alone, 0.3 blends 70% basis share with 30% FTE share.")
    floor: Share | None = Field(
        None, description="No quota below this share of the territory's FTE-fair quota "
        "(target × FTE / total FTE), e.g. 0.7; at most 1.")
    cap: Annotated[float, Field(ge=1)] | None = Field(
        None, description="No quota above this multiple of the territory's FTE-fair quota, "
        "e.g. 1.5; at least 1.")
    round_to: Annotated[float, Field(gt=0)] | None = Field(
        None, description="Round quotas to this unit (e.g. 1000) by largest remainder: the "
        "total is kept when the target is a multiple of it, and a quota may end up to one unit "
        "past its floor or cap.")


class SolverSettings(_Strict):
    """Solver defaults; command-line flags override them."""

    backend: str = "auto"
    time_limit: Annotated[float, Field(gt=0)] = 60.0
    gap: NonNegative = 1e-4
    threads: Annotated[int, Field(ge=1)] | None = None
    seed: Annotated[int, Field(ge=0)] = 0
    candidates: Annotated[int, Field(ge=1)] | None = Field(
        None, description="Nearest territories offered per item (column generation adds any "
        "other the LP wants). Default: every pair up to 1M item × territory pairs for exact "
        "backends, 8 for the heuristic and beyond.")
    work_limit: Annotated[float, Field(gt=0)] | None = Field(
        None, description="Stop on this much deterministic effort instead of time (the "
        "backend's unit: `territory-opt backends`): the same scenario, seed, threads and work "
        "limit give the same plan on any machine load. The time limit is then not applied: "
        "choose N as the work a solve of the wanted length does (docs/backends.md).")


class OutlineLayer(_Strict):
    """A polygon layer drawn under the territories on the maps (country, state or region
    borders), from a GeoJSON, GeoPackage or Shapefile beside the YAML."""

    path: str = Field(description="Polygon file (.geojson, .gpkg, .shp), relative to the YAML.")


class MapSettings(_Strict):
    """How the maps draw the plan (nothing here changes a plan)."""

    outline: OutlineLayer | None = Field(
        None, description="Borders drawn under the territories on map.png and map.html. "
        "Default: the 48 US states when the items are in the contiguous US (bundled, "
        "offline), else none.")


class CrmColumns(_Strict):
    """CRM ids for ``territory-opt export`` (nothing here changes a plan): which columns of
    the items and territories tables hold the ids a CRM import matches on."""

    account_id: str | None = Field(
        None, description="Column of the items table with the CRM account (company) id, e.g. "
        "the Salesforce Account Id or the HubSpot Record ID. Default: the item id.")
    owner_id: str | None = Field(
        None, description="Column of the territories table with the CRM user id of the rep "
        "(Salesforce User Id; HubSpot owner email or user id). Default: the territory id.")
    territory_id: str | None = Field(
        None, description="Column of the territories table with the Salesforce Territory2 id. "
        "Default: the territory id.")


class ScenarioSpec(_Strict):
    """The whole ``scenario.yaml``."""

    version: Literal[1] = 1
    name: str | None = Field(None, description="Defaults to the folder name.")
    model: Literal["alignment", "districting", "leads"]
    items: ItemsTable
    territories: TerritoriesTable
    adjacency: Adjacency | None = Field(
        None, description="Districting: unit neighbours (default: queen, from the polygons).")
    accounts: AccountsTable | None = Field(
        None, description="Districting: named accounts that follow their unit's territory "
        "unless locked elsewhere.")
    leads: LeadsSection | None = Field(
        None, description="Leads: lead and rep columns, win rates, ownership, fairness.")
    pairs: PairTable | None = Field(
        None, description="Optional table of per item-territory distances and loads."
    )
    quotas: Quotas | None = Field(
        None, description="Split a company target into a quota per territory (alignment and "
        "districting).")
    rules: Rules = Field(default_factory=Rules)
    hierarchy: Hierarchy | None = Field(
        None, description="Alignment: fixed (default) or joint design of the levels above the "
        "territories (territories.levels).")
    objective: Objective = Field(default_factory=Objective)
    solver: SolverSettings = Field(default_factory=SolverSettings)
    map: MapSettings | None = Field(
        None, description="Map drawing: an outline layer for countries other than the US.")
    crm: CrmColumns | None = Field(
        None, description="CRM ids for `territory-opt export`: the items and territories "
        "columns holding account, owner (user) and Salesforce territory ids.")

    @model_validator(mode="after")
    def _hierarchy_levels(self) -> ScenarioSpec:
        levels = self.territories.level_columns()
        named = [(f"rules.balance.{n}.level", rule.level)
                 for n, rule in enumerate(self.rules.balance) if rule.level is not None]
        if self.rules.same_parent is not None:
            named.append(("rules.same_parent.level", self.rules.same_parent.level))
        for key, level in named:
            if level not in levels:
                raise ValueError(f"{key} is '{level}', not a level of territories.levels "
                                 f"({', '.join(levels) or 'none declared'})")
        if self.rules.same_parent is not None and self.items.current is None:
            raise ValueError("rules.same_parent needs items.current (each item's current "
                             "territory, whose parent it stays within)")
        if self.hierarchy is not None and self.hierarchy.design == "joint":
            if not levels:
                raise ValueError("hierarchy.design: joint needs territories.levels")
            if self.rules.same_parent is not None:
                raise ValueError("rules.same_parent needs hierarchy.design: fixed (the current "
                                 "parents it keeps are the table's)")
        return self

    @model_validator(mode="after")
    def _max_distance_in_unit(self) -> ScenarioSpec:
        unit = self.pairs.unit if self.pairs is not None else "km"
        if self.rules.max_distance_km is not None and unit != "km":
            raise ValueError(f"rules.max_distance_km is in km but pairs.unit is {unit}: use "
                             f"rules.max_distance (in {unit}) instead")
        return self

    @model_validator(mode="after")
    def _leads_section_only_for_leads(self) -> ScenarioSpec:
        if self.model == "leads" and self.leads is None:
            raise ValueError("model: leads needs a leads section (at least leads.columns."
                             "created and leads.columns.value)")
        if self.model != "leads" and self.leads is not None:
            raise ValueError("leads only applies to model: leads")
        if self.model == "leads" and self.quotas is not None:
            raise ValueError("quotas apply to model: alignment and districting (a leads "
                             "scenario allocates leads, not territories)")
        return self

    @model_validator(mode="after")
    def _districting_keys_only_for_districting(self) -> ScenarioSpec:
        if self.model != "alignment":
            grouped = [key for key, value in (("rules.groups", self.rules.groups),
                                              ("items.lock_state", self.items.lock_state),
                                              ("rules.same_parent", self.rules.same_parent),
                                              ("hierarchy", self.hierarchy),
                                              ("territories.levels",
                                               self.territories.levels or None))
                       if value is not None]
            grouped += [f"rules.balance.{n}.level" for n, rule in enumerate(self.rules.balance)
                        if rule.level is not None]
            if grouped:
                raise ValueError(f"{', '.join(grouped)} only apply to model: alignment")
        if self.model == "districting":
            return self
        used = [key for key, value in (("territories.count", self.territories.count),
                                       ("adjacency", self.adjacency),
                                       ("accounts", self.accounts),
                                       ("objective.dispersion", self.objective.dispersion),
                                       ("objective.cut_edges", self.objective.cut_edges))
                if value is not None]
        if used:
            raise ValueError(f"{', '.join(used)} only apply to model: districting")
        return self


    @model_validator(mode="after")
    def _priorities_have_their_data(self) -> ScenarioSpec:
        priorities = self.objective.priorities
        if priorities is None:
            return self
        if self.model != "alignment":
            raise ValueError("objective.priorities only apply to model: alignment")
        for i, p in enumerate(priorities):
            if p.criterion == "disruption" and self.items.current is None:
                raise ValueError(f"objective.priorities.{i}: disruption needs items.current "
                                 "(the current territory of each item), which is not given")
            if p.criterion == "balance" and not self.rules.balance:
                raise ValueError(f"objective.priorities.{i}: balance needs rules.balance (the "
                                 "attributes to balance), which lists none")
        soft = [f"rules.balance.{i}" for i, r in enumerate(self.rules.balance) if not r.hard]
        if soft:
            raise ValueError(f"objective.priorities and soft balance rules ({', '.join(soft)}, "
                             "hard: false) both given: a soft band's penalty is a weight; make "
                             "the band hard, and list balance among the priorities")
        return self


def _as_mapping(spec: list[str] | dict[str, str]) -> dict[str, str]:
    return {name: name for name in spec} if isinstance(spec, list) else dict(spec)


def json_schema() -> dict[str, Any]:
    """JSON Schema of ``scenario.yaml``, generated from :class:`ScenarioSpec`."""
    schema = ScenarioSpec.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "territory-opt scenario (version 1)"
    return schema
