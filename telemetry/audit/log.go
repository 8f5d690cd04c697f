package audit

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// Durability says when an appended record is on stable storage.
type Durability int

const (
	// GroupCommit (the default) writes and fsyncs records in groups: at
	// most GroupWindow after the first record of a group, or as soon as a
	// group holds GroupMax records (later if the previous group's fsync is
	// still running). Append returns once the record is chained in memory;
	// see Config.MaxPending for what a crash can lose, and Config.OnDurable
	// and Flush for knowing what is on disk.
	GroupCommit Durability = iota
	// SyncEach writes and fsyncs each record before Append returns.
	SyncEach
)

// Defaults for the zero Config fields.
const (
	DefaultGroupWindow        = 5 * time.Millisecond
	DefaultGroupMax           = 256
	DefaultMaxFileBytes       = 64 << 20
	DefaultCheckpointEvery    = 4096
	DefaultCheckpointInterval = time.Minute
	DefaultPrefix             = "audit"
)

// Config configures a [Log]. Only Dir is required.
type Config struct {
	// Dir holds the log files; it is created (mode 0700) if absent.
	Dir string
	// Prefix starts every file name; "" means "audit".
	Prefix string
	// Durability is GroupCommit (zero) or SyncEach.
	Durability Durability
	// GroupWindow bounds how long a record waits for its group's fsync;
	// zero means DefaultGroupWindow.
	GroupWindow time.Duration
	// GroupMax records make a group full: it is written at once, without
	// waiting for GroupWindow. Zero means DefaultGroupMax.
	GroupMax int
	// MaxPending bounds the records appended but not yet being written,
	// while the previous group is written and fsynced (groups grow when
	// fsync is slow). Append blocks while it is reached. Zero means
	// 16 × GroupMax. A crash loses at most MaxPending records plus the group
	// being written, and never one reported to OnDurable.
	MaxPending int
	// MaxFileBytes starts a new file before one would grow past it; zero
	// means DefaultMaxFileBytes. A record longer than it gets a file alone.
	MaxFileBytes int64
	// Signer signs checkpoints. Nil means no checkpoints are written, and
	// the chain is only as strong as the files' permissions.
	Signer *Signer
	// CheckpointEvery and CheckpointInterval say when a checkpoint follows
	// an appended record: after that many records, or that long since the
	// last one. Zero means the defaults. Close always writes one.
	CheckpointEvery    int
	CheckpointInterval time.Duration
	// OnDurable, if set, is called with the highest sequence number known
	// to be fsynced, after each fsync. It must not call the Log.
	OnDurable func(seq uint64)
	// Logger receives warnings; nil means slog.Default().
	Logger *slog.Logger
}

// ErrClosed is returned by Append after Close.
var ErrClosed = errors.New("audit log closed")

// Log appends records to a hash-chained set of files. It is safe for
// concurrent use.
type Log struct {
	cfg Config
	log *slog.Logger
	fw  *fileWriter // the files; serialised by its own lock

	mu        sync.Mutex
	cond      *sync.Cond // signalled when a group is taken or the log fails
	seq       uint64     // last sequence number chained
	prev      [64]byte   // hex hash of the last line chained
	pending   []byte     // chained lines not yet written
	pendingN  int
	spare     []byte
	sinceCkpt int
	lastCkpt  time.Time
	durable   uint64 // highest sequence number fsynced
	err       error  // sticky write error
	closed    bool

	kick, full, stop chan struct{}
	done             chan struct{}
}

// Open opens the log in cfg.Dir, continuing the chain from the last
// complete record already there, in a new file.
func Open(cfg Config) (*Log, error) {
	cfg = withDefaults(cfg)
	if cfg.Dir == "" {
		return nil, errors.New("open audit log: no directory given")
	}
	fw, seq, prev, err := openFiles(cfg)
	if err != nil {
		return nil, fmt.Errorf("open audit log %s: %w", cfg.Dir, err)
	}
	l := &Log{cfg: cfg, log: cfg.Logger, fw: fw, seq: seq, lastCkpt: time.Now(),
		kick: make(chan struct{}, 1), full: make(chan struct{}, 1),
		stop: make(chan struct{}), done: make(chan struct{})}
	copy(l.prev[:], prev)
	l.cond = sync.NewCond(&l.mu)
	if cfg.Durability == GroupCommit {
		go l.flushLoop()
	} else {
		close(l.done)
	}
	return l, nil
}

func withDefaults(c Config) Config {
	if c.Prefix == "" {
		c.Prefix = DefaultPrefix
	}
	if c.GroupWindow <= 0 {
		c.GroupWindow = DefaultGroupWindow
	}
	if c.GroupMax <= 0 {
		c.GroupMax = DefaultGroupMax
	}
	if c.MaxFileBytes <= 0 {
		c.MaxFileBytes = DefaultMaxFileBytes
	}
	if c.MaxPending <= 0 {
		c.MaxPending = 16 * c.GroupMax
	}
	if c.CheckpointEvery <= 0 {
		c.CheckpointEvery = DefaultCheckpointEvery
	}
	if c.CheckpointInterval <= 0 {
		c.CheckpointInterval = DefaultCheckpointInterval
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

var bodyPool = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

// Append chains rec onto the log. Seq, Prev, KeyID and Sig are set by the
// log; a zero Time becomes now. Destination and ErrorClass are sanitised.
// With SyncEach the record is on stable storage when Append returns nil.
func (l *Log) Append(ctx context.Context, rec Record) error {
	_, err := l.AppendSeq(ctx, rec)
	return err
}

// AppendSeq is Append that also returns the record's sequence number.
func (l *Log) AppendSeq(ctx context.Context, rec Record) (uint64, error) {
	if rec.Kind == "" || rec.Kind == KindCheckpoint {
		return 0, fmt.Errorf("append audit record: kind %q not allowed", rec.Kind)
	}
	if rec.Time.IsZero() {
		rec.Time = time.Now()
	}
	rec.Destination = SanitiseDestination(rec.Destination)
	rec.ErrorClass = SanitiseClass(rec.ErrorClass)
	rec.KeyID, rec.Sig = 0, ""
	bp := bodyPool.Get().(*[]byte)
	body := rec.appendBody((*bp)[:0])
	defer func() { *bp = body; bodyPool.Put(bp) }()

	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.waitRoom(ctx); err != nil {
		return 0, err
	}
	seq := l.chain(body)
	if l.cfg.Signer != nil && l.checkpointDue(rec.Time) {
		if err := l.checkpoint(rec.Time); err != nil {
			l.err = err
			return 0, err
		}
	}
	if l.cfg.Durability == SyncEach {
		return seq, l.writeLocked()
	}
	return seq, nil
}

// waitRoom waits (l.mu held) until a group has room.
func (l *Log) waitRoom(ctx context.Context) error {
	if l.cfg.Durability == GroupCommit && l.pendingN >= l.cfg.MaxPending {
		stop := context.AfterFunc(ctx, func() {
			l.mu.Lock()
			l.cond.Broadcast()
			l.mu.Unlock()
		})
		defer stop()
		for l.pendingN >= l.cfg.MaxPending && l.err == nil && !l.closed && ctx.Err() == nil {
			l.cond.Wait()
		}
	}
	switch {
	case l.closed:
		return ErrClosed
	case l.err != nil:
		return fmt.Errorf("append audit record: %w", l.err)
	case ctx.Err() != nil:
		return fmt.Errorf("append audit record: %w", ctx.Err())
	}
	return nil
}

// chain appends one line (l.mu held) and returns its sequence number.
func (l *Log) chain(body []byte) uint64 {
	l.seq++
	start := len(l.pending)
	l.pending = appendLine(l.pending, l.seq, body, l.prev[:])
	sum := sha256.Sum256(l.pending[start:])
	hex.Encode(l.prev[:], sum[:])
	l.pending = append(l.pending, '\n')
	l.pendingN++
	l.sinceCkpt++
	if l.cfg.Durability == GroupCommit {
		if l.pendingN == 1 {
			signal(l.kick)
		}
		if l.pendingN >= l.cfg.GroupMax {
			signal(l.full)
		}
	}
	return l.seq
}

func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// writeLocked writes and fsyncs the pending lines (l.mu held).
func (l *Log) writeLocked() error {
	if err := l.fw.write(l.pending); err != nil {
		l.err = err
		return fmt.Errorf("append audit record: %w", err)
	}
	l.pending, l.pendingN = l.pending[:0], 0
	l.markDurable(l.seq)
	return nil
}

// markDurable (l.mu held) reports seq to OnDurable if it is news.
func (l *Log) markDurable(seq uint64) {
	if seq <= l.durable {
		return
	}
	l.durable = seq
	if l.cfg.OnDurable != nil {
		l.cfg.OnDurable(seq)
	}
}

// flushLoop writes groups until the log is closed.
func (l *Log) flushLoop() {
	defer close(l.done)
	t := time.NewTimer(time.Hour)
	t.Stop()
	for {
		select {
		case <-l.kick:
		case <-l.stop:
			l.flush()
			return
		}
		t.Reset(l.cfg.GroupWindow)
		select {
		case <-t.C:
		case <-l.full:
		case <-l.stop:
		}
		t.Stop()
		l.flush()
	}
}

// flush takes the pending group, writes and fsyncs it.
func (l *Log) flush() {
	l.mu.Lock()
	buf, n, last := l.pending, l.pendingN, l.seq
	if n == 0 {
		l.mu.Unlock()
		return
	}
	l.pending, l.pendingN = l.spare[:0], 0
	l.cond.Broadcast()
	// Take the file lock before letting go of l.mu, so that a Flush or a
	// SyncEach write of later records cannot overtake this group.
	l.fw.mu.Lock()
	l.mu.Unlock()
	err := l.fw.writeHeld(buf)
	l.fw.mu.Unlock()
	l.mu.Lock()
	l.spare = buf[:0]
	if err != nil && l.err == nil {
		l.err = err
		l.log.Error("audit log write failed; further appends fail", "dir", l.cfg.Dir, "err", err)
	}
	if err == nil {
		l.markDurable(last)
	}
	l.cond.Broadcast()
	l.mu.Unlock()
}

// Flush waits until every record appended before it is on stable storage.
func (l *Log) Flush(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.err != nil {
		return fmt.Errorf("flush audit log: %w", l.err)
	}
	if l.closed {
		return ErrClosed
	}
	// Writing the pending group here, under l.mu, keeps the order: the
	// flusher's group (if any) was taken before and is serialised by fw.
	if err := l.fw.write(l.pending); err != nil {
		l.err = err
		return fmt.Errorf("flush audit log: %w", err)
	}
	l.pending, l.pendingN = l.pending[:0], 0
	l.cond.Broadcast()
	l.markDurable(l.seq)
	return ctx.Err()
}

// Close writes a closing checkpoint (with a Signer), flushes and closes the
// current file. Appends after Close fail with ErrClosed.
func (l *Log) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return ErrClosed
	}
	var errs []error
	if l.cfg.Signer != nil && l.err == nil {
		errs = append(errs, l.checkpoint(time.Now()))
	}
	l.closed = true
	l.cond.Broadcast()
	l.mu.Unlock()
	close(l.stop)
	<-l.done
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.err == nil && len(l.pending) > 0 {
		werr := l.fw.write(l.pending)
		if werr == nil {
			l.markDurable(l.seq)
		}
		errs = append(errs, werr)
		l.pending = l.pending[:0]
	}
	errs = append(errs, l.err, l.fw.close())
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("close audit log: %w", err)
	}
	return nil
}
