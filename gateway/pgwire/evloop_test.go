//go:build linux

package pgwire

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// onLoop reports how many of the server's sessions the event loops relay.
func onLoop(srv *Server) (loop, all int) {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	for sess := range srv.sessions {
		sess.upMu.Lock()
		if sess.loopAbort != nil {
			loop++
		}
		sess.upMu.Unlock()
		all++
	}
	return loop, all
}

// TestRelayChoice: plain TCP sessions run on the event loop; TLS
// sessions, and every session when GoroutineRelay is set, use goroutines.
func TestRelayChoice(t *testing.T) {
	for _, tc := range []struct {
		name   string
		o      worldOpts
		ssl    string
		onLoop int
	}{
		{"plain", worldOpts{}, "disable", 1},
		{"tls", worldOpts{tls: true}, "require", 0},
		{"goroutines", worldOpts{mutate: func(c *Config) { c.GoroutineRelay = true }}, "disable", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t, tc.o)
			c := connect(t, w.dsn("tester", testPassword, tc.ssl))
			ensureUsable(t, c)
			if loop, all := onLoop(w.srv); loop != tc.onLoop || all != 1 {
				t.Fatalf("%d of %d sessions on the event loop, want %d of 1", loop, all, tc.onLoop)
			}
		})
	}
}

// TestRelaysAgree runs the same work through both relays — simple and
// extended protocol, text and binary results, transformed and denied
// columns, a pipelined batch, COPY OUT, errors — and compares everything
// the client saw.
func TestRelaysAgree(t *testing.T) {
	run := func(goroutines bool) string {
		w := newWorld(t, worldOpts{mutate: func(c *Config) { c.GoroutineRelay = goroutines }})
		c := connect(t, w.dsn("tester", testPassword, "disable"))
		ctx := context.Background()
		var out strings.Builder
		queries := []string{
			"select patient_id, nhs_number, mrn, dob, note from patients order by patient_id",
			"select family_name from patients",
			"select ward_id, name from wards order by 1",
			"select count(*) from patients where patient_id > 1",
			"select 1/0",
			"select note::int from patients where patient_id = 1",
		}
		for _, mode := range []pgx.QueryExecMode{pgx.QueryExecModeSimpleProtocol, pgx.QueryExecModeDescribeExec, pgx.QueryExecModeCacheStatement, pgx.QueryExecModeExec} {
			for _, q := range queries {
				rows, err := c.Query(ctx, q, mode)
				if err == nil {
					for rows.Next() {
						vals, _ := rows.Values()
						fmt.Fprintf(&out, "%v\n", vals)
					}
					err = rows.Err()
				}
				fmt.Fprintf(&out, "%v: %s %v\n", mode, q, err)
			}
		}
		b := &pgx.Batch{}
		b.Queue("select ward_id from wards where ward_id = $1", 1)
		b.Queue("select nhs_number from patients where patient_id = $1", 1)
		b.Queue("select name from wards where ward_id = $1", 2)
		br := c.SendBatch(ctx, b)
		for range 3 {
			rows, err := br.Query()
			if err == nil {
				for rows.Next() {
					vals, _ := rows.Values()
					fmt.Fprintf(&out, "%v\n", vals)
				}
				err = rows.Err()
			}
			fmt.Fprintf(&out, "batch: %v\n", err)
		}
		br.Close()
		for _, q := range []string{"copy wards to stdout", "copy (select patient_id, nhs_number, note from patients order by 1) to stdout"} {
			var copied bytes.Buffer
			_, err := c.PgConn().CopyTo(ctx, &copied, q)
			fmt.Fprintf(&out, "%s: %q %v\n", q, copied.String(), err)
		}
		return out.String()
	}
	loop, goroutines := run(false), run(true)
	if loop != goroutines {
		t.Fatalf("the relays disagree.\nevent loop:\n%s\ngoroutines:\n%s", loop, goroutines)
	}
	if !strings.Contains(loop, "[1 ") || !strings.Contains(loop, "42501") || !strings.Contains(loop, "Calder\\n") {
		t.Fatalf("the work did not run as expected:\n%s", loop)
	}
}

// TestLoopSlowReader: a client that stops reading a large result holds back
// only its own session. Others on the same loop carry on meanwhile, and the
// slow client then gets every row intact.
func TestLoopSlowReader(t *testing.T) {
	w := newWorld(t, worldOpts{})
	bystander := connect(t, w.dsn("tester", testPassword, "disable"))
	slow := hijacked(t, w)
	const rows, width = 60000, 1000 // 60 MB: far more than the socket buffers of both legs hold
	q := fmt.Sprintf("select repeat('x', %d) || g from generate_series(1, %d) g", width, rows)
	if _, err := slow.Write(appendMsg(nil, 'Q', append([]byte(q), 0))); err != nil {
		t.Fatal(err)
	}
	// Let the socket buffers fill; the server and the gateway now wait on
	// the slow client.
	time.Sleep(300 * time.Millisecond)
	for range 20 {
		ensureUsable(t, bystander)
	}
	if loop, all := onLoop(w.srv); loop != 2 || all != 2 {
		t.Fatalf("%d of %d sessions on the event loop, want both", loop, all)
	}
	slow.SetDeadline(time.Now().Add(30 * time.Second))
	got := 0
	for {
		var hdr [5]byte
		if _, err := io.ReadFull(slow, hdr[:]); err != nil {
			t.Fatalf("after %d rows: %v", got, err)
		}
		body := make([]byte, binary.BigEndian.Uint32(hdr[1:])-4)
		if _, err := io.ReadFull(slow, body); err != nil {
			t.Fatalf("after %d rows: %v", got, err)
		}
		switch hdr[0] {
		case 'D':
			got++
			want := strings.Repeat("x", width) + fmt.Sprint(got)
			if len(body) != 2+4+len(want) || string(body[6:]) != want {
				t.Fatalf("row %d arrived damaged: %d bytes", got, len(body))
			}
		case 'E':
			t.Fatalf("error after %d rows: %q", got, body)
		case 'Z':
			if got != rows {
				t.Fatalf("got %d rows, want %d", got, rows)
			}
			return
		}
	}
}

// TestLoopLargeMessages: messages far larger than the loop's read buffer
// pass whole in both directions.
func TestLoopLargeMessages(t *testing.T) {
	w := newWorld(t, worldOpts{})
	c := connect(t, w.dsn("tester", testPassword, "disable"))
	big := strings.Repeat("abcdefgh", 300<<10/8) // 300 KiB
	var got string
	if err := c.QueryRow(context.Background(), "select $1::text || 'z'", big).Scan(&got); err != nil {
		t.Fatal(err)
	}
	if got != big+"z" {
		t.Fatalf("a 300 KiB value came back as %d bytes", len(got))
	}
	if loop, _ := onLoop(w.srv); loop != 1 {
		t.Fatal("the session is not on the event loop")
	}
}

// TestLoopSurvivesPanic: a fault while handling one session's message ends
// that session; the loop's other sessions, and new ones, carry on.
func TestLoopSurvivesPanic(t *testing.T) {
	w := newWorld(t, worldOpts{})
	bystander := connect(t, w.dsn("tester", testPassword, "disable"))
	victim := connect(t, w.dsn("tester", testPassword, "disable"))
	hook := func(typ byte, body []byte) {
		if bytes.Contains(body, []byte("injected fault")) {
			panic("injected fault")
		}
	}
	testHookClientMessage.Store(&hook)
	t.Cleanup(func() { testHookClientMessage.Store(nil) })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := victim.Exec(ctx, "select 'injected fault'"); err == nil {
		t.Fatal("the faulty session answered")
	}
	ensureUsable(t, bystander)
	ensureUsable(t, connect(t, w.dsn("tester", testPassword, "disable")))
	logs := w.logs.String()
	if !strings.Contains(logs, "internal error in the relay") {
		t.Fatal("the fault was not logged")
	}
	if strings.Contains(logs, "injected fault") {
		t.Fatal("the panic's value, which could quote data, reached the log")
	}
}

// TestShutdownEndsSessions: Shutdown waits for open sessions until its
// context ends, then ends them, on the event loop and off it alike.
func TestShutdownEndsSessions(t *testing.T) {
	for _, goroutines := range []bool{false, true} {
		w := newWorld(t, worldOpts{mutate: func(c *Config) { c.GoroutineRelay = goroutines }})
		c := connect(t, w.dsn("tester", testPassword, "disable"))
		ensureUsable(t, c)
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		err := w.srv.Shutdown(ctx)
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("goroutines=%v: Shutdown with a session open returned %v, want the grace period's end", goroutines, err)
		}
		if _, err := c.Exec(context.Background(), "select 1"); err == nil {
			t.Fatalf("goroutines=%v: the session still answers after Shutdown", goroutines)
		}
		if _, all := onLoop(w.srv); all != 0 {
			t.Fatalf("goroutines=%v: %d sessions left after Shutdown", goroutines, all)
		}
	}
}

// TestCatalogReloadOffLoop: while one session waits for its database's
// catalog to load (held back here until the test lets it go), sessions
// sharing its event loop carry on; then the waiting one gets its answer.
func TestCatalogReloadOffLoop(t *testing.T) {
	w := newWorld(t, worldOpts{})
	cat, err := w.srv.catalogFor("clinic")
	if err != nil {
		t.Fatal(err)
	}
	gate := make(chan struct{})
	load := cat.load
	cat.load = func(ctx context.Context) (map[uint32]*relInfo, error) {
		<-gate
		return load(ctx)
	}
	released := false
	release := func() {
		if !released {
			released = true
			close(gate)
		}
	}
	defer release()
	// A bystander on every loop, so one shares the waiting session's.
	var bystanders []*pgx.Conn
	pickLoop(w.srv.log) // through loopsOnce: the loops are started and visible here
	for range len(loops) + 1 {
		bystanders = append(bystanders, connect(t, w.dsn("tester", testPassword, "disable")))
	}
	slow := connect(t, w.dsn("tester", testPassword, "disable"))
	answer := make(chan error, 1)
	go func() {
		var name string
		err := slow.QueryRow(context.Background(), "select name from wards where ward_id = 2").Scan(&name)
		if err == nil && name != "Calder" {
			err = fmt.Errorf("got %q", name)
		}
		answer <- err
	}()
	waitFor(t, func() bool { return !cat.mu.TryLock() || func() bool { cat.mu.Unlock(); return false }() })
	for _, b := range bystanders {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		var one int
		err := b.QueryRow(ctx, "select 1").Scan(&one)
		cancel()
		if err != nil {
			t.Fatalf("a session waited for another's catalog load: %v", err)
		}
	}
	select {
	case err := <-answer:
		t.Fatalf("the query needing the catalog answered before the catalog loaded: %v", err)
	default:
	}
	release()
	if err := <-answer; err != nil {
		t.Fatalf("the query that waited for the catalog: %v", err)
	}
}
