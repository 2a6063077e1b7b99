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

-- What each request in flight holds against each of its budgets, until its usage record settles
-- it. A hold whose node died is released when it expires (released = TRUE) and settles later
-- without touching the reservation again.
CREATE TABLE budget_holds (
    request_id   TEXT COLLATE "C" NOT NULL,
    scope        TEXT COLLATE "C" NOT NULL,
    owner_id     TEXT COLLATE "C" NOT NULL,
    period_start BIGINT NOT NULL,
    amount_nano  BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    released     BOOLEAN NOT NULL DEFAULT FALSE,
    PRIMARY KEY (request_id, scope)
);

CREATE INDEX budget_holds_expires_at ON budget_holds (expires_at);
