DROP TABLE used_files;
DROP TABLE signing_keys;
