-- The very last statement of a successful copy, in its own transaction after mark_owner.sql
-- found the mark still this copy's: drops Ferry's mark, so the target holds exactly the
-- source's objects.
DROP SCHEMA _ferry CASCADE
