-- The usage ledger: one row per request, written in batches after the response is settled.
-- Idempotent by request id; no foreign keys, because records outlive keys and calls made in open
-- mode have no tenant. Times are Unix milliseconds; costs are in pico-USD (1e-12), NULL when the
-- price is unknown (never 0 for unknown).
CREATE TABLE usage_records (
    request_id         TEXT    NOT NULL PRIMARY KEY,
    started_at         INTEGER NOT NULL,
    tenant_id          TEXT,
    key_id             TEXT,
    -- The model asked for, and the upstream model id that served it.
    model              TEXT    NOT NULL,
    served_model       TEXT,
    provider           TEXT,
    deployment         TEXT,
    region             TEXT,
    endpoint           TEXT    NOT NULL,
    -- completed | failed | client_aborted | refused
    status             TEXT    NOT NULL,
    http_status        INTEGER NOT NULL,
    attempts           INTEGER NOT NULL,
    latency_ms         INTEGER NOT NULL,
    ttft_ms            INTEGER,
    stream             INTEGER NOT NULL CHECK (stream IN (0, 1)),
    -- Uncached input; output excludes reasoning.
    input_tokens       INTEGER NOT NULL,
    cache_read_tokens  INTEGER NOT NULL,
    cache_write_tokens INTEGER NOT NULL,
    output_tokens      INTEGER NOT NULL,
    reasoning_tokens   INTEGER NOT NULL,
    -- reported | estimated | none
    usage_source       TEXT    NOT NULL,
    cost_pico          INTEGER
) STRICT;

CREATE INDEX usage_records_started_at ON usage_records (started_at);
CREATE INDEX usage_records_tenant_started_at ON usage_records (tenant_id, started_at);
CREATE INDEX usage_records_key_started_at ON usage_records (key_id, started_at);
