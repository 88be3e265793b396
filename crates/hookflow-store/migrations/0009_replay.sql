-- A run started by replaying a stored delivery (SPEC §10) names that delivery in `replay_of`
-- (its `delivery_id` stays empty: the delivery's own runs are those it started when it arrived).
ALTER TABLE runs ADD COLUMN replay_of TEXT;
-- The replays of a delivery (its page, `GET /runs?replay_of=`).
CREATE INDEX runs_by_replay ON runs (replay_of);
