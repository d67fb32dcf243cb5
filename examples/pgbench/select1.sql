-- plain + one empty round trip
\set id random(1, 8)
BEGIN;
UPDATE pgb_row SET title = 'x' || random() WHERE id = :id RETURNING *;
SELECT 1;
COMMIT;
