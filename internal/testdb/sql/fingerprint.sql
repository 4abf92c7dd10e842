-- The definition of a database outside PostgreSQL's own schemas, as one hash: what a pooled database
-- must still match to be handed to another test (see pool.go). Any DDL a test may run, a grant, a
-- comment, a database-level setting or owner, changes it. Data is not part of it (reset deals with
-- data); neither are statistics, relfilenodes or sizes, which a TRUNCATE or VACUUM changes.
WITH ns AS (
    SELECT oid, nspname FROM pg_namespace
    WHERE nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
      AND nspname NOT LIKE 'pg\_temp\_%' AND nspname NOT LIKE 'pg\_toast\_temp\_%'
), rel AS (
    SELECT c.* FROM pg_class AS c JOIN ns ON ns.oid = c.relnamespace
), parts (part) AS (
    SELECT format('schema %s %s %s', n.nspname, n.nspowner::regrole, n.nspacl)
    FROM pg_namespace AS n JOIN ns USING (oid)
    UNION ALL
    SELECT format('relation %s %s %s %s %s %s', oid::regclass, relkind, relowner::regrole, relacl, relpersistence, reloptions)
    FROM rel
    UNION ALL
    SELECT format('column %s %s %s %s %s %s %s', a.attrelid::regclass, a.attnum, a.attname, format_type(a.atttypid, a.atttypmod),
                  a.attnotnull, pg_get_expr(d.adbin, d.adrelid), a.attacl)
    FROM pg_attribute AS a JOIN rel ON rel.oid = a.attrelid
    LEFT JOIN pg_attrdef AS d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
    WHERE a.attnum > 0 AND NOT a.attisdropped
    UNION ALL
    SELECT format('constraint %s %s %s', conrelid::regclass, conname, pg_get_constraintdef(oid))
    FROM pg_constraint WHERE connamespace IN (SELECT oid FROM ns)
    UNION ALL
    SELECT format('index %s', pg_get_indexdef(indexrelid))
    FROM pg_index WHERE indrelid IN (SELECT oid FROM rel)
    UNION ALL
    SELECT format('view %s %s', oid::regclass, pg_get_viewdef(oid))
    FROM rel WHERE relkind IN ('v', 'm')
    UNION ALL
    SELECT format('sequence %s %s %s %s %s %s %s', seqrelid::regclass, seqtypid::regtype, seqstart, seqincrement, seqmax, seqmin, seqcycle)
    FROM pg_sequence WHERE seqrelid IN (SELECT oid FROM rel)
    UNION ALL
    SELECT format('function %s %s %s %s', p.oid::regprocedure, p.proowner::regrole, md5(p.prosrc), p.proacl)
    FROM pg_proc AS p WHERE p.pronamespace IN (SELECT oid FROM ns)
    UNION ALL
    SELECT format('trigger %s', pg_get_triggerdef(oid))
    FROM pg_trigger WHERE NOT tgisinternal
    UNION ALL
    SELECT format('type %s %s %s', t.oid::regtype, t.typtype, (SELECT string_agg(enumlabel, ',' ORDER BY enumsortorder) FROM pg_enum WHERE enumtypid = t.oid))
    FROM pg_type AS t WHERE t.typnamespace IN (SELECT oid FROM ns) AND t.typtype IN ('e', 'd', 'r', 'm')
    UNION ALL
    SELECT format('policy %s %s %s %s', polrelid::regclass, polname, pg_get_expr(polqual, polrelid), pg_get_expr(polwithcheck, polrelid))
    FROM pg_policy
    UNION ALL
    SELECT format('extension %s %s', extname, extversion) FROM pg_extension
    UNION ALL
    SELECT format('comment %s %s %s %s', classoid::regclass, objoid, objsubid, description)
    FROM pg_description WHERE objoid >= 16384 -- objects made after initdb: the migrations', or a test's
    UNION ALL
    SELECT format('default acl %s %s %s', defaclrole::regrole, defaclnamespace, defaclacl) FROM pg_default_acl
    UNION ALL
    SELECT format('database %s %s %s %s', datdba::regrole, datacl, datconnlimit, datallowconn)
    FROM pg_database WHERE datname = current_database()
    UNION ALL
    SELECT format('setting %s %s', setrole, setconfig)
    FROM pg_db_role_setting WHERE setdatabase = (SELECT oid FROM pg_database WHERE datname = current_database())
)
SELECT md5(string_agg(part, E'\n' ORDER BY part)) FROM parts
