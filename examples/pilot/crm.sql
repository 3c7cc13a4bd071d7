-- Branch notes kept in a CRM table (fictional). make_crm_db.py loads this into crm.db.
CREATE TABLE notes (id TEXT PRIMARY KEY, title TEXT, body TEXT, acl_groups TEXT, updated TEXT, published INTEGER);
INSERT INTO notes VALUES ('note-1', 'Safe deposit boxes', 'Safe deposit boxes are available at the north branch only; the yearly rent is $60 for a small box.', 'members;reps;fraud-analysts', '2025-02-14', 1);
INSERT INTO notes VALUES ('note-2', 'Draft: new box pricing', 'Not yet approved.', 'reps', '2025-03-01', 0);
