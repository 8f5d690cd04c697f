package policy

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	pg_query "github.com/pganalyze/pg_query_go/v6"
)

func rowsSandbox(t testing.TB) *Sandbox {
	t.Helper()
	set, err := Compile(Options{HashKey: testKey}, Source{Name: "rows.yaml", Data: []byte(`
version: 1
sandboxes:
  - name: north_board
    database: clinic
    password_verifier: "` + testVerifier + `"
    tables:
      patients: {patient_id: allow, nhs_number: hash, site: allow, family_name: deny}
      public.notes: {note_id: allow, patient_id: allow, body: allow, author: deny}
      wards: {ward_id: allow, name: allow}
    row_filters:
      patients: "site = 'north' -- only the north site's patients"
    writes:
      public.notes: [insert, update]
      patients: [update]
      wards: [insert]
`)})
	if err != nil {
		t.Fatal(err)
	}
	return set.Sandbox("north_board")
}

const northFilter = `(SELECT * FROM public.patients WHERE site = 'north' OFFSET 0)`

func TestRowFilterRewrite(t *testing.T) {
	sb := rowsSandbox(t)
	for _, tc := range []struct{ sql, want string }{
		{"select patient_id from patients", "select patient_id from " + northFilter + ` AS "patients"`},
		{"SELECT p.patient_id FROM public.patients p WHERE p.patient_id = 3",
			"SELECT p.patient_id FROM " + northFilter + " p WHERE p.patient_id = 3"},
		{"select count(*) from patients as x join wards w on w.ward_id = x.patient_id",
			"select count(*) from " + northFilter + " as x join wards w on w.ward_id = x.patient_id"},
		{"TABLE patients", "SELECT * FROM " + northFilter + ` AS "patients"`},
		{"select 1 from wards where ward_id in (select patient_id from \"public\" . \"patients\")",
			"select 1 from wards where ward_id in (select patient_id from " + northFilter + ` AS "patients")`},
		{"with c as (select patient_id from patients) select * from c, patients q",
			"with c as (select patient_id from " + northFilter + ` AS "patients") select * from c, ` + northFilter + " q"},
		{"/* a 'comment' */ select   patient_id, 'x' from   patients where site = 'north' and patient_id > 2",
			"/* a 'comment' */ select   patient_id, 'x' from   " + northFilter + ` AS "patients" where site = 'north' and patient_id > 2`},
		{"declare c cursor for select patient_id from patients", "declare c cursor for select patient_id from " + northFilter + ` AS "patients"`},
		{"copy (select patient_id from patients) to stdout", "copy (select patient_id from " + northFilter + ` AS "patients") to stdout`},
		{"select ward_id from wards", "select ward_id from wards"},
	} {
		st, err := sb.CheckStatement(tc.sql)
		if err != nil {
			t.Errorf("%s: %v", tc.sql, err)
			continue
		}
		got, err := st.Rewrite(tc.sql)
		if err != nil {
			t.Errorf("%s: rewrite: %v", tc.sql, err)
			continue
		}
		if got != tc.want {
			t.Errorf("%s:\n got %s\nwant %s", tc.sql, got, tc.want)
		}
		if (len(st.RowFilters) > 0) != strings.Contains(tc.want, "OFFSET 0") {
			t.Errorf("%s: RowFilters = %v", tc.sql, st.RowFilters)
		}
	}
}

// The analysis is cached by normalised text: a second statement with other
// literals (of other lengths) and other spacing must be rewritten at its own
// offsets.
func TestRowFilterRewriteCachedShape(t *testing.T) {
	sb := rowsSandbox(t)
	first := "select patient_id from patients where patient_id = 1 and site = 'x'"
	second := "select patient_id   from patients\n where patient_id = 123456 and site = 'a much longer literal'"
	for _, sql := range []string{first, second} {
		st, err := sb.CheckStatement(sql)
		if err != nil {
			t.Fatal(err)
		}
		got, err := st.Rewrite(sql)
		if err != nil {
			t.Fatal(err)
		}
		want := strings.Replace(sql, "from patients", "from "+northFilter+` AS "patients"`, 1)
		if got != want {
			t.Errorf("\n got %s\nwant %s", got, want)
		}
	}
}

// TestUnclosedTextIsNotCached: a text whose string or comment never closes
// must not reuse the analysis of a complete one.
func TestUnclosedTextIsNotCached(t *testing.T) {
	sb := rowsSandbox(t)
	for _, pair := range [][2]string{
		{"select patient_id from patients where site = 'x'", "select patient_id from patients where site = 'x"},
		{"select patient_id from patients /* c */", "select patient_id from patients /* c"},
		{"select patient_id from patients where site = $$x$$", "select patient_id from patients where site = $$x"},
		{"select patient_id from \"patients\"", "select patient_id from \"patients"},
	} {
		if _, err := sb.CheckStatement(pair[0]); err != nil {
			t.Fatalf("%s: %v", pair[0], err)
		}
		_, err := sb.CheckStatement(pair[1])
		var d *Denial
		if !errors.As(err, &d) || d.Rule != "parse" {
			t.Errorf("%s: got %v, want a parse denial", pair[1], err)
		}
	}
}

func TestRowFilterAndTokenLookupTogether(t *testing.T) {
	sb := rowsSandbox(t)
	// nhs_number is hashed, not tokenised: comparing it is refused, and the
	// refusal comes before any rewrite.
	if _, err := sb.CheckStatement("select patient_id from patients where nhs_number = 'abc'"); err == nil {
		t.Fatal("comparison with a hashed column was allowed")
	}
}

func TestRowFilterRefusals(t *testing.T) {
	sb := rowsSandbox(t)
	for sql, rule := range map[string]string{
		"copy patients to stdout":                              "row-filter",
		"select * from only patients":                          "row-filter",
		"update patients set site = 'south'":                   "write",
		"insert into notes values (1, 2, 'x', 'y')":            "write",
		"insert into notes (note_id, author) values (1, 'me')": "write",
		"delete from notes":                                    "write",
		"update wards set name = 'x'":                          "write",
		"insert into notes (note_id, body) select patient_id, family_name from patients":             "protected-column-use",
		"update notes set body = p.nhs_number from patients p where p.patient_id = notes.patient_id": "protected-column-use",
		"with d as (delete from notes returning 1) select * from d":                                  "statement-kind",
		"select * from wards for update":                                                             "statement-kind",
		"select * from (select * from wards for share) s":                                            "statement-kind",
	} {
		_, err := sb.CheckStatement(sql)
		var d *Denial
		if !errors.As(err, &d) {
			t.Errorf("%s: allowed, want a %s denial", sql, rule)
			continue
		}
		if d.Rule != rule {
			t.Errorf("%s: rule %s (%s), want %s", sql, d.Rule, d.Msg, rule)
		}
	}
}

func TestWritesAllowedByPolicy(t *testing.T) {
	sb := rowsSandbox(t)
	for _, sql := range []string{
		"insert into notes (note_id, patient_id, body) values (1, 2, 'seen')",
		"insert into public.notes (note_id, body) values ($1, $2) returning note_id, author",
		"update notes set body = 'x' where note_id = 1",
		"update notes n set body = w.name from wards w where w.ward_id = n.note_id",
		"insert into notes (note_id, patient_id) select patient_id, patient_id from patients where patient_id = 3",
	} {
		st, err := sb.CheckStatement(sql)
		if err != nil {
			t.Errorf("%s: %v", sql, err)
			continue
		}
		if !st.Strict {
			t.Errorf("%s: a write is not Strict, so server error text about the row would reach the client", sql)
		}
	}
	upsert := "insert into %s (%s, name) values (1, 'x') on conflict (%[2]s) do update set name = excluded.name"
	if _, err := sb.CheckStatement(strings.ReplaceAll(fmt.Sprintf(upsert, "notes", "note_id"), "name", "body")); err != nil {
		t.Errorf("upsert where insert and update are allowed: %v", err)
	}
	if _, err := sb.CheckStatement(fmt.Sprintf(upsert, "wards", "ward_id")); err == nil {
		t.Error("upsert allowed where only insert is")
	}
}

func TestRowFilterAndWritePolicyErrors(t *testing.T) {
	for _, tc := range []struct{ yaml, want string }{
		{"row_filters: {wards: \"site = \"}", "row filter of public.wards is not a valid SQL condition"},
		{"row_filters: {wards: \"true) union (select * from secrets\"}", "must be a single condition"},
		{"row_filters: {secrets: \"true\"}", "row_filters names public.secrets, which is not in the sandbox's tables"},
		{"row_filters: {wards: \"\"}", "row filter of public.wards is empty"},
		{"row_filters: {wards: \"ward_id = $1\"}", "row filter of public.wards uses a parameter"},
		{"writes: {wards: [truncate]}", `writes of public.wards: "truncate" is not one of insert, update, delete`},
		{"writes: {wards: []}", "writes of public.wards lists no operation"},
	} {
		_, err := Compile(Options{HashKey: testKey}, Source{Name: "p.yaml", Data: []byte(`
version: 1
sandboxes:
  - name: s
    database: clinic
    password_verifier: "` + testVerifier + `"
    tables:
      wards: {ward_id: allow}
    ` + tc.yaml + "\n")})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want %q", tc.yaml, err, tc.want)
		}
		if err != nil && !strings.Contains(err.Error(), "p.yaml:") {
			t.Errorf("%s: error without a position: %v", tc.yaml, err)
		}
	}
}

// FuzzRowFilterRewrite: whatever statement is allowed, its rewrite parses,
// and every reading of the filtered table goes through the filter.
func FuzzRowFilterRewrite(f *testing.F) {
	for _, s := range []string{
		"select patient_id from patients",
		"TABLE patients",
		"select 1 from wards where ward_id in (select patient_id from \"public\" . \"patients\")",
		"with c as (select patient_id from patients) select * from c, patients q",
		"select patient_id, 'x' from /* c */ patients where site = $1",
	} {
		f.Add(s)
	}
	sb := rowsSandbox(f)
	f.Fuzz(func(t *testing.T, sql string) {
		st, err := sb.CheckStatement(sql)
		if err != nil {
			return
		}
		out, err := st.Rewrite(sql)
		if err != nil {
			return // refused, never sent
		}
		before, after := patientsReads(sql), patientsReads(out)
		if before < 0 {
			t.Fatalf("allowed a statement PostgreSQL's parser rejects: %q", sql)
		}
		if after < 0 {
			t.Fatalf("rewrite does not parse: %q → %q", sql, out)
		}
		if after != before || strings.Count(out, northFilter) < before {
			t.Fatalf("%q → %q: %d readings of patients before, %d after, %d filters", sql, out, before, after, strings.Count(out, northFilter))
		}
	})
}

// patientsReads counts the RangeVars naming patients, or -1 if sql does not
// parse.
func patientsReads(sql string) int {
	tree, err := parse(sql)
	if err != nil {
		return -1
	}
	n := 0
	for _, s := range tree.Stmts {
		walk(s.Stmt, func(m any) {
			if rv, ok := m.(*pg_query.RangeVar); ok && rv.Relname == "patients" {
				n++
			}
		})
	}
	return n
}
