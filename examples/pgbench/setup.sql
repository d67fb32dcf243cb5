-- Statement-level cost of auditing on PostgreSQL, without any ORM or client overhead.
-- Run in the `audit_bench` database the benchmark program leaves behind (it has the audit
-- tables), then time each script with pgbench (see README.md beside this file).
DROP TABLE IF EXISTS pgb_row;
CREATE TABLE pgb_row (id int PRIMARY KEY, title text, body text, author text, status text,
                      score int, rating float8, published bool, tags text, created_at timestamptz);
INSERT INTO pgb_row SELECT g, 'Title', 'Body', 'author', 'draft', g, 4.5, false, 'rust,orm', now()
FROM generate_series(1, 8) g;
