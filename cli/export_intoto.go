package cli

import (
	"encoding/hex"
	"fmt"
	"net/url"
	"path/filepath"

	"github.com/bonsai-lineage/bonsai/lineage"
	slsa "github.com/in-toto/attestation/go/predicates/provenance/v1"
	ita1 "github.com/in-toto/attestation/go/v1"
	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"
	mh "github.com/multiformats/go-multihash"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// The names bonsai gives things in its in-toto statements.
const (
	// slsaProvenanceV1 is the predicate type of SLSA Provenance v1.
	slsaProvenanceV1 = "https://slsa.dev/provenance/v1"
	// bonsaiBuildType says a statement's build is one bonsai record:
	// externalParameters {executor: {peer, uid}, program}, the record's
	// inputs as resolvedDependencies, the record block as a byproduct.
	bonsaiBuildType = "https://github.com/bonsai-lineage/bonsai/record/v1"
	// peerURIScheme prefixes a libp2p peer ID to make the URI of a
	// builder (an executor): libp2p:peer:12D3KooW…
	peerURIScheme = "libp2p:peer:"
	// dagCBORMediaType is the media type of a record block.
	dagCBORMediaType = "application/vnd.ipld.dag-cbor"
)

// peerURI is the URI naming an executor: its peer ID under peerURIScheme.
func peerURI(id peer.ID) string { return peerURIScheme + id.String() }

// inTotoDigests maps multihash functions to the names of the in-toto
// digest set (https://github.com/in-toto/attestation/blob/main/spec/v1/digest_set.md).
// BLAKE3 has none.
var inTotoDigests = map[uint64]ita1.HashAlgorithm{
	mh.SHA2_256: ita1.AlgorithmSHA256,
	mh.SHA3_256: ita1.AlgorithmSHA3_256,
}

// digestSet is the in-toto digest set of c: its multihash digest in hex,
// named for its hash function.
func digestSet(c cid.Cid) (map[string]string, error) {
	d, err := mh.Decode(c.Hash())
	if err != nil {
		return nil, fmt.Errorf("%s: %w", c, err)
	}
	alg, ok := inTotoDigests[d.Code]
	if !ok {
		return nil, fmt.Errorf("%s is hashed with %s, which in-toto has no digest name for (sha2-256 and sha3-256 have): record it with --hash sha2-256", c, mh.Codes[d.Code])
	}
	return map[string]string{alg.String(): hex.EncodeToString(d.Digest)}, nil
}

// contentDescriptor describes content c: named by the base name of its
// local path and pointing at it as a file: URI when one is known, named by
// its CID otherwise; its CID is in the "cid" annotation.
func contentDescriptor(c cid.Cid, path string) (*ita1.ResourceDescriptor, error) {
	digest, err := digestSet(c)
	if err != nil {
		return nil, err
	}
	ann, err := structpb.NewStruct(map[string]any{"cid": c.String()})
	if err != nil {
		return nil, err
	}
	rd := &ita1.ResourceDescriptor{Name: c.String(), Digest: digest, Annotations: ann}
	if path != "" {
		rd.Name = filepath.Base(path)
		rd.Uri = (&url.URL{Scheme: "file", Path: path}).String()
	}
	return rd, nil
}

// provenanceStatement is the in-toto Statement v1 with a SLSA Provenance
// v1 predicate that says what record rc (whose block is data) says: its
// output is the subject, its inputs the resolved dependencies, its
// executor the builder, its CID the invocation ID, and its block a
// byproduct, whole, so the executor's own signature can be checked too.
// pathOf gives a content's local path ("" when none is known).
func provenanceStatement(rc lineage.RecordCheck, data []byte, pathOf func(cid.Cid) (string, error)) (*ita1.Statement, error) {
	rec := rc.Record
	outPath, err := pathOf(rec.Output)
	if err != nil {
		return nil, err
	}
	subject, err := contentDescriptor(rec.Output, outPath)
	if err != nil {
		return nil, err
	}
	subject.Uri = "" // a subject is named and digested, not located
	var deps []*ita1.ResourceDescriptor
	for _, in := range rec.Inputs {
		p, err := pathOf(in)
		if err != nil {
			return nil, err
		}
		rd, err := contentDescriptor(in, p)
		if err != nil {
			return nil, err
		}
		deps = append(deps, rd)
	}
	params := map[string]any{"executor": map[string]any{"peer": rec.Executor.Peer.String(), "uid": float64(rec.Executor.UID)}}
	if rec.Program.Defined() {
		params["program"] = rec.Program.String()
	}
	ext, err := structpb.NewStruct(params)
	if err != nil {
		return nil, err
	}
	recDigest, err := digestSet(rc.CID)
	if err != nil {
		return nil, err
	}
	when := timestamppb.New(rec.TimeOf())
	pred := &slsa.Provenance{
		BuildDefinition: &slsa.BuildDefinition{
			BuildType:            bonsaiBuildType,
			ExternalParameters:   ext,
			ResolvedDependencies: deps,
		},
		RunDetails: &slsa.RunDetails{
			Builder: &slsa.Builder{Id: peerURI(rec.Executor.Peer)},
			Metadata: &slsa.BuildMetadata{
				InvocationId: rc.CID.String(),
				StartedOn:    when,
				FinishedOn:   when,
			},
			Byproducts: []*ita1.ResourceDescriptor{{
				Name:      rc.CID.String(),
				Digest:    recDigest,
				Content:   data,
				MediaType: dagCBORMediaType,
			}},
		},
	}
	if err := pred.Validate(); err != nil {
		return nil, fmt.Errorf("record %s: provenance: %w", rc.CID, err)
	}
	predJSON, err := protojson.Marshal(pred)
	if err != nil {
		return nil, fmt.Errorf("record %s: provenance: %w", rc.CID, err)
	}
	predStruct := &structpb.Struct{}
	if err := protojson.Unmarshal(predJSON, predStruct); err != nil {
		return nil, fmt.Errorf("record %s: provenance: %w", rc.CID, err)
	}
	st := &ita1.Statement{
		Type:          ita1.StatementTypeUri,
		Subject:       []*ita1.ResourceDescriptor{subject},
		PredicateType: slsaProvenanceV1,
		Predicate:     predStruct,
	}
	if err := st.Validate(); err != nil {
		return nil, fmt.Errorf("record %s: statement: %w", rc.CID, err)
	}
	return st, nil
}
