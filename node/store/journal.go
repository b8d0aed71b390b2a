package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/bonsai-lineage/bonsai/lineage"
	"github.com/cockroachdb/pebble/v2"
	"github.com/ipfs/go-cid"
)

// The journal: a command that only adds the node's own records (record)
// appends them to HOME/store.journal with one synced write, rather than
// opening the store for writing (pebble's writable open replays its log
// into a new table and a new manifest: eight fsyncs before the first
// write). A read-only open lays the journal over the store in memory; a
// writable open (the daemon, gc, import, or the appender when the journal
// grows past JournalIngestSize) writes it into the store in one synced
// batch and empties it. Entries are framed with their length and CRC-32C:
// a torn tail (a crash mid-append, never acknowledged) is ignored.

// JournalName is the journal's file in a node's home.
const JournalName = "store.journal"

// JournalIngestSize is the journal size past which the appender writes it
// into the store when it closes, so reads never replay much.
const JournalIngestSize = 256 << 10

// maxJournal bounds the journal read at an open.
const maxJournal = 64 << 20

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// journalEntry is one append: records and the paths they were made at.
type journalEntry struct {
	Blocks [][]byte      `cbor:"b"`
	Paths  []journalPath `cbor:"p"`
}

type journalPath struct {
	Path string `cbor:"n"`
	CID  []byte `cbor:"c"`
}

var journalEnc, journalDec = strictCBOR(1 << 16)

// encodeJournalEntry frames one entry: length, CRC-32C, CBOR.
func encodeJournalEntry(blocks []lineage.Block, paths map[string]cid.Cid) ([]byte, error) {
	e := journalEntry{Blocks: make([][]byte, len(blocks)), Paths: []journalPath{}}
	for i, b := range blocks {
		e.Blocks[i] = b.Data
	}
	for p, c := range paths {
		e.Paths = append(e.Paths, journalPath{Path: p, CID: c.Bytes()})
	}
	body, err := journalEnc.Marshal(e)
	if err != nil {
		return nil, fmt.Errorf("encode journal entry: %w", err)
	}
	frame := make([]byte, 8, 8+len(body))
	binary.BigEndian.PutUint32(frame[0:4], uint32(len(body)))
	binary.BigEndian.PutUint32(frame[4:8], crc32.Checksum(body, crcTable))
	return append(frame, body...), nil
}

// journalBatch is one decoded entry, ready to stage.
type journalBatch struct {
	blocks []lineage.Block
	recs   []*lineage.Record
	paths  map[string]cid.Cid
}

// decodeJournal reads the entries of data up to the first torn or corrupt
// frame (a crash mid-append). Its records were verified before they were
// appended and are only decoded here (CID and strict decoding), as records
// read from the store are; verification opens them again.
func decodeJournal(data []byte) ([]journalBatch, error) {
	var out []journalBatch
	for len(data) >= 8 {
		n := binary.BigEndian.Uint32(data[0:4])
		sum := binary.BigEndian.Uint32(data[4:8])
		if uint64(n) > uint64(len(data)-8) || crc32.Checksum(data[8:8+n], crcTable) != sum {
			break // torn tail
		}
		var e journalEntry
		if err := journalDec.Unmarshal(data[8:8+n], &e); err != nil {
			return nil, fmt.Errorf("journal entry: %w", err)
		}
		jb := journalBatch{paths: map[string]cid.Cid{}}
		for _, d := range e.Blocks {
			c := lineage.RecordCID(d)
			r, err := lineage.DecodeBlock(c, d)
			if err != nil {
				return nil, fmt.Errorf("journal record %s: %w", c, err)
			}
			jb.blocks = append(jb.blocks, lineage.Block{CID: c, Data: d})
			jb.recs = append(jb.recs, r)
		}
		for _, p := range e.Paths {
			c, err := cid.Cast(p.CID)
			if err != nil {
				return nil, fmt.Errorf("journal path %q: %w", p.Path, err)
			}
			jb.paths[p.Path] = c
		}
		out = append(out, jb)
		data = data[8+n:]
	}
	return out, nil
}

// loadJournal brings the journal at path in: into the store, synced, and
// then empties it (writable), or into an in-memory batch the store's reads
// go through (read-only).
func (s *Store) loadJournal(path string, readOnly bool) error {
	data, err := readJournalFile(path)
	if err != nil || len(data) == 0 {
		return err
	}
	entries, err := decodeJournal(data)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	var b *pebble.Batch
	if readOnly {
		b = s.db.NewIndexedBatch()
		s.overlay, s.rd = b, b
	} else {
		b = s.db.NewBatch()
		defer b.Close()
	}
	for _, e := range entries {
		if _, err := s.stage(b, e.blocks, e.recs, e.paths, OriginOwn); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
	}
	if readOnly {
		return nil
	}
	if err := b.Commit(pebble.Sync); err != nil {
		return fmt.Errorf("write store from %s: %w", path, err)
	}
	s.Bump()
	// Written: the journal can go. A crash before the truncation only
	// writes the same records again at the next open.
	return truncateJournal(path)
}

func readJournalFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("open journal: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxJournal+1))
	if err != nil {
		return nil, fmt.Errorf("read journal %s: %w", path, err)
	}
	if len(data) > maxJournal {
		return nil, fmt.Errorf("journal %s: larger than %d bytes", path, maxJournal)
	}
	return data, nil
}

func truncateJournal(path string) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("empty journal: %w", err)
	}
	defer f.Close()
	if err := f.Truncate(0); err != nil {
		return fmt.Errorf("empty journal %s: %w", path, err)
	}
	return f.Sync()
}

// Appender adds the node's own records through the journal: one synced
// append per Put. It holds the store's lock from OpenAppender to Close.
type Appender struct {
	home string
	lock *os.File
	f    *os.File
	size int64
}

// OpenAppender takes the lock of the store in home (a *InUseError when
// another process holds it) and opens its journal for appending.
func OpenAppender(home string) (*Appender, error) {
	dir := filepath.Join(home, DirName)
	if _, err := os.Stat(dir); err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	lock, err := lockFile(filepath.Join(home, lockName), dir)
	if err != nil {
		return nil, err
	}
	path := filepath.Join(home, JournalName)
	_, statErr := os.Stat(path)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		lock.Close()
		return nil, fmt.Errorf("open journal: %w", err)
	}
	if errors.Is(statErr, fs.ErrNotExist) {
		// A new name: made durable once, here.
		if err := SyncDir(home); err != nil {
			f.Close()
			lock.Close()
			return nil, err
		}
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		lock.Close()
		return nil, err
	}
	return &Appender{home: home, lock: lock, f: f, size: st.Size()}, nil
}

// Put verifies every block (CID, strict decode, signature) and appends
// them, with the path entries, in one synced write: when it returns nil
// they survive a crash. It cannot tell which records are new, and counts
// them all.
func (a *Appender) Put(blocks []lineage.Block, paths map[string]cid.Cid) (int, error) {
	_, errs := lineage.OpenAll(blocks)
	for i, err := range errs {
		if err != nil {
			return 0, fmt.Errorf("record %s: %w", blocks[i].CID, err)
		}
	}
	frame, err := encodeJournalEntry(blocks, paths)
	if err != nil {
		return 0, err
	}
	if _, err := a.f.Write(frame); err != nil {
		return 0, fmt.Errorf("write journal: %w", err)
	}
	if err := a.f.Sync(); err != nil {
		return 0, fmt.Errorf("sync journal: %w", err)
	}
	a.size += int64(len(frame))
	return len(blocks), nil
}

// Close releases the lock, having first written the journal into the
// store if it has grown past JournalIngestSize.
func (a *Appender) Close() error {
	if a.f == nil {
		return nil
	}
	err := a.f.Close()
	a.f = nil
	if err == nil && a.size > JournalIngestSize {
		var s *Store
		if s, err = openLocked(a.home, a.lock, false); err == nil {
			err = s.db.Close()
		}
	}
	if lerr := a.lock.Close(); err == nil {
		err = lerr
	}
	return err
}

// SyncDir makes a new name in dir durable (fsync of the directory).
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}
