"""Made-up but plausible shop data, drawn from a seeded ``random.Random``."""

from __future__ import annotations

import random
import unicodedata
from decimal import Decimal
from typing import Any

FIRST_NAMES = [
    "Amelia", "Ben", "Chloé", "Dmitri", "Emeka", "Fatima", "Giulia", "Hiro", "Ines", "Jonas",
    "Kavya", "Liam", "Mei", "Noah", "Olga", "Pedro", "Quinn", "Rosa", "Sven", "Tariq",
    "Uma", "Viktor", "Wen", "Ximena", "Yusuf", "Zoë",
]  # fmt: skip
LAST_NAMES = [
    "Adeyemi", "Bergström", "Costa", "Dubois", "Eriksen", "Fischer", "García", "Haddad",
    "Ivanova", "Jensen", "Kowalski", "López", "Müller", "Nakamura", "O'Brien", "Petrov",
    "Quispe", "Rossi", "Schmidt", "Tanaka", "Urquhart", "Varga", "Wójcik", "Yilmaz", "Zhang",
]  # fmt: skip
STREETS = [
    "Harbour Road", "Linden Allee", "Rue des Lilas", "Via Roma", "Mill Lane", "Kastanienweg",
    "Calle Mayor", "Station Street", "Birch Avenue", "Canal Walk",
]  # fmt: skip
CITIES = [
    ("Bristol", "BS1 4DJ", "United Kingdom"),
    ("Leipzig", "04109", "Germany"),
    ("Lyon", "69002", "France"),
    ("Bologna", "40121", "Italy"),
    ("Utrecht", "3511 AB", "Netherlands"),
    ("Porto", "4050-262", "Portugal"),
    ("Gdańsk", "80-831", "Poland"),
    ("Valencia", "46001", "Spain"),
]

ORIGINS = ["Ethiopia", "Colombia", "Kenya", "Guatemala", "Brazil", "Sumatra", "Rwanda", "Peru"]
ROASTS = ["light", "medium", "medium-dark", "dark"]
NOTES = [
    "blueberry",
    "cocoa",
    "jasmine",
    "caramel",
    "citrus",
    "hazelnut",
    "stone fruit",
    "molasses",
]
COLORS = ["slate", "sand", "forest green", "terracotta", "ivory", "midnight blue"]

# Category name -> SKU prefix. "Seasonal" is deleted halfway through the simulation.
CATEGORIES = {
    "Coffee": "COF",
    "Tea": "TEA",
    "Brewing gear": "BRW",
    "Mugs & cups": "MUG",
    "Grinders": "GRD",
    "Accessories": "ACC",
    "Gift sets": "GFT",
    "Seasonal": "SEA",
}
SEASONAL = "Seasonal"
REPRICED = "Coffee"

_GEAR = ["Pour-over dripper", "French press", "Moka pot", "Cold brew jar", "Gooseneck kettle"]
_ACCESSORIES = ["Paper filters", "Brew scale", "Milk jug", "Tamper", "Thermometer", "Canister"]
_SEASONAL = ["Winter spice blend", "Gingerbread syrup", "Advent calendar", "Holiday mug"]
_SENTENCES = [
    "Sourced directly from a cooperative we have worked with for years.",
    "Packed by hand in our workshop and shipped within two working days.",
    "A reliable everyday choice that rewards a little care when brewing.",
    "Dishwasher safe, though a quick rinse by hand keeps it looking new.",
    "Our baristas' favourite for filter brewing at home.",
    "Limited batch: once it is gone, it is gone until next season.",
    "Made to last, with spare parts available for at least ten years.",
    "Pairs well with a medium grind and water just off the boil.",
]


def person(rng: random.Random) -> str:
    return f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}"


def email(name: str, serial: int) -> str:
    # ASCII only: Django's EmailField rejects accented local parts, and staff edit these rows.
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    local = ascii_name.lower().replace(" ", ".").replace("'", "")
    return f"{local}.{serial}@example.com"


def address(rng: random.Random, name: str) -> str:
    city, postcode, country = rng.choice(CITIES)
    return f"{name}\n{rng.randint(1, 180)} {rng.choice(STREETS)}\n{postcode} {city}\n{country}"


def description(rng: random.Random, paragraphs: int = 1) -> str:
    return "\n\n".join(" ".join(rng.sample(_SENTENCES, 3)) for _ in range(paragraphs))


def long_description(name: str) -> str:
    """A rewrite long enough to need a collapsed diff (about 2,000 characters)."""
    sections = [
        f"{name} — the full story.",
        "Origin. " + " ".join(_SENTENCES[:4]),
        "Brewing. Start with 15 g per 250 ml, water at 94 °C, and a two-minute bloom. "
        "Adjust the grind before the dose: finer if it tastes sour, coarser if bitter. "
        "For espresso, aim for 18 g in and 36 g out in 28 to 32 seconds.",
        "Storage. Keep the bag sealed, away from light and heat. Do not refrigerate: "
        "moisture condenses every time the bag is opened.",
        "Sustainability. " + " ".join(_SENTENCES[4:]),
        "Questions? Our support team answers within one working day, in English, French, "
        "German, Italian and Spanish.",
    ]
    return "\n\n".join(sections * 2)


def price(rng: random.Random, low: int, high: int) -> Decimal:
    return Decimal(rng.randint(low * 100, high * 100)) / 100


def product(rng: random.Random, category: str) -> tuple[str, Decimal, dict[str, Any]]:
    """Name, price and attributes of a new product of ``category``."""
    if category == "Coffee":
        origin = rng.choice(ORIGINS)
        roast = rng.choice(ROASTS)
        attributes = {
            "origin": origin,
            "roast": roast,
            "weight_g": rng.choice([250, 500, 1000]),
            "tasting_notes": rng.sample(NOTES, 3),
        }
        return f"{origin} {roast} roast", price(rng, 8, 32), attributes
    if category == "Tea":
        kind = rng.choice(["Sencha", "Oolong", "Assam", "Darjeeling", "Rooibos", "Earl Grey"])
        return (
            f"{kind} loose leaf",
            price(rng, 6, 24),
            {"kind": kind.lower(), "weight_g": rng.choice([50, 100, 250])},
        )
    if category == "Brewing gear":
        item = rng.choice(_GEAR)
        capacity = rng.choice([350, 600, 1000])
        return (
            f"{item} {capacity} ml",
            price(rng, 18, 90),
            {"capacity_ml": capacity, "material": rng.choice(["glass", "steel", "ceramic"])},
        )
    if category == "Mugs & cups":
        color = rng.choice(COLORS)
        return (
            f"{color.capitalize()} stoneware mug",
            price(rng, 9, 28),
            {"color": color, "capacity_ml": rng.choice([250, 330, 400]), "dishwasher_safe": True},
        )
    if category == "Grinders":
        electric = rng.random() < 0.5
        return (
            f"{'Electric' if electric else 'Hand'} burr grinder",
            price(rng, 45, 320),
            {"burr": rng.choice(["conical", "flat"]), "settings": rng.choice([30, 40, 60])},
        )
    if category == "Gift sets":
        contents = rng.sample(["beans", "mug", "filters", "tea", "scale", "chocolate"], 3)
        return f"Gift set: {', '.join(contents)}", price(rng, 25, 80), {"contents": contents}
    if category == SEASONAL:
        return rng.choice(_SEASONAL), price(rng, 5, 40), {"season": "winter"}
    item = rng.choice(_ACCESSORIES)
    return item, price(rng, 4, 60), {"material": rng.choice(["paper", "steel", "bamboo"])}


def changed_attributes(rng: random.Random, attributes: dict[str, Any]) -> dict[str, Any]:
    """``attributes`` with one realistic edit: a changed value, a new key or a removed one."""
    result = dict(attributes)
    choice = rng.random()
    if "roast" in result and choice < 0.4:
        result["roast"] = rng.choice([r for r in ROASTS if r != result["roast"]])
    elif "tasting_notes" in result and choice < 0.7:
        result["tasting_notes"] = [*result["tasting_notes"][1:], rng.choice(NOTES)]
    elif "certifications" in result:
        del result["certifications"]
    else:
        result["certifications"] = rng.sample(["organic", "fairtrade", "rainforest"], 2)
    return result
