"""Fee for service: per episode, per case-month, fixed, or against a forecast.

The CRC contracts paid an annual price against a forecast volume, discounted
each year for the "learning curve", and reconciled at year end only for the
volumes outside a band. Volumes came in 15-48% below plan, so the band and the
reconciliation are where much of the money went; they are explicit lines here.
"""

from __future__ import annotations

from decimal import Decimal

from pbrkit.contracts.schema import Contract, Fee
from pbrkit.pay.inputs import PaymentInputs
from pbrkit.pay.quarters import quarter_label
from pbrkit.pay.statement import Line, format_pence, to_pence
from pbrkit.pay.term import contract_year, first_quarter, line


def learning_curve_factor(fee: Fee, year: int) -> Decimal:
    """The share of the list fee paid in contract year `year`: (1 - d)^(year - 1),
    to six decimal places, so the rate printed on the statement is the one used."""
    return ((1 - fee.learning_curve) ** (year - 1)).quantize(Decimal("0.000001"))


def forecast_volume(contract: Contract, inputs: PaymentInputs) -> Decimal:
    """Episodes a year the fee is paid against."""
    f = contract.fee.forecast
    if f.episodes_per_year is not None:
        return Decimal(f.episodes_per_year)
    base = inputs.baseline_volumes[f.baseline].get(contract.provider_id, 0)
    return Decimal(base) * f.baseline_factor


def gross_fee_lines(contract: Contract, inputs: PaymentInputs, q: int) -> list[Line]:
    fee, provider, label = contract.fee, contract.provider_id, quarter_label(q)
    lines: list[Line] = []
    if fee.per_episode is not None:
        started = inputs.new_episodes(provider, q)
        for sentence in sorted(started):
            weight = fee.sentence_weights.get(sentence, Decimal(1))
            rate = to_pence(fee.per_episode) * weight
            lines.append(line(
                "fee.episodes", f"fee.episodes:{sentence}",
                f"New {sentence.replace('_', ' ')} episodes at {format_pence(to_pence(fee.per_episode))} x {weight}",
                Decimal(started[sentence]), "episodes", rate,
                {"quarter": label, "sentence": sentence, "episodes": started[sentence], "weight": weight},
            ))
    if fee.forecast is not None:
        volume = forecast_volume(contract, inputs)
        lines.append(line(
            "fee.forecast", "fee.forecast",
            "A quarter of the forecast yearly volume at the price per episode",
            (volume / 4).quantize(Decimal("0.01")), "episodes", Decimal(to_pence(fee.forecast.price_per_episode)),
            {"quarter": label, "forecast_per_year": volume},
        ))
    if fee.per_case_month is not None:
        months = inputs.case_months[fee.supervision_months].get((provider, q), 0)
        lines.append(line(
            "fee.case_months", "fee.case_months", "Case-months supervised (open on the first of the month)",
            Decimal(months), "case-months", Decimal(to_pence(fee.per_case_month)),
            {"quarter": label, "case_months": months, "supervision_months": fee.supervision_months},
        ))
    if fee.fixed_per_quarter is not None:
        lines.append(line(
            "fee.fixed", "fee.fixed", "Fixed quarterly fee", Decimal(1), "quarters",
            Decimal(to_pence(fee.fixed_per_quarter)), {"quarter": label},
        ))
    return lines


def fee_lines(contract: Contract, inputs: PaymentInputs, q: int) -> list[Line]:
    """The quarter's fees after the learning-curve discount (no reconciliation)."""
    if contract.fee is None:
        return []
    lines = gross_fee_lines(contract, inputs, q)
    year = contract_year(contract, q)
    factor = learning_curve_factor(contract.fee, year)
    if factor != 1 and lines:
        gross = sum(x.amount for x in lines)
        lines.append(line(
            "fee.learning_curve", "fee.learning_curve",
            f"Learning-curve discount for contract year {year}", Decimal(gross), "pence of fees", factor - 1,
            {"contract_year": year, "yearly_discount": contract.fee.learning_curve, "gross_fees_pence": gross},
        ))
    return lines


def quarter_fees(contract: Contract, inputs: PaymentInputs, q: int) -> int:
    """Fees earned in quarter q, in pence: the base for money at risk and caps."""
    return sum(x.amount for x in fee_lines(contract, inputs, q))


def reconciliation_line(contract: Contract, inputs: PaymentInputs, q: int) -> Line | None:
    """At the end of each contract year, pay or claw back the episodes outside
    the forecast band, at that year's discounted price per episode."""
    fee = contract.fee
    if fee is None or fee.forecast is None or (q - first_quarter(contract)) % 4 != 3:
        return None
    year = contract_year(contract, q)
    quarters = range(q - 3, q + 1)
    actual = sum(sum(inputs.new_episodes(contract.provider_id, k).values()) for k in quarters)
    volume = forecast_volume(contract, inputs)
    upper = volume * (1 + fee.forecast.band)
    lower = volume * (1 - fee.forecast.band)
    outside = Decimal(actual) - upper if actual > upper else Decimal(actual) - lower if actual < lower else Decimal(0)
    rate = Decimal(to_pence(fee.forecast.price_per_episode)) * learning_curve_factor(fee, year)
    where = "above" if outside > 0 else "below" if outside < 0 else "within"
    return line(
        "fee.volume_reconciliation", f"fee.volume_reconciliation:year{year}",
        f"Year {year} volume reconciliation: {actual:,} episodes, {where} the forecast band",
        outside.quantize(Decimal("0.01")), "episodes outside the band", rate,
        {
            "contract_year": year, "quarters": [quarter_label(k) for k in quarters], "episodes": actual,
            "forecast_per_year": volume, "band": fee.forecast.band,
            "band_low": lower, "band_high": upper,
        },
    )
