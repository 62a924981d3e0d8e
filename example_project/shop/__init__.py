"""A small shop: customers, a catalog and orders, all tracked by pghistory_core."""
