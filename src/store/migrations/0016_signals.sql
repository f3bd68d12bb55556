-- When a signal last asked for a ref to be read from the host (a webhook delivery that names it;
-- docs/architecture.md, "Signals"): the next refresh reads it with nothing kept standing in, on
-- whichever replica claims it, and clears this once it has answered that signal. NULL: none.
ALTER TABLE diff_statuses ADD COLUMN signal_at timestamptz;
