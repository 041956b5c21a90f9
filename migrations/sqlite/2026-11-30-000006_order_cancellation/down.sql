ALTER TABLE orders DROP COLUMN cancel_reason;
ALTER TABLE orders DROP COLUMN cancelled_at;
