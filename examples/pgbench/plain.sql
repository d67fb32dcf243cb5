-- plain SeaORM update in a transaction: BEGIN, UPDATE … RETURNING, COMMIT
\set id random(1, 8)
BEGIN;
UPDATE pgb_row SET title = 'x' || random() WHERE id = :id RETURNING *;
COMMIT;
