from django.contrib import admin

from pghistory_admin import HistoryAdminMixin

from shop.models import Product


@admin.register(Product)
class ProductAdmin(HistoryAdminMixin, admin.ModelAdmin):
    pass
