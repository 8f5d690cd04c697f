package audit

import (
	"context"
	"os"
	"testing"
)

func benchmarkAppend(b *testing.B, d Durability, dir string) {
	s, _ := testKeys(b)
	l, err := Open(Config{Dir: dir, Durability: d, Signer: s})
	if err != nil {
		b.Fatal(err)
	}
	rec := sampleRecord(1)
	ctx := context.Background()
	b.ReportAllocs()
	var last uint64
	for b.Loop() {
		if last, err = l.AppendSeq(ctx, rec); err != nil {
			b.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		b.Fatal(err)
	}
	if last == 0 {
		b.Fatal("nothing appended")
	}
}

// BenchmarkAppendGroupCommit is one goroutine appending; the flusher
// writes and fsyncs in the background. Sustained, it measures the disk.
func BenchmarkAppendGroupCommit(b *testing.B) { benchmarkAppend(b, GroupCommit, b.TempDir()) }

// BenchmarkAppendGroupCommitTmpfs is the same on /dev/shm, where fsync
// costs nothing: what Append costs the caller's CPU.
func BenchmarkAppendGroupCommitTmpfs(b *testing.B) {
	if _, err := os.Stat("/dev/shm"); err != nil {
		b.Skip("no /dev/shm")
	}
	dir, err := os.MkdirTemp("/dev/shm", "auditbench")
	if err != nil {
		b.Skip(err)
	}
	b.Cleanup(func() { os.RemoveAll(dir) })
	benchmarkAppend(b, GroupCommit, dir)
}

// BenchmarkAppendSyncEach pays one write and fsync per record.
func BenchmarkAppendSyncEach(b *testing.B) { benchmarkAppend(b, SyncEach, b.TempDir()) }

// BenchmarkAppendGroupCommitParallel appends from GOMAXPROCS goroutines.
func BenchmarkAppendGroupCommitParallel(b *testing.B) {
	l, err := Open(Config{Dir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	rec := sampleRecord(1)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := l.Append(context.Background(), rec); err != nil {
				b.Error(err)
				return
			}
		}
	})
	if err := l.Close(); err != nil {
		b.Fatal(err)
	}
}
