-- A cancelled order is final: when and why it was cancelled are kept on the order.
ALTER TABLE orders ADD COLUMN cancelled_at TIMESTAMP;
ALTER TABLE orders ADD COLUMN cancel_reason TEXT;
-- Orders cancelled before: the first recorded cancellation counts.
UPDATE orders SET
    cancelled_at = (SELECT e.at FROM events e
                    WHERE e.kind = 'order_cancelled' AND e.subject_type = 'order' AND e.subject_id = orders.id
                    ORDER BY e.seq LIMIT 1),
    cancel_reason = (SELECT e.data::json ->> 'reason' FROM events e
                     WHERE e.kind = 'order_cancelled' AND e.subject_type = 'order' AND e.subject_id = orders.id
                     ORDER BY e.seq LIMIT 1);
