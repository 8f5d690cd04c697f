package synth

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/sandgate/sandgate/internal/pgcluster"
)

// cluster is the throwaway PostgreSQL server the load tests use.
var cluster *pgcluster.Cluster

func TestMain(m *testing.M) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	c, err := pgcluster.Start(ctx, pgcluster.Options{})
	cancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, "start postgresql:", err)
		os.Exit(1)
	}
	cluster = c
	code := m.Run()
	c.Stop()
	os.Exit(code)
}

// newDB creates a fresh database and returns a connection to it.
func newDB(tb testing.TB, ctx context.Context, name string) *pgx.Conn {
	tb.Helper()
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
