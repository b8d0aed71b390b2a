package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/bonsai-lineage/bonsai/lineage"
	"github.com/ipfs/go-cid"
	carv2 "github.com/ipld/go-car/v2"
	"github.com/ipld/go-car/v2/storage"
)

// The CAR files import reads and export writes: CAR v1 or v2 of record and
// revocation blocks in, CAR v1 out.

var (
	// ErrNotCAR is data that is neither a CAR (v1 or v2) nor one raw
	// record or revocation block.
	ErrNotCAR = errors.New("neither a CAR nor a record block")
	// ErrCorruptCAR is a CAR whose header reads but one of whose sections
	// does not: truncated, larger than a record allows, a CID that does not
	// parse, or data that does not hash to its CID.
	ErrCorruptCAR = errors.New("corrupt CAR")
)

// maxCARSection bounds one CAR section (a CID and its block): a maximal
// record, with room for any CID that names one.
const maxCARSection = lineage.MaxRecordSize + 128

// ReadCAR returns the blocks of data, a CAR (v1 or v2) or one raw record or
// revocation block, in the order the CAR holds them (a repeated block is
// returned each time). A raw block is named by its own bytes
// (lineage.RecordCID). A CAR's blocks are checked against their CIDs, but
// not decoded: opening them (lineage.OpenAll, lineage.OpenRevocation) is
// the caller's part, as is bounding len(data).
//
// Data that is not a CAR, and not a block that decodes as a record or a
// revocation, is refused with ErrNotCAR; a CAR with a bad section, with
// ErrCorruptCAR (saying how many blocks came before it).
func ReadCAR(data []byte) ([]lineage.Block, error) {
	br, carErr := carv2.NewBlockReader(bytes.NewReader(data), carv2.MaxAllowedSectionSize(maxCARSection))
	if carErr != nil {
		return readRawBlock(data, carErr)
	}
	var blocks []lineage.Block
	for {
		b, err := br.Next()
		if err == io.EOF {
			return blocks, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%w after %d blocks: %w", ErrCorruptCAR, len(blocks), err)
		}
		blocks = append(blocks, lineage.Block{CID: b.Cid(), Data: b.RawData()})
	}
}

// readRawBlock is data that is not a CAR (carErr says why) as one record
// or revocation block, named by its own bytes.
func readRawBlock(data []byte, carErr error) ([]lineage.Block, error) {
	if len(data) > lineage.MaxRecordSize {
		return nil, notCAR{fmt.Errorf("not a CAR file (%v), and too large for a record", carErr)}
	}
	if _, err := lineage.Decode(data); err != nil {
		if _, rerr := lineage.DecodeRevocation(data); rerr != nil {
			return nil, notCAR{fmt.Errorf("neither a CAR file (%v) nor a record: %w", carErr, err)}
		}
	}
	return []lineage.Block{{CID: lineage.RecordCID(data), Data: data}}, nil
}

// notCAR marks err as ErrNotCAR, its text unchanged.
type notCAR struct{ err error }

func (e notCAR) Error() string   { return e.err.Error() }
func (e notCAR) Unwrap() []error { return []error{ErrNotCAR, e.err} }

// WriteCAR writes a CAR v1 of roots and blocks to w, the blocks in order
// and each CID once (a block whose CID was written already is skipped), as
// it goes: w need not seek, and gets many small writes (buffer it). A CID
// longer than 2 KiB is refused (carv2.ErrCidTooLarge); records' are 36
// bytes. Errors come from w or the CAR library, unwrapped: the caller says
// what was being written.
func WriteCAR(w io.Writer, roots []cid.Cid, blocks []lineage.Block) error {
	// Hiding w's other methods keeps the writer sequential even for an
	// *os.File, which could be a pipe or a terminal.
	cw, err := storage.NewWritable(struct{ io.Writer }{w}, roots,
		carv2.WriteAsCarV1(true), carv2.UseWholeCIDs(true), carv2.StoreIdentityCIDs(true))
	if err != nil {
		return err
	}
	for _, b := range blocks {
		if err := cw.Put(context.Background(), string(b.CID.Bytes()), b.Data); err != nil {
			return err
		}
	}
	return cw.Finalize()
}
