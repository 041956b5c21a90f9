DROP TABLE offer_views;
DROP TABLE offers;
