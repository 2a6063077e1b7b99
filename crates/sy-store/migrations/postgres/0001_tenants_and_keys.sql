-- Tenants and API keys. Times are Unix milliseconds. Ids use the "C" collation so they sort
-- byte-wise, as on SQLite. Limits are BIGINT so any u32 concurrency limit fits.
CREATE TABLE tenants (
    id             TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    rpm            BIGINT,
    tpm            BIGINT,
    max_concurrent BIGINT,
    disabled       BOOLEAN NOT NULL DEFAULT FALSE,
    created_at     BIGINT  NOT NULL,
    updated_at     BIGINT  NOT NULL
);

CREATE INDEX tenants_updated_at ON tenants (updated_at);

CREATE TABLE api_keys (
    id                TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    tenant_id         TEXT COLLATE "C" NOT NULL REFERENCES tenants (id),
    name              TEXT,
    prefix            TEXT   NOT NULL,
    key_hash          BYTEA  NOT NULL CONSTRAINT api_keys_key_hash_key UNIQUE,
    -- A JSON array of model names; NULL means every model.
    models            TEXT,
    rpm               BIGINT,
    tpm               BIGINT,
    max_concurrent    BIGINT,
    expires_at        BIGINT,
    revoked_at        BIGINT,
    access_key_id     TEXT COLLATE "C" CONSTRAINT api_keys_access_key_id_key UNIQUE,
    secret_access_key TEXT,
    created_at        BIGINT NOT NULL,
    updated_at        BIGINT NOT NULL
);

CREATE INDEX api_keys_tenant_id ON api_keys (tenant_id);
CREATE INDEX api_keys_updated_at ON api_keys (updated_at);
