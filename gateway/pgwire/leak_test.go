package pgwire

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/binary"
	"encoding/hex"
	"io"
	"net"
	"strconv"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
)

// recorder sits between a client and the gateway and keeps every byte the
// gateway sends to the client.
type recorder struct {
	ln   net.Listener
	mu   sync.Mutex
	seen bytes.Buffer
}

func newRecorder(t testing.TB, target string) *recorder {
	ln, err := net.Listen("tcp", "127.0.0.1:0") // what the client dials
	if err != nil {
		t.Fatal(err)
	}
	r := &recorder{ln: ln}
	t.Cleanup(func() { ln.Close() })
	go r.accept(target)
	return r
}

func (r *recorder) accept(target string) {
	for {
		c, err := r.ln.Accept()
		if err != nil {
			return
		}
		up, err := net.Dial("tcp", target)
		if err != nil {
			c.Close()
			continue
		}
		go func() { io.Copy(up, c); up.Close() }()
		go func() { io.Copy(io.MultiWriter(c, r), up); c.Close() }()
	}
}

func (r *recorder) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.seen.Write(p)
}

func (r *recorder) bytes() []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return bytes.Clone(r.seen.Bytes())
}

// secretEncodings are the forms a protected value could take on the wire.
func secretEncodings() map[string][]byte {
	mrn, _ := strconv.ParseInt(secretMRN, 10, 64)
	out := map[string][]byte{}
	for _, s := range []string{secretNHS, secretMRN, secretFamily} {
		out["text "+s] = []byte(s)
		out["hex "+s] = []byte(hex.EncodeToString([]byte(s)))
	}
	out["int8 binary mrn"] = binary.BigEndian.AppendUint64(nil, uint64(mrn))
	out["nhs spaced"] = []byte("943 476 5919")
	return out
}

// hostile are statements that try to get protected values out by side paths.
var hostile = []string{
	"select family_name from patients",
	"select * from patients",
	"select nhs_number::bigint from patients",
	"select patient_id from patients where nhs_number::int > 0",
	"select patient_id from patients where mrn::text::int / 0 = 1",
	"select upper(family_name) from patients",
	"select nhs_number || '' from patients",
	"select string_agg(nhs_number, ',') from patients",
	"select json_agg(p) from patients p",
	"select row_to_json(p)::text from patients p",
	"select p from patients p",
	"select array_agg(mrn) from patients",
	"select max(family_name) from patients",
	"with x as (select family_name from patients) select * from x",
	"select family_name from patients union select name from wards",
	"select (select family_name from patients limit 1) as f",
	"select * from (select nhs_number as n from patients) s",
	"select nhs_number from patients order by nhs_number limit 1",
	"select count(*) from patients where nhs_number like '94%'",
	"select most_common_vals from pg_stats where tablename = 'patients'",
	"select query from pg_stat_activity",
	"select pg_read_file('base/1/1')",
	"select lo_import('/etc/passwd')",
	"select query_to_xml('select nhs_number from patients', true, false, '')",
	"select * from ts_stat('select family_name::tsvector from patients')",
	// If the server read backslashes in '…' while sandgate's parser did not,
	// this would be one literal to sandgate and a subquery to the server.
	"set standard_conforming_strings = off",
	"select 'a\\'\n' , (select family_name from patients limit 1) -- ' from wards",
	"set client_encoding = 'SJIS'",
	// PostgreSQL ends a -- comment at a carriage return too: if the cache
	// key did not, this would reuse the empty statement's analysis.
	"",
	"--\rselect family_name || '' from patients",
	"with d as (delete from patients returning family_name) select * from d",
	"insert into wards (ward_id, name) select patient_id, family_name from patients returning name",
	"copy (select nhs_number from patients) to stdout",
	"copy patients to stdout",
	"copy patients (mrn) to stdout with (format binary)",
	"select cast(family_name as int) from patients",
	"select patient_id from patients where family_name::int = 1",
	"prepare q as select family_name from patients",
	"declare c cursor for select family_name from patients",
	"explain analyze select * from patients where nhs_number = '9434765919'",
	"select * from patients p join wards w on w.ward_id = p.patient_id",
	"select nhs_number from patients where nhs_number = '" + secretNHS + "' and mrn::text::int = 1",
	// Predicates, orderings and groupings that would make a yes/no oracle.
	"select patient_id from patients where nhs_number > '9'",
	"select patient_id from patients order by mrn limit 1",
	"select patient_id from patients where length(family_name) > 5",
	"select patient_id, family_name is null from patients",
	"select case when nhs_number like '94%' then 1 else 0 end from patients",
	"select patient_id from patients where mrn between 1 and 99999999999",
	"select patient_id from patients group by patient_id having max(mrn) > 5",
	"select distinct on (family_name) patient_id from patients",
	"select patient_id from patients p where exists (select 1 from patients q where q.family_name = '" + secretFamily + "')",
	"select patient_id from patients limit (select count(*) from patients where nhs_number = '" + secretNHS + "')",
	"select patient_id from patients where nhs_number similar to '9%'",
	// More ways to read or derive the raw value.
	"select array_to_string(array[family_name], ',') from patients",
	"select format('%s', nhs_number) from patients",
	"select to_json(nhs_number) from patients",
	"select nhs_number::bytea from patients",
	"select encode(nhs_number::bytea, 'hex') from patients",
	"select md5(nhs_number) from patients",
	"select (p).nhs_number from patients p",
	"select patients.* from patients",
	"select p.* from patients p",
	"values ((select family_name from patients limit 1))",
	"select lag(family_name) over () from patients",
	"table patients",
	"declare b binary cursor for select mrn, nhs_number from patients",
}

func TestNoProtectedValueReachesClient(t *testing.T) {
	w := newWorld(t, worldOpts{})
	rec := newRecorder(t, w.addr)
	dsn := "postgres://tester:" + testPassword + "@" + rec.ln.Addr().String() + "/clinic?sslmode=disable"
	ctx := context.Background()
	c := connect(t, dsn)
	for _, mode := range []pgx.QueryExecMode{pgx.QueryExecModeSimpleProtocol, pgx.QueryExecModeCacheStatement, pgx.QueryExecModeExec} {
		for _, q := range hostile {
			rows, err := c.Query(ctx, q, mode)
			if err == nil {
				for rows.Next() {
				}
				rows.Close()
			}
		}
		ensureUsable(t, c)
	}
	var buf bytes.Buffer
	for _, q := range hostile[len(hostile)-9:] {
		buf.Reset()
		c.PgConn().CopyTo(ctx, &buf, q)
	}
	db, err := sql.Open("postgres", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, q := range hostile {
		if rows, err := db.Query(q); err == nil {
			for rows.Next() {
			}
			rows.Close()
		}
	}
	seen := rec.bytes()
	if len(seen) < 1000 {
		t.Fatalf("recorded only %d bytes: the recorder is not in the path", len(seen))
	}
	for name, enc := range secretEncodings() {
		if i := bytes.Index(seen, enc); i >= 0 {
			lo, hi := max(0, i-80), min(len(seen), i+80)
			t.Errorf("%s reached the client: …%q…", name, seen[lo:hi])
		}
	}
}
