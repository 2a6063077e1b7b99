-- Tenants and API keys. Times are Unix milliseconds; STRICT tables refuse values of the wrong type.
CREATE TABLE tenants (
    id             TEXT    NOT NULL PRIMARY KEY,
    rpm            INTEGER,
    tpm            INTEGER,
    max_concurrent INTEGER,
    disabled       INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1)),
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL
) STRICT;

CREATE INDEX tenants_updated_at ON tenants (updated_at);

CREATE TABLE api_keys (
    id                TEXT    NOT NULL PRIMARY KEY,
    tenant_id         TEXT    NOT NULL REFERENCES tenants (id),
    name              TEXT,
    prefix            TEXT    NOT NULL,
    key_hash          BLOB    NOT NULL UNIQUE,
    -- A JSON array of model names; NULL means every model.
    models            TEXT,
    rpm               INTEGER,
    tpm               INTEGER,
    max_concurrent    INTEGER,
    expires_at        INTEGER,
    revoked_at        INTEGER,
    access_key_id     TEXT    UNIQUE,
    secret_access_key TEXT,
    created_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL
) STRICT;

CREATE INDEX api_keys_tenant_id ON api_keys (tenant_id);
CREATE INDEX api_keys_updated_at ON api_keys (updated_at);
