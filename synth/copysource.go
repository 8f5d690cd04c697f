package synth

import (
	"context"

	"github.com/jackc/pgx/v5"
)

// CopySource streams a slot range of a table to pgx's CopyFrom, generating
// each row when COPY asks for it: nothing is materialised.
type CopySource struct {
	ctx        context.Context
	g          *Generator
	slot, end  int64
	total      int64
	rows       int64
	cells      []cell
	vals       []any
	err        error
	progress   func(Progress)
	every, due int64
}

var _ pgx.CopyFromSource = (*CopySource)(nil)

// NewCopySource returns a source for slots [from, to) of g's table. Several
// sources over disjoint ranges can feed parallel connections.
func NewCopySource(ctx context.Context, g *Generator, from, to int64) *CopySource {
	return newCopySource(ctx, g, from, to, &LoadOptions{})
}

func newCopySource(ctx context.Context, g *Generator, from, to int64, opts *LoadOptions) *CopySource {
	n := len(g.t.Columns)
	every := opts.ProgressEvery
	if every <= 0 {
		every = 65536
	}
	return &CopySource{ctx: ctx, g: g, slot: from, end: to, total: to - from,
		cells: make([]cell, n), vals: make([]any, n),
		progress: opts.Progress, every: every, due: from + every}
}

// Next advances to the next slot that holds a row.
func (c *CopySource) Next() bool {
	for c.slot < c.end {
		s := c.slot
		c.slot++
		if c.slot >= c.due {
			c.due += c.every
			if err := c.ctx.Err(); err != nil {
				c.err = err
				return false
			}
			c.report(false)
		}
		if c.g.Gen(s) {
			c.rows++
			return true
		}
	}
	return false
}

// Values returns the current row as pointers into reused storage, valid
// until the next call to Next (pgx encodes each row before asking for the
// next).
func (c *CopySource) Values() ([]any, error) {
	r := &c.g.row
	for i := range c.g.t.Columns {
		c.vals[i] = c.g.t.Columns[i].f.value(r, &c.cells[i])
	}
	return c.vals, nil
}

// Err returns why Next stopped early, if it did.
func (c *CopySource) Err() error { return c.err }

// Rows returns the rows produced so far.
func (c *CopySource) Rows() int64 { return c.rows }

func (c *CopySource) report(done bool) {
	if c.progress == nil {
		return
	}
	c.progress(Progress{Table: c.g.t.Name, Slots: c.total - (c.end - c.slot), TotalSlots: c.total, Rows: c.rows, Done: done})
}
