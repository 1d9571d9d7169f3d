-- The product library (商品库) and the order lines its sales are computed from.
-- Documented in docs/products.md and docs/bi.md. Money in fen; times timestamptz (UTC).
CREATE TABLE IF NOT EXISTS product_category (
    category_id   uuid        PRIMARY KEY,
    code          text        NOT NULL UNIQUE,  -- 'apparel:shoes' sits under 'apparel'
    name          text        NOT NULL,
    parent        text,                         -- the code before the last ':'
    defined_by    text        NOT NULL,
    defined_at    timestamptz NOT NULL,
    renamed_at    timestamptz,
    last_version  bigint      NOT NULL
);

CREATE TABLE IF NOT EXISTS product (
    product_id    uuid        PRIMARY KEY,
    sku           text        NOT NULL UNIQUE,  -- as order items name it
    name          text        NOT NULL,
    category      text        NOT NULL,         -- product_category.code
    price_fen     bigint      NOT NULL,         -- list price
    listed        boolean     NOT NULL,         -- false: delisted (its sales still count)
    listed_by     text        NOT NULL,
    listed_at     timestamptz NOT NULL,
    revised_by    text,
    revised_at    timestamptz,
    delisted_at   timestamptz,
    delist_reason text,
    position      bigint      NOT NULL,
    last_version  bigint      NOT NULL
);
CREATE INDEX IF NOT EXISTS product_category_idx ON product (category);

-- One row per item of a paid order (ORDER_PAID), whatever the library says of its SKU.
CREATE TABLE IF NOT EXISTS order_line (
    position          bigint      NOT NULL,  -- the ORDER_PAID event's log position
    line_no           integer     NOT NULL,  -- the item's index in the order
    customer_id       uuid        NOT NULL,
    order_id          text        NOT NULL,
    paid_at           timestamptz NOT NULL,  -- business time
    channel           text,
    sku               text        NOT NULL,
    quantity          bigint      NOT NULL,
    price_fen         bigint      NOT NULL,  -- unit price as reported
    reported_category text,                  -- the item's own category, if it gave one
    order_amount_fen  bigint      NOT NULL,  -- what the whole order paid
    gmv_fen           numeric     NOT NULL,  -- the order's paid amount allocated to the line
    PRIMARY KEY (position, line_no)
);
CREATE INDEX IF NOT EXISTS order_line_paid_idx ON order_line (paid_at);
CREATE INDEX IF NOT EXISTS order_line_sku_idx ON order_line (sku, paid_at);
CREATE INDEX IF NOT EXISTS order_line_order_idx ON order_line (customer_id, order_id);

-- One row per ORDER_REFUNDED: shared among the order's lines when sales are read.
CREATE TABLE IF NOT EXISTS order_refund (
    position     bigint      PRIMARY KEY,
    customer_id  uuid        NOT NULL,
    order_id     text        NOT NULL,
    amount_fen   bigint      NOT NULL,
    refunded_at  timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS order_refund_order_idx ON order_refund (customer_id, order_id);
