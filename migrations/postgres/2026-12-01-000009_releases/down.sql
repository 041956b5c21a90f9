DROP TABLE downloads;
DROP TABLE artifacts;
DROP TABLE releases;
