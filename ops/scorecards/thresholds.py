"""The scorecard's thresholds (defined through ``ops.decisions``): volume rule, late-lane flag, weights, bands, target.

Weights are percentages that must sum to 100, one set for carriers and one for suppliers
(:func:`ops.scorecards.page.weights_problem` names any other sum, and the form saves nothing then).
Bands are score thresholds, shared by both: a score at or above *excellent* is excellent, else at
or above *meets* meets, else at or above *at risk* is at risk, else failing.
"""

from __future__ import annotations

from ops.decisions import define_threshold
from ops.scorecards.metrics import LATE_LANE_THRESHOLD, MIN_VOLUME_THRESHOLD, PAGE

# criterion -> (threshold name, label, default weight %, the measure's column)
CRITERIA: dict[str, tuple[str, str, float, str]] = {
    "on_time": ("scorecard_weight_on_time", "Weight: on-time delivery", 60.0, "on_time_rate"),
    "first_attempt": ("scorecard_weight_first_attempt", "Weight: first-attempt delivery", 20.0,
                      "first_attempt_rate"),
    "intact": ("scorecard_weight_intact", "Weight: arrived intact", 20.0, "intact_rate"),
}
# The supplier score's criteria (same bands): PO lines on time, in full, and free of defects
# (1 - the defect-return rate of the supplier's SKUs, from the returns page).
SUPPLIER_CRITERIA: dict[str, tuple[str, str, float, str]] = {
    "on_time": ("scorecard_supplier_weight_on_time", "Supplier weight: PO lines on time", 40.0, "on_time_rate"),
    "in_full": ("scorecard_supplier_weight_in_full", "Supplier weight: PO lines in full", 40.0, "in_full_rate"),
    "quality": ("scorecard_supplier_weight_quality", "Supplier weight: free of defects", 20.0, "quality_rate"),
}
WEIGHT_THRESHOLDS = tuple(v[0] for v in CRITERIA.values())
SUPPLIER_WEIGHT_THRESHOLDS = tuple(v[0] for v in SUPPLIER_CRITERIA.values())
# band -> (threshold name, default score %); checked from the top
BANDS: dict[str, tuple[str, float]] = {
    "excellent": ("scorecard_band_excellent", 95.0),
    "meets": ("scorecard_band_meets", 90.0),
    "at risk": ("scorecard_band_at_risk", 80.0),
}
BAND_THRESHOLDS = tuple(v[0] for v in BANDS.values())
TARGET_THRESHOLD = "scorecard_on_time_target"
ALL_THRESHOLDS = (MIN_VOLUME_THRESHOLD, LATE_LANE_THRESHOLD, *WEIGHT_THRESHOLDS, *SUPPLIER_WEIGHT_THRESHOLDS,
                  *BAND_THRESHOLDS, TARGET_THRESHOLD)

define_threshold(MIN_VOLUME_THRESHOLD, label="Scorecard minimum volume", unit="shipments", default=20, min=1,
                 page=PAGE, plausible=(5, 500),
                 help="A carrier lane with fewer shipments than this in a week (or in the period) is shown but "
                      "not ranked, not flagged and not part of any benchmark.")
define_threshold(LATE_LANE_THRESHOLD, label="Late lane: on-time below", unit="%", default=50, page=PAGE,
                 plausible=(20, 95),
                 help="A carrier lane week with at least the minimum volume is flagged late when its on-time "
                      "delivery rate is below this.")
for _name, _label, _default, _col in CRITERIA.values():
    define_threshold(_name, label=_label, unit="%", default=_default, page=PAGE, plausible=(0, 100),
                     help="Share of the carrier score this criterion carries; the weights must sum to 100 %.")
for _name, _label, _default, _col in SUPPLIER_CRITERIA.values():
    define_threshold(_name, label=_label, unit="%", default=_default, page=PAGE, plausible=(0, 100),
                     help="Share of the supplier score this criterion carries; the weights must sum to 100 %.")
for _band, (_name, _default) in BANDS.items():
    define_threshold(_name, label=f"Band: {_band} from score", unit="%", default=_default, page=PAGE,
                     plausible=(50, 100),
                     help=f"A weighted score at or above this (and below the band above) is '{_band}'.")
define_threshold(TARGET_THRESHOLD, label="On-time delivery target", unit="%", default=95, page=PAGE,
                 scopes=("global", "carrier"), plausible=(50, 100),
                 help="The on-time delivery rate a carrier is asked to reach; set per carrier or for all.")
