"""A prototype's-eye view of sandgate through psycopg2 (libpq): prints
key=value lines that TestPsycopg checks. Usage: python3 probe.py DSN [write]"""
import sys

import psycopg2
import psycopg2.errors

conn = psycopg2.connect(sys.argv[1])
cur = conn.cursor()
cur.execute("select table_name from information_schema.tables where table_schema = 'public' order by 1")
print("tables=" + ",".join(r[0] for r in cur.fetchall()))
cur.execute("select patient_id, nhs_number from patients order by patient_id")
print("patients=" + ",".join("%d:%s" % r for r in cur.fetchall()))
cur.execute("select name from wards where ward_id = %s", (2,))
print("param=" + cur.fetchone()[0])
try:
    cur.execute("select family_name from patients")
    print("denied=no")
except psycopg2.Error as e:
    print("denied=" + e.pgcode)
    print("denied_names_column=" + str("family_name" in e.pgerror).lower())
conn.rollback()
cur.execute("select count(*) from wards")
print("after_denial=%d" % cur.fetchone()[0])
if len(sys.argv) > 2 and sys.argv[2] == "write":
    cur.execute("insert into notes (note_id, patient_id, body) values (%s, %s, %s)", (800, 1, "from psycopg"))
    conn.rollback()
    cur.execute("insert into notes (note_id, patient_id, body) values (%s, %s, %s)", (801, 1, "from psycopg"))
    conn.commit()
    cur.execute("select string_agg(note_id::text, ',') from notes where body = 'from psycopg'")
    print("notes=" + cur.fetchone()[0])
    cur.execute("select count(*) from patients")
    print("patients_visible=%d" % cur.fetchone()[0])
conn.close()
