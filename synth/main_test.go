package synth

import (
	"context"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/sandgate/sandgate/internal/pgcluster"
)

// cluster is the throwaway PostgreSQL server the load tests use. It starts
// on first use, so tests that need no database (and fuzz workers) do not
// pay for it; TestMain stops it.
var (
	cluster     *pgcluster.Cluster
	clusterErr  error
	clusterOnce sync.Once
)

func TestMain(m *testing.M) {
	code := m.Run()
	if cluster != nil {
		cluster.Stop()
	}
	os.Exit(code)
}

func startCluster(tb testing.TB) *pgcluster.Cluster {
	tb.Helper()
	clusterOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		cluster, clusterErr = pgcluster.Start(ctx, pgcluster.Options{})
	})
	if clusterErr != nil {
		tb.Fatalf("start postgresql: %v", clusterErr)
	}
	return cluster
}

// newDB creates a fresh database and returns a connection to it.
func newDB(tb testing.TB, ctx context.Context, name string) *pgx.Conn {
	tb.Helper()
	startCluster(tb)
	if err := cluster.Exec(ctx, "postgres", "DROP DATABASE IF EXISTS "+name+"; CREATE DATABASE "+name); err != nil {
		tb.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, cluster.DSN(name))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}
