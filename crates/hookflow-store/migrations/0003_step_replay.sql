-- Unredacted step outputs for replay, sealed with the master key (only where redaction changed
-- the recorded output: the record shows ***, the resumed run needs the real value).
ALTER TABLE run_steps ADD COLUMN replay BYTEA;
