package main

import (
	"context"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/sandgate/sandgate/telemetry/audit"
)

const reportUsage = `Usage:
  sandgate report -sandbox S [-from TIME] [-to TIME] [-format md|html|json]
                  [-policy FILE]... [-public-key FILE] AUDIT-FILE|DIR...

The evidence pack for one sandbox: owner, purpose and DPIA reference (from
the policy), every table and column accessed and how each was transformed,
volumes per day, denials, and egress destinations used and refused. HTML has
inline SVG charts and no scripts or external assets.`

// notRecorded stands for a fact the policy does not carry.
const notRecorded = "not recorded"

// evidence is the report's content; JSON is its wire form.
type evidence struct {
	Sandbox   string         `json:"sandbox"`
	Owner     string         `json:"owner"`
	Purpose   string         `json:"purpose"`
	DPIA      string         `json:"dpia"`
	Expiry    string         `json:"expiry"`
	From      string         `json:"from"`
	To        string         `json:"to"`
	Generated string         `json:"generated"`
	Chain     string         `json:"chain"`
	Users     []string       `json:"users"`
	Records   int            `json:"records"`
	Columns   []columnUse    `json:"columns"`
	Days      []dayVolume    `json:"days"`
	Denials   []denial       `json:"denials"`
	Egress    []egressUse    `json:"egress"`
	Kinds     map[string]int `json:"kinds"`
}

type columnUse struct {
	Relation   string   `json:"relation"`
	Column     string   `json:"column"`
	Transforms []string `json:"transforms"`
	Accesses   int      `json:"accesses"`
}

type dayVolume struct {
	Day        string `json:"day"`
	Statements int    `json:"statements"`
	Denied     int    `json:"denied"`
	Rows       int64  `json:"rows"`
	Bytes      int64  `json:"bytes"`
}

type denial struct {
	Time       string   `json:"time"`
	Seq        uint64   `json:"seq"`
	Kind       string   `json:"kind"`
	User       string   `json:"user"`
	Rules      []string `json:"rules"`
	Relations  []string `json:"relations"`
	Target     string   `json:"target,omitempty"`
	ErrorClass string   `json:"error_class,omitempty"`
}

type egressUse struct {
	Destination string `json:"destination"`
	Allowed     int    `json:"allowed"`
	Denied      int    `json:"denied"`
}

// maxDenials bounds the denials listed one by one; all are counted.
const maxDenials = 500

// reportCmd writes the evidence pack for one sandbox.
func reportCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newAuditFlags("report", stderr)
	fs.Usage = func() { fmt.Fprintln(stderr, reportUsage) }
	sandbox := fs.String("sandbox", "", "the sandbox to report on (required)")
	from := fs.String("from", "", "from this time (inclusive)")
	to := fs.String("to", "", "to this time (exclusive)")
	format := fs.String("format", "md", "md, html or json")
	pub := fs.String("public-key", "", "public keyset to check the chain's signatures")
	var policies multiFlag
	fs.Var(&policies, "policy", "policy file naming the sandbox (repeatable)")
	if help, err := parseAuditFlags(fs, args); help || err != nil {
		return err
	}
	if *sandbox == "" {
		return &usageError{msg: "report: -sandbox is required", try: "sandgate report -sandbox diabetes_dash -policy configs/demo-policy.yaml /var/lib/sandgate/audit"}
	}
	if *format != "md" && *format != "html" && *format != "json" {
		return &usageError{msg: fmt.Sprintf("report: -format %q", *format), try: "-format md, html or json"}
	}
	f := recordFilter{sandbox: *sandbox}
	if err := f.times(*from, *to); err != nil {
		return err
	}
	files, err := auditFiles(fs.Args())
	if err != nil {
		return err
	}
	ev, err := gatherEvidence(ctx, f, policies, files, *pub)
	if err != nil {
		return err
	}
	switch *format {
	case "json":
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(ev)
	case "html":
		return writeHTMLReport(stdout, ev)
	}
	return writeMarkdownReport(stdout, ev)
}

// multiFlag collects a repeated flag.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(s string) error { *m = append(*m, s); return nil }

func gatherEvidence(ctx context.Context, f recordFilter, policies, files []string, pub string) (*evidence, error) {
	ev := &evidence{Sandbox: f.sandbox, Owner: notRecorded, Purpose: notRecorded, DPIA: notRecorded, Expiry: notRecorded,
		From: timeOrOpen(f.from), To: timeOrOpen(f.to), Generated: time.Now().UTC().Format(time.RFC3339), Kinds: map[string]int{}}
	if err := ev.fromPolicy(policies); err != nil {
		return nil, err
	}
	ev.Chain = chainStatus(files, pub)
	acc := newAccumulator()
	err := audit.ReadFiles(files, func(_ string, _ int, r audit.Record) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		if f.match(r) {
			acc.add(ev, r)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	acc.finish(ev)
	return ev, nil
}

func timeOrOpen(t time.Time) string {
	if t.IsZero() {
		return "open"
	}
	return t.UTC().Format(time.RFC3339)
}

// fromPolicy fills owner and purpose. The policy's hash key is irrelevant
// here (nothing is hashed), so a fixed one is used to compile it.
func (ev *evidence) fromPolicy(paths []string) error {
	if len(paths) == 0 {
		return nil
	}
	set, err := loadForCheck(paths)
	if err != nil {
		return fmt.Errorf("report: %w", err)
	}
	sb := set.Sandbox(ev.Sandbox)
	if sb == nil {
		return fmt.Errorf("report: sandbox %q is not in the policy files", ev.Sandbox)
	}
	ev.Owner, ev.Purpose, ev.DPIA = orNotRecorded(sb.Owner), orNotRecorded(sb.Purpose), orNotRecorded(sb.DPIA)
	if !sb.Expires.IsZero() {
		ev.Expiry = sb.Expires.Format("2006-01-02")
	}
	return nil
}

func orNotRecorded(s string) string {
	if s == "" {
		return notRecorded
	}
	return s
}

// chainStatus is one line on the log's integrity, for the reader.
func chainStatus(files []string, pub string) string {
	var opts audit.VerifyOptions
	if pub != "" {
		if v, err := readPublicKeyFile(pub); err == nil {
			opts.Verifier = v
		} else {
			return "not verified: " + err.Error()
		}
	}
	res, err := audit.VerifyWith(opts, files...)
	if err != nil {
		return "not verified: " + err.Error()
	}
	if err := res.Err(); err != nil {
		return fmt.Sprintf("BROKEN: %d problems, first: %s", len(res.Problems), res.Problems[0])
	}
	s := fmt.Sprintf("intact: %d records, seq %d to %d", res.Records, res.FirstSeq, res.LastSeq)
	if opts.Verifier != nil {
		s += fmt.Sprintf(", signed up to seq %d", res.LastSigned)
	} else {
		s += ", signatures not checked"
	}
	return s
}

// accumulator folds records into the evidence.
type accumulator struct {
	cols   map[[2]string]*columnUse
	trans  map[[2]string]map[string]bool
	days   map[string]*dayVolume
	egress map[string]*egressUse
	users  map[string]bool
}

func newAccumulator() *accumulator {
	return &accumulator{cols: map[[2]string]*columnUse{}, trans: map[[2]string]map[string]bool{},
		days: map[string]*dayVolume{}, egress: map[string]*egressUse{}, users: map[string]bool{}}
}

func (a *accumulator) add(ev *evidence, r audit.Record) {
	ev.Records++
	ev.Kinds[string(r.Kind)]++
	if r.User != "" {
		a.users[r.User] = true
	}
	for _, c := range r.Columns {
		k := [2]string{c.Relation, c.Name}
		if a.cols[k] == nil {
			a.cols[k], a.trans[k] = &columnUse{Relation: c.Relation, Column: c.Name}, map[string]bool{}
		}
		a.cols[k].Accesses++
		a.trans[k][c.Transform] = true
	}
	day := r.Time.UTC().Format(time.DateOnly)
	d := a.days[day]
	if d == nil {
		d = &dayVolume{Day: day}
		a.days[day] = d
	}
	if r.Kind == audit.KindStatement || r.Kind == audit.KindHTTPData {
		d.Statements++
	}
	d.Rows += r.Rows
	d.Bytes += r.Bytes
	if r.Decision == audit.Deny {
		d.Denied++
		if len(ev.Denials) < maxDenials {
			ev.Denials = append(ev.Denials, denial{Time: r.Time.UTC().Format(time.RFC3339), Seq: r.Seq, Kind: string(r.Kind),
				User: r.User, Rules: r.Rules, Relations: r.Relations, Target: r.Destination, ErrorClass: r.ErrorClass})
		}
	}
	if r.Kind == audit.KindEgress && r.Destination != "" {
		e := a.egress[r.Destination]
		if e == nil {
			e = &egressUse{Destination: r.Destination}
			a.egress[r.Destination] = e
		}
		if r.Decision == audit.Deny {
			e.Denied++
		} else {
			e.Allowed++
		}
	}
}

func (a *accumulator) finish(ev *evidence) {
	for k, c := range a.cols {
		for t := range a.trans[k] {
			c.Transforms = append(c.Transforms, t)
		}
		sort.Strings(c.Transforms)
		ev.Columns = append(ev.Columns, *c)
	}
	sort.Slice(ev.Columns, func(i, j int) bool {
		ci, cj := ev.Columns[i], ev.Columns[j]
		return ci.Relation < cj.Relation || ci.Relation == cj.Relation && ci.Column < cj.Column
	})
	for _, d := range a.days {
		ev.Days = append(ev.Days, *d)
	}
	sort.Slice(ev.Days, func(i, j int) bool { return ev.Days[i].Day < ev.Days[j].Day })
	for _, e := range a.egress {
		ev.Egress = append(ev.Egress, *e)
	}
	sort.Slice(ev.Egress, func(i, j int) bool { return ev.Egress[i].Destination < ev.Egress[j].Destination })
	for u := range a.users {
		ev.Users = append(ev.Users, u)
	}
	sort.Strings(ev.Users)
}

// mdCell escapes a Markdown table cell.
func mdCell(s string) string {
	return strings.NewReplacer("|", `\|`, "\n", " ", "\r", " ").Replace(s)
}

func writeMarkdownReport(w io.Writer, ev *evidence) error {
	var b strings.Builder
	fmt.Fprintf(&b, "# Evidence pack: sandbox %s\n\n", mdCell(ev.Sandbox))
	fmt.Fprintf(&b, "| | |\n|---|---|\n| Owner (built the prototype) | %s |\n| Purpose | %s |\n| DPIA reference | %s |\n| Expiry | %s |\n",
		mdCell(ev.Owner), mdCell(ev.Purpose), mdCell(ev.DPIA), mdCell(ev.Expiry))
	fmt.Fprintf(&b, "| Period | %s to %s |\n| Users seen | %s |\n| Records | %d |\n| Audit chain | %s |\n| Generated | %s |\n\n",
		ev.From, ev.To, mdCell(strings.Join(ev.Users, ", ")), ev.Records, mdCell(ev.Chain), ev.Generated)
	b.WriteString("## Tables and columns accessed\n\n| Relation | Column | Transform | Accesses |\n|---|---|---|---|\n")
	for _, c := range ev.Columns {
		fmt.Fprintf(&b, "| %s | %s | %s | %d |\n", mdCell(c.Relation), mdCell(c.Column), mdCell(strings.Join(c.Transforms, ", ")), c.Accesses)
	}
	b.WriteString("\n## Volumes per day\n\n| Day | Statements | Denied | Rows | Bytes |\n|---|---|---|---|---|\n")
	for _, d := range ev.Days {
		fmt.Fprintf(&b, "| %s | %d | %d | %d | %d |\n", d.Day, d.Statements, d.Denied, d.Rows, d.Bytes)
	}
	fmt.Fprintf(&b, "\n## Denials (%d listed)\n\n| Time | Seq | Kind | User | Rules | Relations or destination | Error class |\n|---|---|---|---|---|---|---|\n", len(ev.Denials))
	for _, d := range ev.Denials {
		fmt.Fprintf(&b, "| %s | %d | %s | %s | %s | %s | %s |\n", d.Time, d.Seq, d.Kind, mdCell(d.User), mdCell(strings.Join(d.Rules, ", ")),
			mdCell(strings.Join(append(append([]string(nil), d.Relations...), d.Target), " ")), mdCell(d.ErrorClass))
	}
	b.WriteString("\n## Egress destinations\n\n| Destination | Allowed | Refused |\n|---|---|---|\n")
	for _, e := range ev.Egress {
		fmt.Fprintf(&b, "| %s | %d | %d |\n", mdCell(e.Destination), e.Allowed, e.Denied)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// bar is one bar of an SVG chart, laid out in Go so the template only
// places it.
type bar struct {
	X, Y, W, H, Y2, H2 int
	Label, Title       string
}

type chart struct {
	Title        string
	Width, Bars0 int
	Bars         []bar
	Max          string
	Legend       [2]string
}

const chartH = 160

// dayChart stacks allowed (lower) and denied (upper) statements per day.
func dayChart(days []dayVolume) chart {
	c := chart{Title: "Statements per day", Legend: [2]string{"allowed or transformed", "denied"}}
	top := 1
	for _, d := range days {
		top = max(top, d.Statements, d.Denied)
	}
	bw := max(8, min(40, 720/max(1, len(days))))
	for i, d := range days {
		ok := max(0, d.Statements-d.Denied)
		h1, h2 := ok*chartH/top, d.Denied*chartH/top
		c.Bars = append(c.Bars, bar{X: 40 + i*(bw+4), W: bw, Y: 10 + chartH - h1, H: h1, Y2: 10 + chartH - h1 - h2, H2: h2,
			Label: d.Day[5:], Title: fmt.Sprintf("%s: %d statements, %d denied, %d rows", d.Day, d.Statements, d.Denied, d.Rows)})
	}
	c.Width, c.Max = 60+len(days)*(bw+4), fmt.Sprint(top)
	return c
}

// egressChart stacks allowed and refused requests per destination.
func egressChart(eg []egressUse) chart {
	c := chart{Title: "Egress requests per destination", Legend: [2]string{"allowed", "refused"}}
	top := 1
	for _, e := range eg {
		top = max(top, e.Allowed+e.Denied)
	}
	for i, e := range eg {
		h1, h2 := e.Allowed*chartH/top, e.Denied*chartH/top
		c.Bars = append(c.Bars, bar{X: 40 + i*64, W: 56, Y: 10 + chartH - h1, H: h1, Y2: 10 + chartH - h1 - h2, H2: h2,
			Label: shorten(e.Destination, 10), Title: fmt.Sprintf("%s: %d allowed, %d refused", e.Destination, e.Allowed, e.Denied)})
	}
	c.Width, c.Max = 60+len(eg)*64, fmt.Sprint(top)
	return c
}

func shorten(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-1] + "…"
}

var htmlReport = template.Must(template.New("report").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Evidence pack: {{.E.Sandbox}}</title>
<style>body{font-family:system-ui,sans-serif;margin:2em;max-width:60em;color:#222}table{border-collapse:collapse;margin:1em 0}
td,th{border:1px solid #bbb;padding:.25em .6em;text-align:left}th{background:#eee}.n{text-align:right}
.broken{color:#a00;font-weight:bold}svg{display:block;margin:1em 0}</style></head><body>
<h1>Evidence pack: sandbox {{.E.Sandbox}}</h1>
<table>
<tr><th>Owner (built the prototype)</th><td>{{.E.Owner}}</td></tr><tr><th>Purpose</th><td>{{.E.Purpose}}</td></tr>
<tr><th>DPIA reference</th><td>{{.E.DPIA}}</td></tr><tr><th>Expiry</th><td>{{.E.Expiry}}</td></tr>
<tr><th>Period</th><td>{{.E.From}} to {{.E.To}}</td></tr><tr><th>Users seen</th><td>{{range $i, $u := .E.Users}}{{if $i}}, {{end}}{{$u}}{{end}}</td></tr>
<tr><th>Records</th><td>{{.E.Records}}</td></tr><tr><th>Audit chain</th><td{{if .Broken}} class="broken"{{end}}>{{.E.Chain}}</td></tr>
<tr><th>Generated</th><td>{{.E.Generated}}</td></tr></table>
{{range .Charts}}{{template "chart" .}}{{end}}
<h2>Tables and columns accessed</h2>
<table><tr><th>Relation</th><th>Column</th><th>Transform</th><th>Accesses</th></tr>
{{range .E.Columns}}<tr><td>{{.Relation}}</td><td>{{.Column}}</td><td>{{range $i, $t := .Transforms}}{{if $i}}, {{end}}{{$t}}{{end}}</td><td class="n">{{.Accesses}}</td></tr>
{{end}}</table>
<h2>Volumes per day</h2>
<table><tr><th>Day</th><th>Statements</th><th>Denied</th><th>Rows</th><th>Bytes</th></tr>
{{range .E.Days}}<tr><td>{{.Day}}</td><td class="n">{{.Statements}}</td><td class="n">{{.Denied}}</td><td class="n">{{.Rows}}</td><td class="n">{{.Bytes}}</td></tr>
{{end}}</table>
<h2>Denials ({{len .E.Denials}} listed)</h2>
<table><tr><th>Time</th><th>Seq</th><th>Kind</th><th>User</th><th>Rules</th><th>Relations</th><th>Destination</th><th>Error class</th></tr>
{{range .E.Denials}}<tr><td>{{.Time}}</td><td class="n">{{.Seq}}</td><td>{{.Kind}}</td><td>{{.User}}</td><td>{{range .Rules}}{{.}} {{end}}</td><td>{{range .Relations}}{{.}} {{end}}</td><td>{{.Target}}</td><td>{{.ErrorClass}}</td></tr>
{{end}}</table>
<h2>Egress destinations</h2>
<table><tr><th>Destination</th><th>Allowed</th><th>Refused</th></tr>
{{range .E.Egress}}<tr><td>{{.Destination}}</td><td class="n">{{.Allowed}}</td><td class="n">{{.Denied}}</td></tr>
{{end}}</table></body></html>
{{define "chart"}}<h2>{{.Title}}</h2>{{if .Bars}}
<svg xmlns="http://www.w3.org/2000/svg" width="{{.Width}}" height="215" role="img" aria-label="{{.Title}}">
<line x1="36" y1="10" x2="36" y2="170" stroke="#444"/><line x1="36" y1="170" x2="{{.Width}}" y2="170" stroke="#444"/>
<text x="32" y="16" font-size="10" text-anchor="end">{{.Max}}</text><text x="32" y="170" font-size="10" text-anchor="end">0</text>
{{range .Bars}}<g><title>{{.Title}}</title><rect x="{{.X}}" y="{{.Y}}" width="{{.W}}" height="{{.H}}" fill="#2b6cb0"/>
<rect x="{{.X}}" y="{{.Y2}}" width="{{.W}}" height="{{.H2}}" fill="#c53030"/>
<text x="{{.X}}" y="184" font-size="9">{{.Label}}</text></g>
{{end}}<rect x="40" y="196" width="10" height="10" fill="#2b6cb0"/><text x="54" y="205" font-size="10">{{index .Legend 0}}</text>
<rect x="200" y="196" width="10" height="10" fill="#c53030"/><text x="214" y="205" font-size="10">{{index .Legend 1}}</text></svg>
{{else}}<p>None in this period.</p>{{end}}{{end}}`))

func writeHTMLReport(w io.Writer, ev *evidence) error {
	data := struct {
		E      *evidence
		Broken bool
		Charts []chart
	}{ev, !strings.HasPrefix(ev.Chain, "intact"), []chart{dayChart(ev.Days), egressChart(ev.Egress)}}
	if err := htmlReport.Execute(w, data); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	return nil
}
