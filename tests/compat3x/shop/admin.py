from django.contrib import admin
from shop.models import Product

from pghistory_admin import HistoryAdminMixin


@admin.register(Product)
class ProductAdmin(HistoryAdminMixin, admin.ModelAdmin):
    pass
