-- The very last statement of a successful copy, in its own transaction: drops Ferry's mark, so
-- the target holds exactly the source's objects. Fails (invalid_schema_name) if the mark
-- vanished while the copy ran: someone else touched the target.
DROP SCHEMA _ferry CASCADE
