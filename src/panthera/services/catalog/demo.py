"""A believable, deterministic demo catalog, loaded through the catalog's own use cases,
with pictures from a small shared set (`demo_media`).

The same seed and size always give the same categories and products, so
demos, screenshots and benchmarks are repeatable.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from panthera.services.catalog import categories, demo_media
from panthera.services.catalog.products import count_products, import_products
from panthera.services.catalog.runtime import CatalogRuntime
from panthera.services.catalog.schemas import CategoryCreate, ProductCreate


@dataclass(frozen=True)
class Aisle:
    materials: tuple[str, ...]
    items: tuple[tuple[str, int, int], ...]
    """(product noun, lowest price, highest price), prices in cents."""


@dataclass(frozen=True)
class Department:
    name: str
    adjectives: tuple[str, ...]
    features: tuple[str, ...]
    aisles: dict[str, Aisle]


DEPARTMENTS = (
    Department(
        "Footwear",
        ("Lightweight", "Waterproof", "Cushioned", "Breathable", "Classic", "All-weather"),
        ("a grippy rubber outsole", "a removable insole", "a padded collar", "reflective details"),
        {
            "Running shoes": Aisle(
                ("engineered mesh", "recycled knit"),
                (("Running Shoe", 4999, 18999), ("Trail Shoe", 6999, 21999)),
            ),
            "Boots": Aisle(
                ("full-grain leather", "suede", "waxed nubuck"),
                (("Hiking Boot", 7999, 29999), ("Chelsea Boot", 8999, 24999)),
            ),
            "Sandals": Aisle(
                ("cork and leather", "EVA foam", "woven webbing"),
                (("Sandal", 1999, 8999), ("Slide", 999, 3999)),
            ),
            "Sneakers": Aisle(
                ("canvas", "leather", "suede"),
                (("Sneaker", 3999, 14999), ("High-Top Sneaker", 5999, 17999)),
            ),
        },
    ),
    Department(
        "Clothing",
        ("Slim-fit", "Relaxed", "Organic", "Insulated", "Stretch", "Everyday"),
        ("flat-lock seams", "a tag-free collar", "zipped pockets", "a brushed inner face"),
        {
            "Jackets": Aisle(
                ("recycled nylon", "waxed cotton", "softshell"),
                (("Rain Jacket", 5999, 24999), ("Down Jacket", 9999, 39999)),
            ),
            "Shirts": Aisle(
                ("cotton", "linen", "organic cotton"),
                (("Oxford Shirt", 2999, 8999), ("T-Shirt", 1299, 3999)),
            ),
            "Trousers": Aisle(
                ("cotton twill", "stretch denim", "corduroy"),
                (("Chinos", 3999, 9999), ("Jeans", 4999, 12999)),
            ),
            "Knitwear": Aisle(
                ("merino wool", "lambswool", "cashmere blend"),
                (("Sweater", 3999, 14999), ("Cardigan", 4999, 15999)),
            ),
        },
    ),
    Department(
        "Kitchen",
        ("Professional", "Compact", "Heavy-duty", "Heritage", "Everyday", "Induction-ready"),
        ("a riveted handle", "dishwasher-safe parts", "an even-heating base", "a 10-year warranty"),
        {
            "Cookware": Aisle(
                ("cast iron", "tri-ply stainless steel", "carbon steel", "enamelled cast iron"),
                (("Frying Pan", 1999, 14999), ("Dutch Oven", 4999, 29999)),
            ),
            "Knives": Aisle(
                ("German steel", "Damascus steel", "high-carbon steel"),
                (("Chef's Knife", 2999, 19999), ("Paring Knife", 999, 5999)),
            ),
            "Small appliances": Aisle(
                ("brushed steel", "BPA-free plastic"),
                (("Blender", 3999, 29999), ("Toaster", 2499, 9999)),
            ),
            "Coffee": Aisle(
                ("stainless steel", "borosilicate glass"),
                (("Espresso Machine", 9999, 89999), ("Pour-Over Kettle", 2999, 8999)),
            ),
        },
    ),
    Department(
        "Home",
        ("Minimalist", "Handmade", "Scandinavian", "Rustic", "Modern", "Vintage-style"),
        ("easy assembly", "a scratch-resistant finish", "a five-year guarantee", "felt pads"),
        {
            "Lighting": Aisle(
                ("brass", "powder-coated steel", "oak"),
                (("Desk Lamp", 2499, 14999), ("Floor Lamp", 4999, 24999)),
            ),
            "Furniture": Aisle(
                ("solid oak", "walnut veneer", "rattan"),
                (("Side Table", 4999, 29999), ("Bookshelf", 7999, 49999)),
            ),
            "Bedding": Aisle(
                ("washed linen", "percale cotton", "cotton sateen"),
                (("Duvet Cover", 3999, 14999), ("Pillowcase Set", 1499, 6999)),
            ),
            "Decor": Aisle(
                ("stoneware", "hand-blown glass", "brass"),
                (("Vase", 1499, 9999), ("Wall Mirror", 3999, 19999)),
            ),
        },
    ),
    Department(
        "Electronics",
        ("Wireless", "Noise-cancelling", "Portable", "Smart", "Ultra-thin", "Rugged"),
        ("USB-C charging", "a 20-hour battery", "Bluetooth 5.3", "a two-year warranty"),
        {
            "Audio": Aisle(
                ("aluminium", "matte polymer"),
                (("Headphones", 4999, 39999), ("Bluetooth Speaker", 2999, 24999)),
            ),
            "Computer accessories": Aisle(
                ("aluminium", "PBT plastic"),
                (("Mechanical Keyboard", 4999, 19999), ("Mouse", 1499, 9999)),
            ),
            "Phone accessories": Aisle(
                ("silicone", "recycled plastic", "aluminium"),
                (("Phone Case", 999, 4999), ("Power Bank", 1999, 7999)),
            ),
            "Cameras": Aisle(
                ("magnesium alloy", "carbon fibre"),
                (("Action Camera", 14999, 49999), ("Tripod", 2499, 14999)),
            ),
        },
    ),
    Department(
        "Outdoors",
        ("Ultralight", "Four-season", "Packable", "Expedition", "Weatherproof", "Trail-tested"),
        ("taped seams", "a lifetime repair promise", "a compression sack", "YKK zips"),
        {
            "Camping": Aisle(
                ("ripstop nylon", "polyester canvas"),
                (("Tent", 9999, 59999), ("Sleeping Bag", 5999, 39999)),
            ),
            "Backpacks": Aisle(
                ("ripstop nylon", "recycled polyester"),
                (("Daypack", 3999, 14999), ("Trekking Backpack", 9999, 34999)),
            ),
            "Cycling": Aisle(
                ("polycarbonate", "aluminium"),
                (("Bike Helmet", 3999, 19999), ("Bike Light", 1499, 7999)),
            ),
        },
    ),
    Department(
        "Beauty",
        ("Fragrance-free", "Hydrating", "Vegan", "Soothing", "Travel-size", "Daily"),
        ("dermatologist testing", "recyclable packaging", "no parabens", "a pump dispenser"),
        {
            "Skincare": Aisle(
                ("shea butter", "hyaluronic acid", "vitamin C"),
                (("Face Cream", 1299, 7999), ("Cleanser", 899, 3999)),
            ),
            "Hair care": Aisle(
                ("argan oil", "aloe vera", "green tea"),
                (("Shampoo", 699, 2999), ("Conditioner", 699, 2999)),
            ),
        },
    ),
    Department(
        "Toys & Games",
        ("Educational", "Classic", "Family", "Award-winning", "Cooperative", "Pocket"),
        ("rounded edges", "non-toxic paints", "illustrated rules", "a storage box"),
        {
            "Board games": Aisle(
                ("recycled cardboard", "wooden pieces"),
                (("Board Game", 1999, 7999), ("Card Game", 999, 2999)),
            ),
            "Building sets": Aisle(
                ("beech wood", "recycled plastic"),
                (("Building Set", 1999, 14999), ("Marble Run", 2999, 8999)),
            ),
            "Plush": Aisle(
                ("organic cotton", "soft recycled fleece"),
                (("Plush Bear", 999, 4999), ("Plush Fox", 999, 4999)),
            ),
        },
    ),
)

BRANDS = (
    "Northwind", "Alder & Co", "Kestrel", "Bluefjord", "Solano", "Marlowe", "Ironbark",
    "Lumen", "Tidewater", "Cobalt Peak", "Hearthstone", "Juniper", "Verano", "Quillon",
    "Oakridge", "Saltmarsh", "Brightwell", "Fenwick", "Arctos", "Calder",
)  # fmt: skip
COLOURS = ("black", "white", "navy", "olive", "sand", "charcoal", "red", "teal", "grey", "rust")
SIZES = ("XS", "S", "M", "L", "XL")


async def ensure_categories(*, rt: CatalogRuntime) -> dict[str, uuid.UUID]:
    """The demo category tree, created where missing; sub-category name -> id."""
    _, existing = await categories.get_categories(rt=rt, offset=0, limit=10_000)
    by_slug = {c.slug: c.id for c in existing}
    aisles: dict[str, uuid.UUID] = {}
    for department in DEPARTMENTS:
        parent = by_slug.get(categories.slugify(department.name))
        if parent is None:
            created = await categories.create_category(
                rt=rt, data=CategoryCreate(name=department.name)
            )
            parent = created.id
        for aisle in department.aisles:
            slug = categories.slugify(f"{department.name} {aisle}")
            found = by_slug.get(slug)
            if found is None:
                data = CategoryCreate(name=aisle, slug=slug, parent_id=parent)
                found = (await categories.create_category(rt=rt, data=data)).id
            aisles[aisle] = found
    return aisles


def generate(
    count: int, aisles: dict[str, uuid.UUID], *, start: int = 0, seed: int = 42
) -> Iterator[ProductCreate]:
    """`count` products numbered from `start`; the same arguments give the same products."""
    for number in range(start, start + count):
        rng = random.Random(seed * 1_000_003 + number)
        department = DEPARTMENTS[number % len(DEPARTMENTS)]
        aisle = rng.choice(list(department.aisles))
        noun, low, high = rng.choice(department.aisles[aisle].items)
        brand = rng.choice(BRANDS)
        adjective = rng.choice(department.adjectives)
        material = rng.choice(department.aisles[aisle].materials)
        colour = rng.choice(COLOURS)
        features = rng.sample(department.features, 2)
        # Prices cluster low like a real shop's and end in 99 or 49.
        price = int(low * (high / low) ** (rng.random() ** 1.5)) // 100 * 100 + rng.choice((99, 49))
        name = f"{brand} {adjective} {noun}"
        coloured = department.name != "Beauty"
        if coloured and rng.random() < 0.5:
            name += f", {colour.title()}"
        description = (
            f"{adjective} {noun.lower()} by {brand}, in {material}. "
            f"Comes with {features[0]} and {features[1]}. "
            f"From our {aisle.lower()} range in {department.name.lower()}."
        )
        stock = 0 if rng.random() < 0.08 else int(rng.expovariate(1 / 40)) + 1
        yield ProductCreate(
            sku=f"{department.name[:3].upper()}-{number:07d}",
            name=name,
            description=description,
            price=min(price, high),
            currency="EUR",
            category_id=aisles[aisle],
            attributes={"brand": brand, "material": material}
            | ({"colour": colour} if coloured else {})
            | ({"size": rng.choice(SIZES)} if department.name == "Clothing" else {}),
            stock=min(stock, 500),
        )


async def seed(
    *,
    rt: CatalogRuntime,
    products: int,
    batch_size: int = 2_000,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Add `products` demo products (after any already there); returns how many were added."""
    aisles = await ensure_categories(rt=rt)
    pictures = await demo_media.store_pictures(rt=rt)
    start = await count_products(rt=rt)
    added = 0
    while added < products:
        size = min(batch_size, products - added)
        batch = list(generate(size, aisles, start=start + added))
        ids = await import_products(rt=rt, items=batch)
        numbered = list(enumerate(ids, start=start + added))
        await demo_media.attach(rt=rt, products=numbered, pictures=pictures)
        added += size
        if progress is not None:
            progress(size)
    return added
