-- Every large object's content (size and md5, read in 8 MB pieces so that objects over 1 GB
-- can be read too), owner, privileges and comment, for verify to compare by oid (a copy keeps
-- oids). Reads every large object in full: its cost grows with their size.
-- Columns as verify_schema.sql: 0 object ("large object 16400"), 1 what, 2 value, 3 how ("e")
WITH lo AS (
    SELECT m.oid, m.lomowner, m.lomacl,
           lo_lseek64(lo_open(m.oid, 262144), 0, 2) AS size -- 262144: INV_READ; 2: SEEK_END
      FROM pg_largeobject_metadata m)
SELECT 'large object ' || lo.oid, v.what, v.value, 'e'
  FROM lo
 CROSS JOIN LATERAL (VALUES
       ('content', lo.size || ' bytes, md5 of 8 MB pieces ' ||
                   (SELECT md5(string_agg(md5(lo_get(lo.oid, p * 8388608, 8388608)), ''
                                          ORDER BY p))
                      FROM generate_series(0, greatest(lo.size - 1, 0) / 8388608) AS p)),
       ('owner', pg_get_userbyid(lo.lomowner)::text),
       ('privileges', lo.lomacl::text),
       ('comment', obj_description(lo.oid, 'pg_largeobject'))) AS v(what, value)
