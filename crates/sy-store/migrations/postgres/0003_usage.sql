-- The usage ledger: one row per request, written in batches after the response is settled.
-- Idempotent by request id; no foreign keys, because records outlive keys and calls made in open
-- mode have no tenant. Times are Unix milliseconds; costs are in pico-USD (1e-12), NULL when the
-- price is unknown (never 0 for unknown). Text that reports group by uses the "C" collation, so
-- groups sort byte-wise, as on SQLite.
CREATE TABLE usage_records (
    request_id         TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    started_at         BIGINT  NOT NULL,
    tenant_id          TEXT COLLATE "C",
    key_id             TEXT COLLATE "C",
    -- The model asked for, and the upstream model id that served it.
    model              TEXT COLLATE "C" NOT NULL,
    served_model       TEXT COLLATE "C",
    provider           TEXT COLLATE "C",
    deployment         TEXT COLLATE "C",
    region             TEXT COLLATE "C",
    endpoint           TEXT    NOT NULL,
    -- completed | failed | client_aborted | refused
    status             TEXT COLLATE "C" NOT NULL,
    http_status        INTEGER NOT NULL,
    attempts           INTEGER NOT NULL,
    latency_ms         BIGINT  NOT NULL,
    ttft_ms            BIGINT,
    stream             BOOLEAN NOT NULL,
    -- Uncached input; output excludes reasoning.
    input_tokens       BIGINT  NOT NULL,
    cache_read_tokens  BIGINT  NOT NULL,
    cache_write_tokens BIGINT  NOT NULL,
    output_tokens      BIGINT  NOT NULL,
    reasoning_tokens   BIGINT  NOT NULL,
    -- reported | estimated | none
    usage_source       TEXT    NOT NULL,
    cost_pico          BIGINT
);

CREATE INDEX usage_records_started_at ON usage_records (started_at);
CREATE INDEX usage_records_tenant_started_at ON usage_records (tenant_id, started_at);
CREATE INDEX usage_records_key_started_at ON usage_records (key_id, started_at);
