"""Vocabulary for the demo data: product names, supplier names, return reasons and comments.

Kept apart from :mod:`ops.demo` so the generator reads as logic, not word lists. Everything
here is plain constants; :mod:`ops.demo` picks from them with its seeded random generator.
"""

from __future__ import annotations

# category -> (share of the catalogue, price median, case pack, shipping weight kg, base return rate)
CATEGORIES: dict[str, tuple[float, float, int, float, float]] = {
    "Apparel": (0.30, 34.0, 12, 0.4, 0.11),
    "Footwear": (0.10, 79.0, 6, 1.1, 0.10),
    "Electronics": (0.14, 119.0, 4, 0.9, 0.045),
    "Home & Kitchen": (0.18, 42.0, 6, 2.2, 0.03),
    "Beauty": (0.12, 19.0, 24, 0.3, 0.02),
    "Sports & Outdoors": (0.10, 55.0, 6, 1.5, 0.04),
    "Toys": (0.06, 27.0, 8, 0.8, 0.025),
}

APPAREL_SIZES = ("XS", "S", "M", "L", "XL")
APPAREL_SIZE_SHARE = (0.10, 0.22, 0.30, 0.24, 0.14)
FOOTWEAR_SIZES = ("7", "8", "9", "10", "11")

NOUNS: dict[str, tuple[str, ...]] = {
    "Apparel": ("Tee", "Hoodie", "Crewneck Sweater", "Chino Pants", "Denim Jacket", "Polo Shirt", "Rain Shell",
                "Fleece Vest", "Oxford Shirt", "Joggers", "Cardigan", "Tank Top"),
    "Footwear": ("Runner", "Trail Shoe", "Loafer", "Chelsea Boot", "Slide Sandal", "Court Sneaker", "Hiking Boot"),
    "Electronics": ("Wireless Earbuds", "Bluetooth Speaker", "USB-C Hub", "Power Bank", "Smart Plug",
                    "Fitness Tracker", "Webcam", "Mechanical Keyboard", "Noise-Cancelling Headphones"),
    "Home & Kitchen": ("Chef Knife", "Cast Iron Skillet", "French Press", "Bath Towel Set", "Throw Blanket",
                       "Storage Bins", "Cutting Board", "Table Lamp", "Pour-Over Kettle", "Linen Sheets"),
    "Beauty": ("Face Serum", "Lip Balm", "Hand Cream", "Shampoo Bar", "Sunscreen SPF 50", "Clay Mask",
               "Body Wash"),
    "Sports & Outdoors": ("Yoga Mat", "Water Bottle", "Daypack", "Resistance Bands", "Camping Lantern",
                          "Trekking Poles", "Foam Roller"),
    "Toys": ("Building Blocks", "Puzzle 1000 pc", "Plush Bear", "Wooden Train Set", "Card Game", "Kite"),
}
ADJECTIVES = ("Classic", "Everyday", "Essential", "Premium", "Urban", "Coastal", "Alpine", "Studio", "Heritage",
              "Nordic", "Summit", "Metro", "Organic", "Pro", "Lite", "Signature")
COLOURS = ("Black", "Navy", "Olive", "Sand", "Grey", "White", "Rust", "Forest", "Charcoal", "Sky")

SUPPLIER_NAMES = ("Apex", "Brightline", "Cobalt", "Dunmore", "Evergreen", "Fairway", "Granite", "Harbor", "Ironwood",
                  "Juniper", "Keystone", "Lakeside", "Meridian", "Northgate", "Oakridge", "Pinnacle", "Quarry",
                  "Redwood", "Silverline", "Tidewater", "Upland", "Vantage", "Westbrook", "Yardley", "Zenith")
SUPPLIER_SUFFIXES = ("Textiles", "Manufacturing", "Trading Co.", "Goods", "Industries", "Supply", "Imports",
                     "Works")
# (city, region, country)
SUPPLIER_PLACES = (
    ("Dongguan", "GD", "CN"), ("Ningbo", "ZJ", "CN"), ("Ho Chi Minh City", "SG", "VN"), ("Dhaka", "DH", "BD"),
    ("Monterrey", "NL", "MX"), ("Los Angeles", "CA", "US"), ("Charlotte", "NC", "US"), ("Porto", "13", "PT"),
    ("Izmir", "35", "TR"), ("Taipei", "TPE", "TW"), ("Chicago", "IL", "US"), ("Bursa", "16", "TR"),
)

# Return reasons and the weight of each by category (apparel and footwear sizes shift the fit reasons).
REASONS = ("runs_small", "runs_large", "not_as_described", "defective", "damaged_in_transit", "wrong_item",
           "changed_mind", "late_delivery")
REASON_WEIGHTS: dict[str, tuple[float, ...]] = {
    #                   small large desc  defect damage wrong mind  late
    "Apparel":           (0.22, 0.18, 0.18, 0.05, 0.03, 0.04, 0.25, 0.05),
    "Footwear":          (0.20, 0.15, 0.15, 0.07, 0.04, 0.04, 0.30, 0.05),
    "Electronics":       (0.00, 0.00, 0.22, 0.38, 0.12, 0.06, 0.16, 0.06),
    "Home & Kitchen":    (0.00, 0.00, 0.25, 0.20, 0.22, 0.07, 0.20, 0.06),
    "Beauty":            (0.00, 0.00, 0.30, 0.15, 0.15, 0.10, 0.25, 0.05),
    "Sports & Outdoors": (0.00, 0.00, 0.25, 0.22, 0.12, 0.06, 0.29, 0.06),
    "Toys":              (0.00, 0.00, 0.25, 0.25, 0.15, 0.08, 0.21, 0.06),
}
# Multipliers on runs_small / runs_large by apparel size: small sizes run small, large run large.
SIZE_FIT = {"XS": (2.2, 0.3), "S": (1.6, 0.5), "M": (1.0, 1.0), "L": (0.6, 1.5), "XL": (0.3, 2.2),
            "7": (1.6, 0.5), "8": (1.2, 0.8), "9": (1.0, 1.0), "10": (0.8, 1.2), "11": (0.5, 1.7)}

# reason -> disposition weights over ops.models.DISPOSITIONS (restock, refurbish, liquidate, scrap)
DISPOSITION_WEIGHTS: dict[str, tuple[float, float, float, float]] = {
    "runs_small": (0.92, 0.0, 0.08, 0.0),
    "runs_large": (0.92, 0.0, 0.08, 0.0),
    "not_as_described": (0.70, 0.05, 0.20, 0.05),
    "defective": (0.0, 0.45, 0.20, 0.35),
    "damaged_in_transit": (0.05, 0.25, 0.35, 0.35),
    "wrong_item": (0.95, 0.0, 0.05, 0.0),
    "changed_mind": (0.90, 0.0, 0.10, 0.0),
    "late_delivery": (0.93, 0.0, 0.07, 0.0),
}

# Comment templates per reason; {item} is the product noun in lower case, {size} its size.
COMMENTS_EN: dict[str, tuple[str, ...]] = {
    "runs_small": ("Runs small, ordered {size} and it is tight across the shoulders.",
                   "Way too small. I normally wear {size} but this fits like a size down.",
                   "Size {size} is much smaller than the size chart says.",
                   "Too snug, need one size up.",
                   "The {item} runs at least a size small."),
    "runs_large": ("Runs large, the {size} is baggy.", "Too big, I'll reorder a size down.",
                   "Sleeves are far too long for a {size}.", "Fits like one size up."),
    "not_as_described": ("Colour is different from the photos.", "Material feels cheaper than described.",
                         "Not what the listing showed.", "The {item} is smaller than the pictures suggest."),
    "defective": ("Stopped working after two days.", "Arrived with a broken part.",
                  "Stitching came apart on first use.", "Does not turn on.", "Zip broke the first time I used it."),
    "damaged_in_transit": ("Box was crushed and the {item} was damaged.", "Arrived dented.",
                           "Packaging torn open, item scratched.", "Glass was cracked on arrival."),
    "wrong_item": ("Received the wrong colour.", "Got a different size than I ordered.",
                   "This is not the item I ordered."),
    "changed_mind": ("Changed my mind.", "Found something I like better.", "No longer needed.",
                     "Bought two sizes, keeping the other one.", "Gift did not suit."),
    "late_delivery": ("Arrived too late for the event.", "Took {days} days to arrive, no longer needed.",
                      "Delivery was late, I bought it elsewhere."),
}
# A few comments in other languages, as real shops receive them.
COMMENTS_OTHER: dict[str, tuple[str, ...]] = {
    "runs_small": ("Talla pequeña, pedí una {size} y me queda justa.",
                   "Taille trop petite, il me faut la taille au-dessus.", "Fällt zu klein aus.",
                   "Veste pequeno, troquei por um tamanho maior."),
    "runs_large": ("Talla grande, me queda ancho.", "Taille trop grande.", "Fällt zu groß aus."),
    "not_as_described": ("No es como en la foto.", "Ne correspond pas à la description.",
                         "Farbe anders als abgebildet."),
    "defective": ("Llegó roto.", "Ne fonctionne pas.", "Funktioniert nicht.", "Chegou com defeito."),
    "damaged_in_transit": ("La caja llegó aplastada.", "Colis abîmé à la livraison.", "Paket beschädigt."),
    "wrong_item": ("Artículo equivocado.", "Mauvais article reçu.", "Falscher Artikel."),
    "changed_mind": ("Ya no lo necesito.", "J'ai changé d'avis.", "Nicht mehr benötigt.", "Desisti da compra."),
    "late_delivery": ("Llegó demasiado tarde.", "Livraison trop tardive.", "Lieferung kam zu spät."),
}
