"""Admin of the shop; ``HistoryAdminMixin`` turns each History button into the event timeline."""

from __future__ import annotations

from decimal import Decimal

from django.contrib import admin
from django.db.models import Count, DecimalField, F, QuerySet, Sum
from django.db.models.functions import Coalesce
from django.http import HttpRequest

from example_project.shop.models import Category, Customer, Order, OrderLine, Product
from pghistory_admin.admin import HistoryAdminMixin


@admin.register(Customer)
class CustomerAdmin(HistoryAdminMixin, admin.ModelAdmin):
    list_display = ["name", "email", "is_vip"]
    list_filter = ["is_vip"]
    search_fields = ["name", "email"]


@admin.register(Category)
class CategoryAdmin(HistoryAdminMixin, admin.ModelAdmin):
    list_display = ["name", "product_count"]
    search_fields = ["name"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Category]:
        return super().get_queryset(request).annotate(product_count=Count("products"))

    @admin.display(description="products", ordering="product_count")
    def product_count(self, obj: Category) -> int:
        return obj.product_count  # type: ignore[attr-defined]


@admin.register(Product)
class ProductAdmin(HistoryAdminMixin, admin.ModelAdmin):
    list_display = ["sku", "name", "category", "price", "stock", "status"]
    list_filter = ["status", "category"]
    list_select_related = ["category"]
    search_fields = ["sku", "name"]
    actions = ["discontinue"]

    @admin.action(description="Discontinue selected products")
    def discontinue(self, request: HttpRequest, queryset: QuerySet[Product]) -> None:
        # One UPDATE statement: the triggers still record an event per product.
        updated = queryset.update(status=Product.Status.DISCONTINUED)
        self.message_user(request, f"{updated} product(s) discontinued.")


class OrderLineInline(admin.TabularInline):
    model = OrderLine
    extra = 0
    autocomplete_fields = ["product"]


@admin.register(Order)
class OrderAdmin(HistoryAdminMixin, admin.ModelAdmin):
    list_display = ["__str__", "customer", "status", "placed_at", "order_total"]
    list_filter = ["status", "placed_at"]
    list_select_related = ["customer"]
    search_fields = ["customer__name", "customer__email"]
    date_hierarchy = "placed_at"
    autocomplete_fields = ["customer"]
    inlines = [OrderLineInline]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Order]:
        total = Sum(F("lines__quantity") * F("lines__unit_price"), output_field=DecimalField())
        return super().get_queryset(request).annotate(order_total=Coalesce(total, Decimal(0)))

    @admin.display(description="total", ordering="order_total")
    def order_total(self, obj: Order) -> Decimal:
        return obj.order_total  # type: ignore[attr-defined]


@admin.register(OrderLine)
class OrderLineAdmin(HistoryAdminMixin, admin.ModelAdmin):
    list_display = ["__str__", "order", "product", "quantity", "unit_price"]
    list_select_related = ["order", "product"]
    search_fields = ["product__sku", "product__name"]
    autocomplete_fields = ["order", "product"]
