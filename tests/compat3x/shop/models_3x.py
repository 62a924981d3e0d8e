"""The tracked models as a django-pghistory 3.x project writes them (copied to shop/models.py).

The switch replaces ``pghistory`` by ``pghistory_core`` in this text, nothing else.
"""

import pghistory
from django.db import models


@pghistory.track(
    pghistory.UpdateEvent("price_changed", condition=pghistory.AnyChange("price")),
    fields=["price"],
    model_name="ProductPriceEvent",
)
@pghistory.track(pghistory.InsertEvent(), pghistory.UpdateEvent(), pghistory.DeleteEvent())
class Product(models.Model):
    sku = models.CharField(max_length=20, unique=True)
    price = models.DecimalField(max_digits=8, decimal_places=2)
    stock = models.IntegerField(default=0)
    note = models.TextField(blank=True)

    def __str__(self):
        return self.sku
