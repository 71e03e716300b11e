// Package store persists byoi's machines, tasks, events, DHCP leases and API
// credentials in a single bbolt file. The store is the source of truth: every
// write happens in one bbolt transaction, and secondary indexes (MAC →
// machine, machine → active task, token hash → task) are kept in the same
// transaction as the records they point to.
//
// Typical use:
//
//	st, err := store.Open("/var/lib/byoi/byoi.db", store.Options{})
//	if err != nil { return err }
//	defer st.Close()
//	m, err := st.MachineByMAC(ctx, "52:54:00:12:34:56")
//	if errors.Is(err, boot.ErrNotFound) { /* unknown machine */ }
//
// "Not found" errors wrap boot.ErrNotFound and conflicts (a name or MAC
// already taken, a second active task) wrap boot.ErrConflict.
package store

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/byoi/byoi/boot"
	bolt "go.etcd.io/bbolt"
)

// SchemaVersion is the version of the on-disk layout this code writes.
// A file with a newer version is refused rather than misread.
const SchemaVersion = 3

// DefaultTimeout is how long Open waits for the file lock when
// Options.Timeout is zero.
const DefaultTimeout = 5 * time.Second

// DefaultBatchDelay is Options.BatchDelay's default. Under load (200
// installers reporting ten times a second) one fsync per write queues
// writes for seconds; batching keeps a report's latency near one fsync.
// Alone, a write waits this long more.
const DefaultBatchDelay = 2 * time.Millisecond

// ErrNewerSchema is returned by Open for a file written by a newer byoi.
var ErrNewerSchema = errors.New("store schema is newer than this byoi")

// Bucket names. Index buckets map a key to the primary key of a record.
var (
	bucketMeta         = []byte("meta")
	bucketMachines     = []byte("machines")       // name → Machine JSON
	bucketMACs         = []byte("macs")           // mac → name
	bucketTasks        = []byte("tasks")          // id (8 bytes BE) → Task JSON
	bucketMachineTasks = []byte("machine_tasks")  // name \x00 id → nothing
	bucketActive       = []byte("active_tasks")   // name → id
	bucketTokens       = []byte("task_tokens")    // token hash → id, active flag
	bucketEvents       = []byte("events")         // seq (8 bytes BE) → Event JSON
	bucketMachineEvts  = []byte("machine_events") // name \x00 seq → nothing
	bucketLeases       = []byte("leases")         // mac → Lease JSON
	bucketCredentials  = []byte("credentials")    // id → Credential JSON
	bucketDiscovered   = []byte("discovered")     // created (8 bytes BE unix ns) name → nothing, oldest first
	bucketEventCounts  = []byte("event_counts")   // name → number of events kept (8 bytes BE)
	bucketRescue       = []byte("rescue_tokens")  // rescue token hash → machine name
	bucketTaskLogs     = []byte("task_logs")      // task id, line index (8 bytes BE each) → LogLine JSON
	bucketTaskLogMeta  = []byte("task_log_meta")  // task id → logMeta JSON

	keyVersion = []byte("version")

	allBuckets = [][]byte{
		bucketMeta, bucketMachines, bucketMACs, bucketTasks, bucketMachineTasks,
		bucketActive, bucketTokens, bucketEvents, bucketMachineEvts, bucketLeases,
		bucketCredentials, bucketDiscovered, bucketEventCounts, bucketRescue,
		bucketTaskLogs, bucketTaskLogMeta,
	}
)

// Options configure Open. The zero value works.
type Options struct {
	// Timeout is how long to wait for another process's lock on the file;
	// 0 means DefaultTimeout.
	Timeout time.Duration
	// Logger receives informational messages; nil discards them.
	Logger *slog.Logger
	// BatchDelay is how long a write waits for others to share its
	// transaction (bbolt's Batch: one fsync for many concurrent writes,
	// each still atomic). 0 means DefaultBatchDelay; negative turns
	// batching off (one transaction and one fsync per write).
	BatchDelay time.Duration
	// MaxDiscovered caps the machines recorded from unknown MACs: recording
	// one more first deletes the oldest discovered machine not yet adopted
	// (with its events). 0 means DefaultMaxDiscovered.
	MaxDiscovered int
	// MaxEvents caps each machine's history: appending one more deletes its
	// oldest event. 0 means DefaultMaxEvents.
	MaxEvents int
	// MaxLogLines and MaxLogBytes cap each task's log (the output of the
	// programs its installer runs): appending more deletes its oldest
	// lines. 0 means DefaultMaxLogLines and DefaultMaxLogBytes.
	MaxLogLines int
	MaxLogBytes int
}

// Defaults of Options' caps. A discovered machine with its capped history
// takes a few tens of kilobytes at most, so the defaults bound what a flood
// of unknown MACs can make the store hold to about 100 MB.
const (
	DefaultMaxDiscovered = 1000
	DefaultMaxEvents     = 500
)

func (o *Options) setDefaults() {
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.BatchDelay == 0 {
		o.BatchDelay = DefaultBatchDelay
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if o.MaxDiscovered <= 0 {
		o.MaxDiscovered = DefaultMaxDiscovered
	}
	if o.MaxEvents <= 0 {
		o.MaxEvents = DefaultMaxEvents
	}
	if o.MaxLogLines <= 0 {
		o.MaxLogLines = DefaultMaxLogLines
	}
	if o.MaxLogBytes <= 0 {
		o.MaxLogBytes = DefaultMaxLogBytes
	}
}

// Store is the bbolt-backed store. Its methods are safe for concurrent use.
type Store struct {
	db    *bolt.DB
	log   *slog.Logger
	batch bool
	opts  Options

	evicted atomic.Uint64 // discovered machines deleted to stay under MaxDiscovered
	pruned  atomic.Uint64 // events deleted to stay under MaxEvents

	logDropped atomic.Uint64 // task log lines deleted to stay under the log caps
}

// Open opens (creating if needed) the store file at path and brings its
// schema up to date. It refuses files written with a newer schema.
func Open(path string, opts Options) (*Store, error) {
	opts.setDefaults()
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: opts.Timeout, NoFreelistSync: true, FreelistType: bolt.FreelistMapType})
	if err != nil {
		if err := lockedError(path, err); errors.As(err, new(*LockedError)) {
			return nil, err
		}
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	s := &Store{db: db, log: opts.Logger, batch: opts.BatchDelay > 0, opts: opts}
	if s.batch {
		db.MaxBatchDelay = opts.BatchDelay
	}
	if err := db.Update(s.initSchema); err != nil {
		db.Close()
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	s.log.Debug("store opened", "path", path, "schema", SchemaVersion)
	return s, nil
}

func (s *Store) initSchema(tx *bolt.Tx) error {
	meta, err := tx.CreateBucketIfNotExists(bucketMeta)
	if err != nil {
		return fmt.Errorf("create bucket meta: %w", err)
	}
	if v := meta.Get(keyVersion); v != nil {
		n, err := strconv.Atoi(string(v))
		if err != nil {
			return fmt.Errorf("read schema version %q: %w", v, err)
		}
		if n > SchemaVersion {
			return fmt.Errorf("file has schema version %d, this byoi knows up to %d (upgrade byoi): %w", n, SchemaVersion, ErrNewerSchema)
		}
		for _, name := range allBuckets {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return fmt.Errorf("create bucket %s: %w", name, err)
			}
		}
		if n < 2 {
			if err := migrateCaps(tx); err != nil {
				return fmt.Errorf("migrate schema 1 to 2: %w", err)
			}
		}
		if n < 3 {
			if err := migrateTokens(tx); err != nil {
				return fmt.Errorf("migrate schema 2 to 3: %w", err)
			}
		}
	}
	for _, name := range allBuckets {
		if _, err := tx.CreateBucketIfNotExists(name); err != nil {
			return fmt.Errorf("create bucket %s: %w", name, err)
		}
	}
	return meta.Put(keyVersion, []byte(strconv.Itoa(SchemaVersion)))
}

// Close closes the file. The store must not be used afterwards.
func (s *Store) Close() error {
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("close store: %w", err)
	}
	return nil
}

// view and update run fn in a read or write transaction after checking ctx.
// bbolt transactions cannot be interrupted, so ctx is only checked at the start.
// With batching, update may run fn more than once (when another write in
// the same batch fails, the batch is retried without it), so fn and the
// callbacks the store's methods pass it must only change what they
// recompute each time.
func (s *Store) view(ctx context.Context, fn func(*bolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return s.db.View(fn)
}

func (s *Store) update(ctx context.Context, fn func(*bolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if s.batch {
		return s.db.Batch(fn)
	}
	return s.db.Update(fn)
}

func u64key(n uint64) []byte {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], n)
	return b[:]
}

// subKey builds an index key "prefix \x00 n"; names never contain NUL.
func subKey(prefix string, n uint64) []byte {
	k := make([]byte, 0, len(prefix)+9)
	k = append(k, prefix...)
	k = append(k, 0)
	return append(k, u64key(n)...)
}

func subPrefix(prefix string) []byte {
	return append([]byte(prefix), 0)
}

// read runs fn in a read transaction and returns what it found.
func read[T any](s *Store, ctx context.Context, fn func(*bolt.Tx) (T, error)) (T, error) {
	var v T
	err := s.view(ctx, func(tx *bolt.Tx) (err error) {
		v, err = fn(tx)
		return err
	})
	return v, err
}

// getRecord decodes the record at key, or returns an error wrapping
// ErrNotFound that names it ("machine web-1").
func getRecord[T any](b *bolt.Bucket, key []byte, what string) (T, error) {
	var v T
	ok, err := getJSON(b, key, &v)
	if err != nil {
		return v, err
	}
	if !ok {
		return v, fmt.Errorf("%s: %w", what, boot.ErrNotFound)
	}
	return v, nil
}

// list decodes every record of bucket, naming each key in errors.
func list[T any](s *Store, ctx context.Context, bucket []byte, what string) ([]T, error) {
	return read(s, ctx, func(tx *bolt.Tx) ([]T, error) {
		var out []T
		err := tx.Bucket(bucket).ForEach(func(k, raw []byte) error {
			var v T
			if err := jsonUnmarshal(raw, &v); err != nil {
				return fmt.Errorf("%s %s: %w", what, k, err)
			}
			out = append(out, v)
			return nil
		})
		return out, err
	})
}

func getJSON(b *bolt.Bucket, key []byte, v any) (bool, error) {
	raw := b.Get(key)
	if raw == nil {
		return false, nil
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return true, fmt.Errorf("decode record %q: %w", key, err)
	}
	return true, nil
}

func putJSON(b *bolt.Bucket, key []byte, v any) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode record %q: %w", key, err)
	}
	return b.Put(key, raw)
}

func jsonUnmarshal(raw []byte, v any) error {
	if err := json.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("decode record: %w", err)
	}
	return nil
}

func jsonMarshal(v any) ([]byte, error) {
	raw, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode record: %w", err)
	}
	return raw, nil
}
