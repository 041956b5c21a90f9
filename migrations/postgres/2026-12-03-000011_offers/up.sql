-- Offers staff target by what a customer owns, and what each customer did with each offer
-- (one row per offer and customer: days shown, first click, dismissal). Both go together
-- when the offer has been over (ended or withdrawn) for the retention's time.
CREATE TABLE offers (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    rule TEXT NOT NULL,
    title_en TEXT NOT NULL,
    title_de TEXT NOT NULL,
    text_en TEXT NOT NULL,
    text_de TEXT NOT NULL,
    link TEXT,
    coupon_code TEXT,
    priority INTEGER NOT NULL,
    max_days_shown INTEGER,
    starts_at TIMESTAMP NOT NULL,
    ends_at TIMESTAMP,
    withdrawn_at TIMESTAMP,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX offers_withdrawn ON offers(withdrawn_at, ends_at);

CREATE TABLE offer_views (
    offer_id TEXT NOT NULL REFERENCES offers(id),
    customer_id TEXT NOT NULL REFERENCES customers(id),
    days_shown INTEGER NOT NULL,
    last_shown_on TIMESTAMP,
    first_shown_at TIMESTAMP,
    clicked_at TIMESTAMP,
    dismissed_at TIMESTAMP,
    PRIMARY KEY (offer_id, customer_id)
);
CREATE INDEX offer_views_customer ON offer_views(customer_id);
