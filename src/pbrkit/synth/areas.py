"""The 21 contract package areas (CPAs) of Transforming Rehabilitation.

Each CPA was built from police force areas. We size the synthetic caseload of
each CPA in proportion to its resident population (a stated proxy: probation
caseloads track population, though not exactly: urban areas run higher). The
figures are the 2011 Census usual resident populations of the constituent police
force areas, in millions, rounded to 0.01 and summed; they are a proxy for
relative size only, never reported as caseloads.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Area:
    area_id: str
    name: str
    police_force_areas: tuple[str, ...]
    population_m: float  # proxy for relative caseload, see module docstring

    @property
    def crc_id(self) -> str:
        return f"crc-{self.area_id}"


NPS_ID = "nps"

AREAS: tuple[Area, ...] = (
    Area("cumbria-lancashire", "Cumbria and Lancashire", ("Cumbria", "Lancashire"), 1.97),
    Area("durham-tees-valley", "Durham Tees Valley", ("Durham", "Cleveland"), 1.18),
    Area("northumbria", "Northumbria", ("Northumbria",), 1.43),
    Area("cheshire-greater-manchester", "Cheshire and Greater Manchester",
         ("Cheshire", "Greater Manchester"), 3.71),
    Area("merseyside", "Merseyside", ("Merseyside",), 1.38),
    Area("west-yorkshire", "West Yorkshire", ("West Yorkshire",), 2.23),
    Area("south-yorkshire", "South Yorkshire", ("South Yorkshire",), 1.34),
    Area("humberside-lincolnshire-north-yorkshire", "Humberside, Lincolnshire and North Yorkshire",
         ("Humberside", "Lincolnshire", "North Yorkshire"), 2.43),
    Area("derbyshire-leicestershire-nottinghamshire-rutland",
         "Derbyshire, Leicestershire, Nottinghamshire and Rutland",
         ("Derbyshire", "Leicestershire", "Nottinghamshire"), 3.09),
    Area("staffordshire-west-midlands", "Staffordshire and West Midlands",
         ("Staffordshire", "West Midlands"), 3.84),
    Area("warwickshire-west-mercia", "Warwickshire and West Mercia",
         ("Warwickshire", "West Mercia"), 1.74),
    Area("bench", "Bedfordshire, Northamptonshire, Cambridgeshire and Hertfordshire",
         ("Bedfordshire", "Northamptonshire", "Cambridgeshire", "Hertfordshire"), 3.24),
    Area("norfolk-suffolk", "Norfolk and Suffolk", ("Norfolk", "Suffolk"), 1.59),
    Area("essex", "Essex", ("Essex",), 1.72),
    Area("london", "London", ("Metropolitan Police", "City of London"), 8.18),
    Area("kent-surrey-sussex", "Kent, Surrey and Sussex", ("Kent", "Surrey", "Sussex"), 4.47),
    Area("thames-valley", "Thames Valley", ("Thames Valley",), 2.19),
    Area("hampshire-isle-of-wight", "Hampshire and Isle of Wight", ("Hampshire",), 1.94),
    Area("bristol-gloucestershire-somerset-wiltshire",
         "Bristol, Gloucestershire, Somerset and Wiltshire",
         ("Avon and Somerset", "Gloucestershire", "Wiltshire"), 2.91),
    Area("dorset-devon-cornwall", "Dorset, Devon and Cornwall",
         ("Dorset", "Devon and Cornwall"), 2.43),
    Area("wales", "Wales", ("Dyfed-Powys", "Gwent", "North Wales", "South Wales"), 3.06),
)

assert len(AREAS) == 21


def area_shares() -> list[float]:
    """Each area's share of the national caseload under the population proxy."""
    total = sum(a.population_m for a in AREAS)
    return [a.population_m / total for a in AREAS]
