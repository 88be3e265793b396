-- Signature verification (SPEC §9): a webhook's settings as JSON without the secret, and its
-- secrets (current and, during a rotation's grace, previous) sealed with the master key; the
-- verdict each delivery got, as JSON {scheme, verdict, detail}.
ALTER TABLE webhooks ADD COLUMN verification TEXT;
ALTER TABLE webhooks ADD COLUMN verification_sealed BYTEA;
ALTER TABLE deliveries ADD COLUMN verification TEXT;
