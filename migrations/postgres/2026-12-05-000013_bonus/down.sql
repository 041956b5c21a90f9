DROP TABLE coupons;
DROP TABLE bonus_ledger;
DROP TABLE rewards;
DROP TABLE coupon_pools;
