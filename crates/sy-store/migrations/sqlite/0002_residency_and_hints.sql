-- Data residency per tenant (a JSON array of regions; NULL: anywhere) and whether a key may send
-- routing hints (x-switchyard-deployment, x-switchyard-region).
ALTER TABLE tenants ADD COLUMN regions TEXT;
ALTER TABLE api_keys ADD COLUMN routing_hints INTEGER NOT NULL DEFAULT 0 CHECK (routing_hints IN (0, 1));
