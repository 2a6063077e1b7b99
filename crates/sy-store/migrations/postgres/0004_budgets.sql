-- Budgets: a spending limit in nano-USD (1e-9) per key and per tenant over a period (day, week,
-- month or total) in an IANA time zone; NULL budget_nano means no budget. Soft budgets warn
-- instead of refusing.
ALTER TABLE tenants ADD COLUMN budget_nano BIGINT;
ALTER TABLE tenants ADD COLUMN budget_period TEXT;
ALTER TABLE tenants ADD COLUMN budget_tz TEXT;
ALTER TABLE tenants ADD COLUMN budget_soft BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE api_keys ADD COLUMN budget_nano BIGINT;
ALTER TABLE api_keys ADD COLUMN budget_period TEXT;
ALTER TABLE api_keys ADD COLUMN budget_tz TEXT;
ALTER TABLE api_keys ADD COLUMN budget_soft BOOLEAN NOT NULL DEFAULT FALSE;

-- One counter per budget owner and period, identified by the period's first instant (Unix ms;
-- 0 for "total"): a new period is a new row, so nothing ever resets counters.
CREATE TABLE budget_counters (
    scope         TEXT COLLATE "C" NOT NULL,
    owner_id      TEXT COLLATE "C" NOT NULL,
    period_start  BIGINT NOT NULL,
    spent_nano    BIGINT NOT NULL DEFAULT 0,
    reserved_nano BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (scope, owner_id, period_start)
);

-- What each gateway node holds against each counter: money leased to it (handed out to requests
-- without a round trip here), held by its requests in flight, or spent and not yet settled by its
-- usage ledger. A node refreshes heartbeat_at while it lives; a row whose node stopped beating is
-- released by any other node (its amount leaves reserved_nano).
CREATE TABLE budget_node_holds (
    node_id      TEXT COLLATE "C" NOT NULL,
    scope        TEXT COLLATE "C" NOT NULL,
    owner_id     TEXT COLLATE "C" NOT NULL,
    period_start BIGINT NOT NULL,
    amount_nano  BIGINT NOT NULL,
    heartbeat_at BIGINT NOT NULL,
    PRIMARY KEY (node_id, scope, owner_id, period_start)
);

CREATE INDEX budget_node_holds_heartbeat_at ON budget_node_holds (heartbeat_at);
