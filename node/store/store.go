package store

import (
	"bytes"
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bonsai-lineage/bonsai/lineage"
	"github.com/cockroachdb/pebble/v2"
	"github.com/ipfs/go-cid"
	ds "github.com/ipfs/go-datastore"
	"github.com/ipfs/go-datastore/namespace"
	dspebble "github.com/ipfs/go-ds-pebble"
	"github.com/libp2p/go-libp2p/core/peer"
)

// ErrNotFound means the store holds no record under the CID asked for.
var ErrNotFound = errors.New("record not in local store")

// Store is a node's pebble store. One process owns it at a time.
type Store struct {
	// writeMu serializes writers: Put reads (Has, the path index) before
	// it writes, and the daemon writes from several goroutines.
	writeMu sync.Mutex
	db      *pebble.DB
	// rd is what reads go through: db, or, in a read-only store with a
	// journal, an indexed batch holding the journal over db.
	rd      pebble.Reader
	overlay *pebble.Batch
	lock    *os.File
	dir     string
	closed  bool
	// gen changes whenever records or policies are written: what an
	// enforcement verdict depends on.
	gen    atomic.Uint64
	onBump atomic.Pointer[func()]
	// The audit log's writer: entries held (-1: not counted yet) and a
	// sequence that orders entries of the same nanosecond.
	auditMu    sync.Mutex
	auditCount int
	auditSeq   uint64
	// owner is the peer ID of the node's key (nil: unknown, every record
	// Put is taken as own).
	owner atomic.Pointer[peer.ID]
}

// SetOwner tells the store whose node it is: Put then takes only the
// records signed by id (their executor) as own, and any other record it is
// given as imported. Until it is called every record Put is own, as in
// stores opened without a key (tests, tools).
func (s *Store) SetOwner(id peer.ID) { s.owner.Store(&id) }

// Owner is the peer ID set by SetOwner (ok=false: none was).
func (s *Store) Owner() (id peer.ID, ok bool) {
	if p := s.owner.Load(); p != nil {
		return *p, true
	}
	return "", false
}

// signedByOwner reports whether r is the node's own record: signed by the
// owner's key, or any record when the owner is unknown.
func (s *Store) signedByOwner(r *lineage.Record) bool {
	owner, ok := s.Owner()
	return !ok || r.Executor.Peer == owner
}

// Generation changes whenever records or policies are written; verdicts
// cached under an older one are decided again.
func (s *Store) Generation() uint64 { return s.gen.Load() }

// Bump starts a new generation and tells the watcher, if any: verdicts
// cached under the older one are decided again. The store bumps on its own
// when records, policies or revocations are written; a caller bumps when
// what a verdict depends on changed outside the store (the running set of
// policies, reloaded from it).
func (s *Store) Bump() {
	s.gen.Add(1)
	if f := s.onBump.Load(); f != nil {
		(*f)()
	}
}

// OnGeneration calls f (quickly, without blocking) after every change of
// generation.
func (s *Store) OnGeneration(f func()) { s.onBump.Store(&f) }

// DirName is the store's directory inside a node's home.
const DirName = "store"

const blockCacheSize = 64 << 20

// lockName is the store's lock file inside a node's home: an flock held by
// the store's owner, with its pid.
const lockName = "store.lock"

// Open opens (creating if needed) the store in home. A store owned by
// another process yields an *InUseError naming its pid.
func Open(home string) (*Store, error) { return open(home, false) }

// OpenReadOnly opens the store in home for reading only: the write-ahead
// log is replayed in memory, nothing on disk is written (no flush, no new
// manifest or log, no fsync), so a command that only reads pays for no
// write. Writes fail with pebble.ErrReadOnly. The store must exist. It
// takes the same lock as Open.
func OpenReadOnly(home string) (*Store, error) { return open(home, true) }

func open(home string, readOnly bool) (*Store, error) {
	dir := filepath.Join(home, DirName)
	if readOnly {
		if _, err := os.Stat(dir); err != nil {
			return nil, fmt.Errorf("open store: %w", err)
		}
	} else if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create store %s: %w", dir, err)
	}
	lock, err := lockFile(filepath.Join(home, lockName), dir)
	if err != nil {
		return nil, err
	}
	s, err := openLocked(home, lock, readOnly)
	if err != nil {
		lock.Close()
	}
	return s, err
}

// openLocked opens the store of home under lock, already held, and brings
// in its journal: written into the store by a writable open, laid over it
// in memory by a read-only one.
func openLocked(home string, lock *os.File, readOnly bool) (*Store, error) {
	dir := filepath.Join(home, DirName)
	// Records are small and verification reads many of them: a block
	// cache larger than pebble's 8 MiB default keeps a big ancestry in
	// memory.
	cache := pebble.NewCache(blockCacheSize)
	defer cache.Unref()
	db, err := pebble.Open(dir, &pebble.Options{Logger: pebbleLogger{}, Cache: cache, ReadOnly: readOnly})
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", dir, err)
	}
	s := &Store{db: db, rd: db, lock: lock, dir: dir, auditCount: -1}
	if err := s.loadJournal(filepath.Join(home, JournalName), readOnly); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

// Close flushes and closes the store and releases its lock. Closing twice
// is harmless.
func (s *Store) Close() error {
	if s.closed {
		return nil
	}
	s.closed = true
	if s.overlay != nil {
		s.overlay.Close()
	}
	err := s.db.Close()
	if lerr := s.lock.Close(); err == nil {
		err = lerr
	}
	return err
}

// Dir is the store's directory.
func (s *Store) Dir() string { return s.dir }

// Origin says why a node holds a record.
type Origin byte

const (
	// OriginOwn: signed on this node's key; published by the outbox and
	// never collected.
	OriginOwn Origin = 'o'
	// OriginImported: signed by another key and added by this node's user
	// (bonsai import, or a record of another node put through the local
	// API): never collected, but never published as this node's own
	// either (no outbox entry, no acquisition of its ancestry).
	OriginImported Origin = 'i'
	// OriginCached: fetched from a peer (a verification, a pin, the λ
	// levels below own records); collected by GC when nothing keeps it.
	OriginCached Origin = 'c'
	// OriginReplica: stored on this node through the DHT as one of the k
	// peers closest to its key; GC keeps it while the node still is.
	OriginReplica Origin = 'r'
)

// String names the origin as the local API and `bonsai status` do: own,
// imported, cached or replica; any other byte is unknown ('x').
func (o Origin) String() string {
	switch o {
	case OriginOwn:
		return "own"
	case OriginImported:
		return "imported"
	case OriginCached:
		return "cached"
	case OriginReplica:
		return "replica"
	}
	return fmt.Sprintf("unknown (%q)", byte(o))
}

// Put verifies every block (CID, strict decode, signature) and, only if all
// of them pass, writes them with their output index and the given path
// entries in one synced batch: when Put returns nil the records survive a
// crash; when it fails nothing was written. Blocks already stored are
// skipped. New records signed by the owner's key (see SetOwner) are the
// node's own: they enter the outbox and the acquire queue in the same
// batch. Records signed by another key are imported: kept, never
// published by this node. A cached or replica copy already held is
// promoted to own or imported in the same way; an own record is never
// downgraded. It returns how many records were new.
func (s *Store) Put(blocks []lineage.Block, paths map[string]cid.Cid) (int, error) {
	return s.put(blocks, paths, OriginOwn)
}

// PutCached stores verified copies of other nodes' records fetched from
// peers. They are not published again and may be collected.
func (s *Store) PutCached(blocks []lineage.Block) (int, error) {
	return s.put(blocks, nil, OriginCached)
}

// PutReplica stores verified records a peer stored on this node through
// the DHT (a cached copy becomes a replica).
func (s *Store) PutReplica(blocks []lineage.Block) (int, error) {
	return s.put(blocks, nil, OriginReplica)
}

func (s *Store) put(blocks []lineage.Block, paths map[string]cid.Cid, origin Origin) (int, error) {
	recs, errs := lineage.OpenAll(blocks)
	for i, err := range errs {
		if err != nil {
			return 0, fmt.Errorf("record %s: %w", blocks[i].CID, err)
		}
	}
	return s.putOpened(blocks, recs, paths, origin)
}

// PutCachedOpened is PutCached for blocks the caller has opened already:
// recs[i] must be what lineage.Open returned for blocks[i] (CID, strict
// decode, signature checked). It spares the swarm resolver a second
// verification of what it verified on arrival; a block the caller did not
// open itself goes through PutCached.
func (s *Store) PutCachedOpened(blocks []lineage.Block, recs []*lineage.Record) (int, error) {
	if len(recs) != len(blocks) {
		return 0, fmt.Errorf("store: %d records for %d blocks", len(recs), len(blocks))
	}
	return s.putOpened(blocks, recs, nil, OriginCached)
}

// putOpened writes blocks whose records lineage.Open has returned (recs[i]
// is blocks[i] opened).
func (s *Store) putOpened(blocks []lineage.Block, recs []*lineage.Record, paths map[string]cid.Cid, origin Origin) (int, error) {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	b := s.db.NewBatch()
	defer b.Close()
	added, err := s.stage(b, blocks, recs, paths, origin)
	if err != nil {
		return 0, err
	}
	if err := b.Commit(pebble.Sync); err != nil {
		return 0, fmt.Errorf("write store: %w", err)
	}
	if added > 0 {
		s.Bump()
	}
	return added, nil
}

// stage writes into b what putting blocks (opened as recs) with origin and
// the path entries does: the records, their output index, origin and, for
// own records, outbox and acquire entries. It returns how many records
// were new.
func (s *Store) stage(b *pebble.Batch, blocks []lineage.Block, recs []*lineage.Record, paths map[string]cid.Cid, origin Origin) (int, error) {
	added := 0
	now := time.Now().Unix()
	for i, blk := range blocks {
		has, err := s.Has(blk.CID)
		if err != nil {
			return 0, err
		}
		o := origin
		if o == OriginOwn && !s.signedByOwner(recs[i]) {
			o = OriginImported
		}
		if has {
			if err := s.promote(b, blk.CID, recs[i], o, now); err != nil {
				return 0, err
			}
			continue
		}
		added++
		if err := b.Set(key(prefixMeta, blk.CID.Bytes()), metaValue(o, now), nil); err != nil {
			return 0, err
		}
		if o == OriginOwn {
			if err := queueOwn(b, blk.CID, recs[i]); err != nil {
				return 0, err
			}
		}
		if err := b.Set(recordKey(blk.CID), blk.Data, nil); err != nil {
			return 0, err
		}
		// The index entry carries the block too: Resolve, the hot path of
		// every verification, then reads one key range and nothing else.
		if err := b.Set(outputKey(recs[i].Output, blk.CID), append(encodeTime(recs[i].Time), blk.Data...), nil); err != nil {
			return 0, err
		}
	}
	for path, c := range paths {
		if err := s.setPath(b, path, c); err != nil {
			return 0, err
		}
	}
	return added, nil
}

// promote raises the origin of a record already held to o, as a Put with
// origin o found it: a cached copy becomes own (published, its ancestry
// acquired) or imported, and a replica too (it is kept either way); a
// cached copy stored through the DHT becomes a replica. Own and imported
// records stay as they are.
func (s *Store) promote(b *pebble.Batch, c cid.Cid, r *lineage.Record, o Origin, now int64) error {
	held, _, err := s.OriginOf(c)
	if err != nil {
		return err
	}
	switch {
	case held == OriginCached && o != OriginCached,
		held == OriginReplica && (o == OriginOwn || o == OriginImported):
	default:
		return nil
	}
	if err := b.Set(key(prefixMeta, c.Bytes()), metaValue(o, now), nil); err != nil {
		return err
	}
	if o == OriginOwn {
		return queueOwn(b, c, r)
	}
	return nil
}

// queueOwn puts an own record into the outbox and the acquire queue.
func queueOwn(b *pebble.Batch, c cid.Cid, r *lineage.Record) error {
	if err := b.Set(key(prefixOutbox, c.Bytes()), newOutboxEntry(), nil); err != nil {
		return err
	}
	return queueAcquire(b, c, r)
}

// SetPaths records which content each path holds now, synced.
func (s *Store) SetPaths(paths map[string]cid.Cid) error {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	b := s.db.NewBatch()
	defer b.Close()
	for p, c := range paths {
		if err := s.setPath(b, p, c); err != nil {
			return err
		}
	}
	return b.Commit(pebble.Sync)
}

func (s *Store) setPath(b *pebble.Batch, path string, c cid.Cid) error {
	if old, ok, err := s.PathCID(path); err != nil {
		return err
	} else if ok && !old.Equals(c) {
		if err := b.Delete(byCIDKey(old, path), nil); err != nil {
			return err
		}
	}
	if err := b.Set(pathKey(path), c.Bytes(), nil); err != nil {
		return err
	}
	return b.Set(byCIDKey(c, path), nil, nil)
}

// Compact flushes the memtable and compacts the whole key space, so reads
// that follow touch one sorted run instead of many fresh files.
func (s *Store) Compact(ctx context.Context) error {
	if err := s.db.Flush(); err != nil {
		return fmt.Errorf("flush store: %w", err)
	}
	if err := s.db.Compact(ctx, []byte{0}, []byte{0xff}, true); err != nil {
		return fmt.Errorf("compact store: %w", err)
	}
	return nil
}

// metaValue is a record's metadata: its origin and when it was stored,
// and, once GC retired it (no longer provided, deleted after a grace),
// when that was.
func metaValue(o Origin, at int64) []byte {
	return append([]byte{byte(o)}, encodeTime(at)...)
}

func retiredMeta(v []byte, at int64) []byte {
	return append(slices.Clone(v[:min(len(v), 9)]), encodeTime(at)...)
}

// metaRetired is when the record was retired (ok=false: it is not).
func metaRetired(v []byte) (at int64, ok bool) {
	if len(v) < 17 {
		return 0, false
	}
	return int64(binary.BigEndian.Uint64(v[9:17])), true
}

// OriginOf reports why the store holds record c (ok=false: it does not).
func (s *Store) OriginOf(c cid.Cid) (o Origin, ok bool, err error) {
	v, closer, err := s.rd.Get(key(prefixMeta, c.Bytes()))
	if errors.Is(err, pebble.ErrNotFound) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("read store: %w", err)
	}
	defer closer.Close()
	if len(v) == 0 {
		return 0, false, fmt.Errorf("corrupt metadata for %s", c)
	}
	return Origin(v[0]), true, nil
}

// Has reports whether the record c is stored.
func (s *Store) Has(c cid.Cid) (bool, error) {
	_, closer, err := s.rd.Get(recordKey(c))
	if errors.Is(err, pebble.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("read store: %w", err)
	}
	closer.Close()
	return true, nil
}

// Get returns the block bytes of record c, or ErrNotFound.
func (s *Store) Get(c cid.Cid) ([]byte, error) {
	v, closer, err := s.rd.Get(recordKey(c))
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, fmt.Errorf("%s: %w", c, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("read record %s: %w", c, err)
	}
	defer closer.Close()
	return slices.Clone(v), nil
}

// Claim is a stored record naming an output, with the record's time.
type Claim struct {
	Record cid.Cid
	Time   int64
	Data   []byte
}

// Claims lists the stored records whose output is out, newest first.
func (s *Store) Claims(out cid.Cid) ([]Claim, error) {
	prefix := []byte{prefixOutput}
	it, err := s.rd.NewIter(&pebble.IterOptions{LowerBound: prefix, UpperBound: prefixEnd(prefix)})
	if err != nil {
		return nil, fmt.Errorf("read index: %w", err)
	}
	claims, err := claimsAt(it, out, nil)
	if cerr := it.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("read index: %w", cerr)
	}
	return claims, err
}

// claimsAt lists the records whose output is out, newest first, seeking it
// in the output index (an iterator over it); their data is appended to
// arena's chunks, *arena the last (nil: one allocation per record).
func claimsAt(it *pebble.Iterator, out cid.Cid, arena *[]byte) ([]Claim, error) {
	prefix := key(prefixOutput, out.Bytes())
	var claims []Claim
	for ok := it.SeekGE(prefix); ok && bytes.HasPrefix(it.Key(), prefix); ok = it.Next() {
		k := it.Key()
		_, rc, err := cid.CidFromBytes(k[len(prefix):])
		if err != nil {
			return nil, fmt.Errorf("corrupt index entry for %s: %w", out, err)
		}
		v, err := it.ValueAndErr()
		if err != nil {
			return nil, fmt.Errorf("read index entry for %s: %w", out, err)
		}
		if len(v) < 8 {
			return nil, fmt.Errorf("corrupt index entry for %s: %d bytes", out, len(v))
		}
		claims = append(claims, Claim{Record: rc, Time: int64(binary.BigEndian.Uint64(v)), Data: copyTo(arena, v[8:])})
	}
	if err := it.Error(); err != nil {
		return nil, fmt.Errorf("read index: %w", err)
	}
	slices.SortStableFunc(claims, func(a, b Claim) int {
		if c := cmp.Compare(b.Time, a.Time); c != 0 {
			return c
		}
		return bytes.Compare(a.Record.Bytes(), b.Record.Bytes())
	})
	return claims, nil
}

// The chunks copyTo allocates start at minChunk bytes and double up to
// maxChunk: a few records take little room, many take few allocations.
const minChunk, maxChunk = 2 << 10, 32 << 10

// copyTo returns a copy of v in *arena's spare capacity, starting a new
// chunk when it has too little; with a nil arena, in a slice of its own.
func copyTo(arena *[]byte, v []byte) []byte {
	if arena == nil || len(v) > minChunk/2 {
		return slices.Clone(v)
	}
	if cap(*arena)-len(*arena) < len(v) {
		*arena = make([]byte, 0, min(max(2*cap(*arena), minChunk), maxChunk))
	}
	lo := len(*arena)
	*arena = append(*arena, v...)
	return (*arena)[lo:len(*arena):len(*arena)]
}

// DHTDatastore is the DHT's datastore (provider records, values) in the
// store's own pebble database, under /dht: indexed, so a provider lookup
// reads one key range, and persistent, so what the node holds for the
// swarm survives a restart. It shares the store's lifetime: the caller
// never closes it, and stops using it before the store is closed.
func (s *Store) DHTDatastore() (ds.Batching, error) {
	d, err := dspebble.NewDatastore("", dspebble.WithPebbleDB(s.db))
	if err != nil {
		return nil, fmt.Errorf("DHT datastore: %w", err)
	}
	return namespace.Wrap(d, ds.NewKey("/dht")), nil
}

// scanPrefix calls f with every key starting with prefix, and its value,
// in key order, until f returns false or an error: scan over the prefix,
// its read errors reported as "read store".
func (s *Store) scanPrefix(prefix []byte, f func(k, v []byte) (more bool, err error)) error {
	return s.scan("store", prefix, prefixEnd(prefix), f)
}

// scan calls f with every key in [lower, upper) and its value, in key
// order, through the store's reader, until f returns false or an error.
// An error of f is returned as is; an error reading is wrapped as
// "read <what>: ...". The slices are only valid during the call.
func (s *Store) scan(what string, lower, upper []byte, f func(k, v []byte) (more bool, err error)) error {
	it, err := s.rd.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: upper})
	if err != nil {
		return fmt.Errorf("read %s: %w", what, err)
	}
	for ok := it.First(); ok; ok = it.Next() {
		more, err := f(it.Key(), it.Value())
		if err != nil {
			it.Close()
			return err
		}
		if !more {
			break
		}
	}
	if err := it.Close(); err != nil {
		return fmt.Errorf("read %s: %w", what, err)
	}
	return nil
}

// HasOutput reports whether the store holds a record claiming out.
func (s *Store) HasOutput(out cid.Cid) (bool, error) {
	prefix := key(prefixOutput, out.Bytes())
	has := false
	err := s.scan("index", prefix, prefixEnd(prefix), func(_, _ []byte) (bool, error) {
		has = true
		return false, nil
	})
	if err != nil {
		return false, err
	}
	return has, nil
}

// Outputs calls f with every output CID the store holds records for, each
// once, in key order.
func (s *Store) Outputs(f func(out cid.Cid) error) error {
	prefix := []byte{prefixOutput}
	var last cid.Cid
	return s.scan("index", prefix, prefixEnd(prefix), func(k, _ []byte) (bool, error) {
		_, out, err := cid.CidFromBytes(k[1:])
		if err != nil {
			return false, fmt.Errorf("corrupt index key: %w", err)
		}
		if out.Equals(last) {
			return true, nil
		}
		last = out
		return true, f(out)
	})
}

// Resolve returns the blocks of the stored records claiming out; it makes
// the store a lineage.Resolver.
func (s *Store) Resolve(ctx context.Context, out cid.Cid) ([]lineage.Block, error) {
	claims, err := s.Claims(out)
	if err != nil {
		return nil, err
	}
	return claimBlocks(claims), nil
}

// ResolveMany resolves outs as Resolve resolves each: blocks[i] are the
// records claiming outs[i]. One iterator seeks them all, in key order; it
// makes the store a lineage.ManyResolver.
func (s *Store) ResolveMany(ctx context.Context, outs []cid.Cid) ([][]lineage.Block, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	prefix := []byte{prefixOutput}
	it, err := s.rd.NewIter(&pebble.IterOptions{LowerBound: prefix, UpperBound: prefixEnd(prefix)})
	if err != nil {
		return nil, fmt.Errorf("read index: %w", err)
	}
	defer it.Close()
	order := make([]int, len(outs))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int { return strings.Compare(outs[a].KeyString(), outs[b].KeyString()) })
	blocks := make([][]lineage.Block, len(outs))
	var arena []byte
	for _, i := range order {
		claims, err := claimsAt(it, outs[i], &arena)
		if err != nil {
			return nil, err
		}
		blocks[i] = claimBlocks(claims)
	}
	return blocks, nil
}

// claimBlocks returns the blocks of claims.
func claimBlocks(claims []Claim) []lineage.Block {
	blocks := make([]lineage.Block, len(claims))
	for i, c := range claims {
		blocks[i] = lineage.Block{CID: c.Record, Data: c.Data}
	}
	return blocks
}

var _ lineage.ManyResolver = (*Store)(nil)

// PathCID returns the content CID last recorded for path.
func (s *Store) PathCID(path string) (cid.Cid, bool, error) {
	v, closer, err := s.rd.Get(pathKey(path))
	if errors.Is(err, pebble.ErrNotFound) {
		return cid.Undef, false, nil
	}
	if err != nil {
		return cid.Undef, false, fmt.Errorf("read path index: %w", err)
	}
	defer closer.Close()
	c, err := cid.Cast(v)
	if err != nil {
		return cid.Undef, false, fmt.Errorf("corrupt path index entry %s: %w", path, err)
	}
	return c, true, nil
}

// PathsOf lists the local paths known to hold content c.
func (s *Store) PathsOf(c cid.Cid) ([]string, error) {
	prefix := key(prefixByCID, c.Bytes())
	var paths []string
	err := s.scan("path index", prefix, prefixEnd(prefix), func(k, _ []byte) (bool, error) {
		paths = append(paths, string(k[len(prefix):]))
		return true, nil
	})
	return paths, err
}

// pebbleLogger sends pebble's messages to slog: its info lines are noise to
// a CLI user, its errors are not.
type pebbleLogger struct{}

func (pebbleLogger) Infof(format string, args ...any) {
	slog.Debug("pebble: " + fmt.Sprintf(format, args...))
}

func (pebbleLogger) Errorf(format string, args ...any) {
	slog.Error("pebble: " + fmt.Sprintf(format, args...))
}

func (pebbleLogger) Fatalf(format string, args ...any) {
	pebble.DefaultLogger.Fatalf(format, args...)
}
