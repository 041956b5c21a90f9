DROP INDEX activations_started;
DROP INDEX items_product;
DROP INDEX licenses_item;
DROP TABLE usage_session_lengths;
