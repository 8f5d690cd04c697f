package pgwire

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// relInfo is one relation as the catalog describes it.
type relInfo struct {
	schema, name string
	attrs        map[uint16]string // attnum → column name
	ordered      []string          // columns in attnum order, dropped ones left out
}

// catalog maps table OIDs to names for one upstream database. It is loaded
// from the upstream on first use and reloaded on a miss, at most once per
// minReload, so a table created after start-up is found.
type catalog struct {
	load      func(ctx context.Context) (map[uint32]*relInfo, error)
	minReload time.Duration

	mu       sync.Mutex
	rels     map[uint32]*relInfo
	byName   map[[2]string]*relInfo
	loadedAt time.Time
}

const catalogQuery = `select c.oid, n.nspname, c.relname, a.attnum, a.attname
from pg_catalog.pg_class c
join pg_catalog.pg_namespace n on n.oid = c.relnamespace
join pg_catalog.pg_attribute a on a.attrelid = c.oid
where a.attnum > 0 and not a.attisdropped and c.relkind in ('r', 'v', 'm', 'p', 'f')
order by c.oid, a.attnum`

// relation resolves oid, reloading once when it is unknown.
func (c *catalog) relation(ctx context.Context, oid uint32) (*relInfo, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if r := c.rels[oid]; r != nil {
		return r, nil
	}
	if err := c.reloadLocked(ctx); err != nil {
		return nil, err
	}
	return c.rels[oid], nil
}

// cached reports whether relation(oid) would answer without loading the
// catalog: the relation is known, or a reload is not due yet. A load under
// way (the lock is held) counts as no.
func (c *catalog) cached(oid uint32) bool {
	if !c.mu.TryLock() {
		return false
	}
	defer c.mu.Unlock()
	return c.rels[oid] != nil || c.fresh()
}

// cachedName is cached for byQualifiedName.
func (c *catalog) cachedName(schema, name string) bool {
	if !c.mu.TryLock() {
		return false
	}
	defer c.mu.Unlock()
	return c.byName[[2]string{schema, name}] != nil || c.fresh()
}

// fresh reports (c.mu held) whether the catalog was loaded too recently to
// be loaded again.
func (c *catalog) fresh() bool { return c.rels != nil && time.Since(c.loadedAt) < c.minReload }

// byQualifiedName finds a relation by schema and name, reloading once.
func (c *catalog) byQualifiedName(ctx context.Context, schema, name string) (*relInfo, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if r := c.byName[[2]string{schema, name}]; r != nil {
		return r, nil
	}
	if err := c.reloadLocked(ctx); err != nil {
		return nil, err
	}
	return c.byName[[2]string{schema, name}], nil
}

func (c *catalog) reloadLocked(ctx context.Context) error {
	if c.fresh() {
		return nil
	}
	rels, err := c.load(ctx)
	if err != nil {
		return fmt.Errorf("load catalog: %w", err)
	}
	c.rels = rels
	c.byName = make(map[[2]string]*relInfo, len(rels))
	for _, r := range rels {
		c.byName[[2]string{r.schema, r.name}] = r
	}
	c.loadedAt = time.Now()
	return nil
}

// loadCatalog reads relations and columns over a short-lived connection.
func loadCatalog(ctx context.Context, cfg *pgconn.Config) (map[uint32]*relInfo, error) {
	pc, err := pgconn.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, err
	}
	defer pc.Close(context.Background())
	rr := pc.ExecParams(ctx, catalogQuery, nil, nil, nil, nil)
	rels := map[uint32]*relInfo{}
	for rr.NextRow() {
		v := rr.Values()
		oid64, err1 := strconv.ParseUint(string(v[0]), 10, 32)
		attnum, err2 := strconv.ParseUint(string(v[3]), 10, 16)
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("catalog row: bad oid or attnum")
		}
		oid := uint32(oid64)
		r := rels[oid]
		if r == nil {
			r = &relInfo{schema: string(v[1]), name: string(v[2]), attrs: map[uint16]string{}}
			rels[oid] = r
		}
		col := string(v[4])
		r.attrs[uint16(attnum)] = col
		r.ordered = append(r.ordered, col)
	}
	if _, err := rr.Close(); err != nil {
		return nil, err
	}
	return rels, nil
}
