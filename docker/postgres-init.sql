-- sluice: PostgreSQL set-up for docker/compose.yaml (runs once, in database shop): a
-- replication role, a demo table, and the publication the connectors stream.
CREATE ROLE sluice LOGIN REPLICATION PASSWORD 'sluice';
CREATE TABLE public.orders (
    id bigserial PRIMARY KEY,
    item text NOT NULL,
    qty int NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
GRANT SELECT ON ALL TABLES IN SCHEMA public TO sluice;
CREATE PUBLICATION sluice_shop FOR TABLE public.orders;
