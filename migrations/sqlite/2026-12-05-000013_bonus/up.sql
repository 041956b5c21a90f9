-- The bonus program. Coupon pools the ISV uploads codes into; rewards staff define for
-- registering tickets; the ledger of what each customer earned and redeemed (one reward per
-- ticket: UNIQUE(reward_id, ticket_id); one redemption per customer, shop and the shop's reference);
-- coupons handed out once (a coupon names the ledger entry it went to, at most one).
-- The ledger is kept with the customer: it holds their balance. It grows only with tickets
-- registered (one entry per reward) and with redemptions, each of which spends points that
-- registrations earned. A cancelled order takes its ticket's rewards back (`reversed_at`;
-- points by a `reversal` entry, never below zero).
CREATE TABLE coupon_pools (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    points_price INTEGER,
    created_at TIMESTAMP NOT NULL
);

CREATE TABLE rewards (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    shop TEXT,
    product_id TEXT REFERENCES products(id),
    grant_kind TEXT NOT NULL,
    points INTEGER,
    pool_id TEXT REFERENCES coupon_pools(id),
    entitlement TEXT,
    ends_at TIMESTAMP,
    withdrawn_at TIMESTAMP,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX rewards_live ON rewards(withdrawn_at, ends_at);

CREATE TABLE bonus_ledger (
    id TEXT PRIMARY KEY,
    customer_id TEXT NOT NULL REFERENCES customers(id),
    kind TEXT NOT NULL,
    reward_id TEXT REFERENCES rewards(id),
    ticket_id TEXT REFERENCES tickets(id),
    points INTEGER NOT NULL,
    pool_id TEXT REFERENCES coupon_pools(id),
    entitlement TEXT,
    shop TEXT,
    reference TEXT,
    reversed_at TIMESTAMP,
    created_at TIMESTAMP NOT NULL,
    UNIQUE (reward_id, ticket_id),
    UNIQUE (customer_id, shop, reference)
);
CREATE INDEX bonus_ledger_customer ON bonus_ledger(customer_id, created_at, id);
CREATE INDEX bonus_ledger_pool ON bonus_ledger(pool_id);

CREATE TABLE coupons (
    id TEXT PRIMARY KEY,
    pool_id TEXT NOT NULL REFERENCES coupon_pools(id),
    code TEXT NOT NULL,
    ledger_id TEXT UNIQUE REFERENCES bonus_ledger(id),
    handed_out_at TIMESTAMP,
    created_at TIMESTAMP NOT NULL,
    UNIQUE (pool_id, code)
);
CREATE INDEX coupons_free ON coupons(pool_id, ledger_id, id);
