-- what an audited update sends: the locking read, the update, the audit write (one statement)
\set id random(1, 8)
BEGIN;
SELECT * FROM pgb_row WHERE id = :id FOR UPDATE;
UPDATE pgb_row SET title = 'x' || random() WHERE id = :id RETURNING *;
WITH v AS (
  INSERT INTO versions (subject_type, subject_id, version, event, data, causer_id, created_at)
  SELECT 'pgb_row', :id::text, COALESCE(MAX(version), 0) + 1, 'updated',
         '{"id": 1, "title": "x", "body": "Body", "author": "author", "status": "draft", "score": 1, "rating": 4.5, "published": false, "tags": "rust,orm", "created_at": "2026-11-28T06:39:07.123456Z"}'::jsonb,
         '42', now()
  FROM versions WHERE subject_type = 'pgb_row' AND subject_id = :id::text
  RETURNING id, version)
INSERT INTO activity_log (action, subject_type, subject_id, causer_id, changes, properties, ip, user_agent, request_id, version_id, created_at)
SELECT 'updated', 'pgb_row', :id::text, '42', '{"title": {"old": "a", "new": "b"}}'::jsonb, NULL,
       '127.0.0.1', 'bench', 'req-1', v.id, now() FROM v RETURNING id;
COMMIT;
