-- The first schema as a version-1 seekd left it, with a key, a credit and a ledger row
-- (test_store.c migrates it forward).
CREATE TABLE meta (k TEXT PRIMARY KEY, v BLOB NOT NULL);
CREATE TABLE keys (key_id TEXT PRIMARY KEY, hmac BLOB NOT NULL UNIQUE, name TEXT NOT NULL UNIQUE, currency TEXT NOT NULL, granted INTEGER NOT NULL, topped_up INTEGER NOT NULL, held INTEGER NOT NULL DEFAULT 0, enabled INTEGER NOT NULL DEFAULT 1, expires INTEGER NOT NULL DEFAULT 0, created INTEGER NOT NULL, rpm INTEGER NOT NULL DEFAULT 0, tpm INTEGER NOT NULL DEFAULT 0, concurrency INTEGER NOT NULL DEFAULT 0, models TEXT NOT NULL DEFAULT '');
CREATE TABLE credits (id INTEGER PRIMARY KEY, key_id TEXT NOT NULL, at INTEGER NOT NULL, kind TEXT NOT NULL, amount INTEGER NOT NULL);
CREATE TABLE holds (id INTEGER PRIMARY KEY, key_id TEXT NOT NULL, amount INTEGER NOT NULL, request_id TEXT NOT NULL, model TEXT NOT NULL, tier INTEGER NOT NULL, at INTEGER NOT NULL);
CREATE TABLE ledger (id INTEGER PRIMARY KEY, at INTEGER NOT NULL, key_id TEXT NOT NULL, request_id TEXT, model TEXT, backend TEXT, upstream TEXT, upstream_key_id TEXT, status TEXT, hit INTEGER NOT NULL, miss INTEGER NOT NULL, output INTEGER NOT NULL, reasoning INTEGER NOT NULL, tier INTEGER NOT NULL, cost INTEGER NOT NULL, from_granted INTEGER NOT NULL, from_topped_up INTEGER NOT NULL, ttft_ms INTEGER NOT NULL, duration_ms INTEGER NOT NULL, estimated INTEGER NOT NULL);
INSERT INTO keys (key_id, hmac, name, currency, granted, topped_up, created) VALUES ('0123456789ab', x'00', 'old', 'CNY', 0, 90, 1);
INSERT INTO credits (key_id, at, kind, amount) VALUES ('0123456789ab', 1, 'topup', 100);
INSERT INTO ledger (at, key_id, hit, miss, output, reasoning, tier, cost, from_granted, from_topped_up, ttft_ms, duration_ms, estimated) VALUES (2, '0123456789ab', 1, 2, 3, 0, 0, 10, 0, 10, 5, 6, 0);
PRAGMA user_version = 1;
