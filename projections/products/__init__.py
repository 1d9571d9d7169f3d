"""The product library and its sales: the ``product``, ``product_category``, ``order_line``
and ``order_refund`` read models (:mod:`.view`, ``products.sql``) and their reads
(:mod:`.queries`)."""

from projections.products.view import ProductLibraryView, order_lines

__all__ = ["ProductLibraryView", "order_lines"]
