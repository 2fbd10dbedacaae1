"""Parameters of the synthetic national population.

Every number here is either taken from `shared/domain.md` (cited in
`docs/synthetic.md`) or is a behavioural parameter tuned so that the generated
data meets the calibration targets in `pbrkit.synth.calibration`. Parameters
are a plain typed object that serialises to JSON, so a generated dataset can be
traced to exactly the settings that made it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass

# Offence types of the OGRS3 model (domain.md section 7), with their OGRS3 terms.
OFFENCE_TYPES: tuple[str, ...] = (
    "violence", "theft", "burglary_other", "burglary_domestic", "robbery",
    "drugs", "fraud", "criminal_damage", "drink_driving", "other",
)
OGRS3_OFFENCE_TERMS: tuple[float, ...] = (
    0.0, 0.6612, 0.2406, -0.1239, -0.6348, 0.0772, 0.1599, 0.2050, -0.1214, -0.0607,
)
# Age bands of OGRS3: 18-20, 21-24, 25-29, 30-34, 35-39, 40-49, 50+
OGRS3_AGE_BREAKS: tuple[int, ...] = (21, 25, 30, 35, 40, 50)
OGRS3_AGE_SEX_MALE: tuple[float, ...] = (-0.6251, -1.0515, -1.1667, -1.3260, -1.3680, -1.4997, -2.0253)
OGRS3_AGE_SEX_FEMALE: tuple[float, ...] = (-0.8975, -1.0285, -1.0528, -1.1291, -1.4219, -1.5247, -2.4498)
OGRS3_COPAS = 1.25112
OGRS3_STATUS_REPEAT = 0.46306
OGRS3_STATUS_FIRST = 0.12614
OGRS3_INTERCEPT_2YR = 2.12170

# Sentences in the order of the data standard.
SENTENCES: tuple[str, ...] = ("custody_short", "custody_long", "community_order", "suspended_sentence")


@dataclass(frozen=True)
class SynthParams:
    """Behavioural parameters; defaults are the calibrated values."""

    # --- volume -------------------------------------------------------------
    # New people entering supervision per year at scale 1. Tuned so that
    # supervised episodes (first sentences plus resentencing) come to about
    # 220,000 a year before the ORA step (issue 2; domain.md s.2: ~200,000
    # offenders under CRC+NPS supervision).
    entrants_per_year: float = 140_000.0
    # Years simulated before the start date so that people already in the
    # system (repeat offenders) are present on day one.
    burn_in_years: int = 10
    # Offender Rehabilitation Act 2014: releases from custody under 12 months
    # supervised from this date (domain.md s.2).
    ora_date: dt.date = dt.date(2015, 2, 1)
    # Before ORA, young adults (under 21) released from short custody were
    # supervised (notice of supervision); this keeps custody_short in the 2011
    # baseline at a realistic small volume.
    young_adult_age: int = 21

    # --- people at entry ----------------------------------------------------
    female_share: float = 0.15  # women are ~15% of the probation caseload
    entry_age_min: int = 18
    entry_age_mean_excess: float = 10.0  # age - 18 ~ Gamma(shape, mean) at entry
    entry_age_shape: float = 1.6
    entry_prior_mean: float = 3.0  # previous (unsupervised) sanctions at first supervision
    entry_prior_shape: float = 0.8  # negative-binomial shape
    entry_sentence_probs: tuple[float, ...] = (0.06, 0.17, 0.52, 0.25)
    offence_type_probs: tuple[float, ...] = (0.25, 0.19, 0.04, 0.04, 0.03, 0.12, 0.05, 0.08, 0.07, 0.13)

    # --- risk of serious harm (tier) ----------------------------------------
    # logit P(high) = a + person harm propensity + offence and sentence terms;
    # calibrated to ~30% high (NPS) episodes; low vs medium by OGRS.
    high_intercept: float = -1.5
    high_person_sd: float = 1.4
    high_violent_offence: float = 1.3  # violence, robbery
    high_custody_long: float = 1.1
    high_female: float = -0.6
    medium_ogrs_cut: float = 45.0  # OGRS3 2-year % at or above which a non-high case is medium

    # --- offending ------------------------------------------------------------
    # Yearly rate of proven offending while at liberty:
    # log(rate) = rate_intercept + rate_ogrs_slope * (OGRS3 linear predictor)
    #             + sentence and tier terms + log(frailty), frailty ~ Gamma(k, 1/k).
    rate_intercept: float = 1.19
    rate_ogrs_slope: float = 0.6
    rate_high_tier: float = 0.1  # the high-risk cases who do offend, offend a little more
    # Many high-risk-of-harm cases are serious one-off offenders (sexual and
    # domestic offences) who rarely reoffend; the rest offend like anyone else.
    # This mixture gives NPS a low binary rate but a CRC-like frequency among
    # those who do reoffend (domain.md s.2: NPS 34.1% and 3.93 per reoffender).
    high_one_off_share: float = 0.40
    one_off_rate_factor: float = 0.1
    rate_custody_short: float = -0.05  # short-sentence prisoners: the most prolific (domain.md s.1)
    frailty_shape: float = 0.55
    # Desistance: a criminal career ends after an exponential time from entry
    # (mean in years); ageing within a career is carried by the OGRS age terms.
    # Without it repeat offenders would accumulate for ever and volumes never settle.
    career_mean_years: float = 4.0

    # --- courts ---------------------------------------------------------------
    # Offence to conviction/caution delay: lognormal. Median 75 days, with a
    # tail: about 17% take more than 6 months, so the 6-month wait matters.
    disposal_median_days: float = 75.0
    disposal_sigma: float = 0.9
    # Share of proven offences that bring a new sentence (community, suspended
    # or custody) rather than a fine, discharge or caution; rises with record.
    sentence_intercept: float = -1.2
    sentence_prior_slope: float = 0.25  # per log(1 + prior offences)
    # Sentence mix on resentencing (custody_short, custody_long, community, suspended)
    # at low record; each extra log-unit of record shifts weight to short custody.
    resentence_logits: tuple[float, ...] = (-0.55, -0.9, 0.7, 0.1)
    resentence_short_custody_prior_slope: float = 0.3
    # Days actually served (half the sentence, domain: release at half-way).
    short_custody_served_days: tuple[int, int] = (14, 180)
    long_custody_served_days_mean: float = 420.0

    # --- service events and transfers ----------------------------------------
    induction_due_days: int = 5
    resettlement_plan_due_days: int = -7  # due before release
    on_time_share: float = 0.82
    late_mean_days: float = 9.0
    not_done_share: float = 0.03
    audited_share: float = 0.2
    empty_share_when_audited: float = 0.08
    # CRC to NPS risk escalation: yearly rate per CRC episode.
    escalation_rate_per_year: float = 0.04
    prisons_per_area: int = 5

    def to_json_dict(self) -> dict:
        d = asdict(self)
        d["ora_date"] = self.ora_date.isoformat()
        return d
