package cli_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/sha3"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bonsai-lineage/bonsai/lineage"
	slsa "github.com/in-toto/attestation/go/predicates/provenance/v1"
	ita1 "github.com/in-toto/attestation/go/v1"
	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/secure-systems-lab/go-securesystemslib/dsse"
	"github.com/secure-systems-lab/go-securesystemslib/signerverifier"
	"google.golang.org/protobuf/encoding/protojson"
)

// sha256Hex is the hex SHA-256 of a file's bytes, computed apart from
// bonsai's CIDs.
func sha256Hex(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

// peerVerifier is the DSSE library's own Ed25519 verifier for the public
// key embedded in peer ID id, with id as its key ID.
func peerVerifier(t *testing.T, id string) *dsse.EnvelopeVerifier {
	t.Helper()
	pid, err := peer.Decode(id)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := pid.ExtractPublicKey()
	if err != nil {
		t.Fatalf("ExtractPublicKey(%s) = %v", id, err)
	}
	raw, err := pub.Raw()
	if err != nil {
		t.Fatal(err)
	}
	sv, err := signerverifier.NewED25519SignerVerifierFromSSLibKey(&signerverifier.SSLibKey{
		KeyType: signerverifier.ED25519KeyType,
		Scheme:  signerverifier.ED25519KeyType,
		KeyID:   id,
		KeyVal:  signerverifier.KeyVal{Public: hex.EncodeToString(raw)},
	})
	if err != nil {
		t.Fatal(err)
	}
	v, err := dsse.NewEnvelopeVerifier(sv)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// readEnvelopes reads a JSON Lines bundle of DSSE envelopes.
func readEnvelopes(t *testing.T, data []byte) []*dsse.Envelope {
	t.Helper()
	var envs []*dsse.Envelope
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var env dsse.Envelope
		if err := json.Unmarshal(sc.Bytes(), &env); err != nil {
			t.Fatalf("bundle line %q: %v", sc.Text(), err)
		}
		envs = append(envs, &env)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return envs
}

// checkEnvelope verifies env with the signer's key and after one byte of
// its payload changes, and returns the statement and predicate it holds.
func checkEnvelope(t *testing.T, env *dsse.Envelope, signerID string) (*ita1.Statement, *slsa.Provenance) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if env.PayloadType != "application/vnd.in-toto+json" {
		t.Errorf("payloadType = %q, want application/vnd.in-toto+json", env.PayloadType)
	}
	if len(env.Signatures) != 1 || env.Signatures[0].KeyID != signerID {
		t.Errorf("signatures = %+v, want one with keyid %s", env.Signatures, signerID)
	}
	v := peerVerifier(t, signerID)
	keys, payload, err := v.VerifyAndDecode(ctx, env)
	if err != nil {
		t.Fatalf("DSSE verify with %s's key = %v, want nil", signerID, err)
	}
	if len(keys) != 1 || keys[0].KeyID != signerID {
		t.Errorf("accepted keys = %+v, want %s", keys, signerID)
	}
	for _, i := range []int{0, len(payload) / 2, len(payload) - 1} {
		bad := slices.Clone(payload)
		bad[i] ^= 0x01
		tampered := *env
		tampered.Payload = base64.StdEncoding.EncodeToString(bad)
		if _, err := v.Verify(ctx, &tampered); err == nil {
			t.Errorf("DSSE verify after payload byte %d changed = nil, want an error", i)
		}
	}
	if _, err := peerVerifier(t, "12D3KooWGzh9PXMEHw9hhp3nMc2QTTE1ZQdwbxpdc6KcdgaK3cmF").Verify(ctx, env); err == nil {
		t.Error("DSSE verify with another peer's key = nil, want an error")
	}

	var st ita1.Statement
	if err := protojson.Unmarshal(payload, &st); err != nil {
		t.Fatalf("statement: protojson.Unmarshal = %v\n%s", err, payload)
	}
	if err := st.Validate(); err != nil {
		t.Errorf("statement.Validate() = %v", err)
	}
	if st.GetType() != ita1.StatementTypeUri || st.GetPredicateType() != "https://slsa.dev/provenance/v1" {
		t.Errorf("statement _type, predicateType = %q, %q; want %q, https://slsa.dev/provenance/v1", st.GetType(), st.GetPredicateType(), ita1.StatementTypeUri)
	}
	predJSON, err := protojson.Marshal(st.GetPredicate())
	if err != nil {
		t.Fatal(err)
	}
	var prov slsa.Provenance
	if err := protojson.Unmarshal(predJSON, &prov); err != nil {
		t.Fatalf("predicate: protojson.Unmarshal(SLSA Provenance v1) = %v\n%s", err, predJSON)
	}
	if err := prov.Validate(); err != nil {
		t.Errorf("provenance.Validate() = %v", err)
	}
	return &st, &prov
}

// importedHome is a second node's home holding fin's ancestry (made in
// dir by home) only by import: its records are others'. It returns the
// home and the node's peer ID.
func importedHome(t *testing.T, dir, home string) (string, string) {
	t.Helper()
	other, id := initHome(t)
	car := filepath.Join(t.TempDir(), "a.car")
	wantCode(t, bonsai(t, dir, home, "export", "--car", car, "fin"), 0)
	wantCode(t, bonsai(t, "", other, "import", car), 0)
	return other, id
}

func TestExportInToto(t *testing.T) {
	t.Parallel()
	home, id := initHome(t)
	dir := pipeline(t, home)
	fin := hashOf(t, filepath.Join(dir, "fin"))
	// A second node holding the ancestry only by import: it signs what it
	// holds; the executor stays the first node; it knows no local paths.
	other, otherID := importedHome(t, dir, home)

	sums := map[string]string{}
	for _, n := range []string{"raw", "mid", "fin"} {
		sums[n] = sha256Hex(t, filepath.Join(dir, n))
	}
	// The inputs of each step, by the SHA-256 of its output.
	wantDeps := map[string][]string{sums["fin"]: {sums["mid"]}, sums["mid"]: {sums["raw"]}, sums["raw"]: nil}
	wantName := map[string]string{sums["fin"]: "fin", sums["mid"]: "mid", sums["raw"]: "raw"}

	out := t.TempDir()
	for _, tc := range []struct {
		name     string
		home     string
		signer   string
		args     []string
		stdout   bool     // the bundle is on standard output
		subjects []string // SHA-256 of each statement's subject, in order
		paths    bool     // local paths known: names are base names
	}{
		{"newest", home, id, []string{"--intoto", filepath.Join(out, "one.jsonl"), "fin"}, false, []string{sums["fin"]}, true},
		{"all", home, id, []string{"--intoto", filepath.Join(out, "all.jsonl"), "--all", "fin"}, false, []string{sums["fin"], sums["mid"], sums["raw"]}, true},
		{"stdout by CID", home, id, []string{"--intoto", "-", fin.String()}, true, []string{sums["fin"]}, true},
		{"imported", other, otherID, []string{"--intoto", filepath.Join(out, "other.jsonl"), "--all", fin.String()}, false, []string{sums["fin"], sums["mid"], sums["raw"]}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := bonsai(t, dir, tc.home, append([]string{"export"}, tc.args...)...)
			wantCode(t, r, 0)
			data := []byte(r.stdout)
			if !tc.stdout {
				var err error
				if data, err = os.ReadFile(tc.args[1]); err != nil {
					t.Fatal(err)
				}
				if !strings.Contains(r.stdout, "signed by "+tc.signer) {
					t.Errorf("export stdout = %q, want it to name the signer %s", r.stdout, tc.signer)
				}
			} else if !strings.Contains(r.stderr, "to standard output") {
				t.Errorf("export - stderr = %q, want the summary", r.stderr)
			}
			envs := readEnvelopes(t, data)
			if len(envs) != len(tc.subjects) {
				t.Fatalf("bundle = %d envelopes, want %d", len(envs), len(tc.subjects))
			}
			for i, env := range envs {
				st, prov := checkEnvelope(t, env, tc.signer)
				if len(st.GetSubject()) != 1 {
					t.Fatalf("statement %d: %d subjects, want 1", i, len(st.GetSubject()))
				}
				sub := st.GetSubject()[0]
				sum := sub.GetDigest()["sha256"]
				if sum != tc.subjects[i] {
					t.Errorf("statement %d: subject sha256 = %s, want %s", i, sum, tc.subjects[i])
				}
				outCID, err := cid.Decode(sub.GetAnnotations().GetFields()["cid"].GetStringValue())
				if err != nil {
					t.Fatalf("statement %d: subject cid annotation: %v", i, err)
				}
				wantSubName := outCID.String()
				if tc.paths {
					wantSubName = wantName[sum]
				}
				if sub.GetName() != wantSubName {
					t.Errorf("statement %d: subject name = %q, want %q", i, sub.GetName(), wantSubName)
				}
				var deps []string
				for _, d := range prov.GetBuildDefinition().GetResolvedDependencies() {
					deps = append(deps, d.GetDigest()["sha256"])
					wantURI := ""
					if tc.paths {
						wantURI = "file://" + filepath.Join(dir, wantName[d.GetDigest()["sha256"]])
					}
					if d.GetUri() != wantURI {
						t.Errorf("statement %d: dependency uri = %q, want %q", i, d.GetUri(), wantURI)
					}
				}
				if !slices.Equal(deps, wantDeps[sum]) {
					t.Errorf("statement %d: resolvedDependencies sha256 = %v, want %v", i, deps, wantDeps[sum])
				}
				if got, want := prov.GetBuildDefinition().GetBuildType(), "https://github.com/bonsai-lineage/bonsai/record/v1"; got != want {
					t.Errorf("statement %d: buildType = %q, want %q", i, got, want)
				}
				if got, want := prov.GetRunDetails().GetBuilder().GetId(), "libp2p:peer:"+id; got != want {
					t.Errorf("statement %d: builder.id = %q, want %q (the executor)", i, got, want)
				}
				// The byproduct is the record block: its CID is the
				// invocation ID, and it decodes, signed by the executor,
				// for this output.
				md := prov.GetRunDetails().GetMetadata()
				rc, err := cid.Decode(md.GetInvocationId())
				if err != nil {
					t.Fatalf("statement %d: invocationId %q: %v", i, md.GetInvocationId(), err)
				}
				bps := prov.GetRunDetails().GetByproducts()
				if len(bps) != 1 {
					t.Fatalf("statement %d: %d byproducts, want the record", i, len(bps))
				}
				blockSum := sha256.Sum256(bps[0].GetContent())
				if got := bps[0].GetDigest()["sha256"]; got != hex.EncodeToString(blockSum[:]) {
					t.Errorf("statement %d: byproduct sha256 = %s, want %x", i, got, blockSum)
				}
				rec, err := lineage.Open(rc, bps[0].GetContent())
				if err != nil {
					t.Fatalf("statement %d: record %s from byproduct: %v (want it to hash to its CID and carry the executor's signature)", i, rc, err)
				}
				if !rec.Output.Equals(outCID) || rec.Executor.Peer.String() != id {
					t.Errorf("statement %d: record output %s by %s, want %s by %s", i, rec.Output, rec.Executor.Peer, outCID, id)
				}
				if !md.GetStartedOn().AsTime().Equal(rec.TimeOf()) || !md.GetFinishedOn().AsTime().Equal(rec.TimeOf()) {
					t.Errorf("statement %d: startedOn, finishedOn = %v, %v; want the record's time %v", i, md.GetStartedOn().AsTime(), md.GetFinishedOn().AsTime(), rec.TimeOf())
				}
				ext := prov.GetBuildDefinition().GetExternalParameters().GetFields()
				if got := ext["executor"].GetStructValue().GetFields()["peer"].GetStringValue(); got != id {
					t.Errorf("statement %d: externalParameters.executor.peer = %q, want %s", i, got, id)
				}
			}
		})
	}
}

// provSchema is the PROV-JSON submission's schema (testdata, see its
// README), compiled as draft-04 with formats asserted.
func provSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", "prov-json.schema.json"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	doc, err := jsonschema.UnmarshalJSON(f)
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft4)
	c.AssertFormat()
	const url = "http://provenance.ecs.soton.ac.uk/prov-json/schema"
	if err := c.AddResource(url, doc); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile(url)
	if err != nil {
		t.Fatal(err)
	}
	return sch
}

// provJSON is the part of a PROV-JSON document the export fills.
type provJSON struct {
	Prefix            map[string]string            `json:"prefix"`
	Entity            map[string]map[string]any    `json:"entity"`
	Activity          map[string]map[string]any    `json:"activity"`
	Agent             map[string]map[string]any    `json:"agent"`
	Used              map[string]map[string]string `json:"used"`
	WasGeneratedBy    map[string]map[string]string `json:"wasGeneratedBy"`
	WasAssociatedWith map[string]map[string]string `json:"wasAssociatedWith"`
}

func TestExportProv(t *testing.T) {
	t.Parallel()
	sch := provSchema(t)
	home, id := initHome(t)
	dir := pipeline(t, home)
	fin := hashOf(t, filepath.Join(dir, "fin"))
	other, _ := importedHome(t, dir, home)

	out := t.TempDir()
	for _, tc := range []struct {
		name   string
		home   string
		args   []string
		stdout bool
		paths  bool
	}{
		{"file", home, []string{"--prov", filepath.Join(out, "a.prov.json"), "fin"}, false, true},
		{"stdout", home, []string{"--prov", "-", "fin"}, true, true},
		{"imported", other, []string{"--prov", filepath.Join(out, "b.prov.json"), fin.String()}, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := bonsai(t, dir, tc.home, append([]string{"export"}, tc.args...)...)
			wantCode(t, r, 0)
			data := []byte(r.stdout)
			if !tc.stdout {
				var err error
				if data, err = os.ReadFile(tc.args[1]); err != nil {
					t.Fatal(err)
				}
				if want := "wrote PROV-JSON of 3 records (3 contents, 1 executor) to "; !strings.HasPrefix(r.stdout, want) {
					t.Errorf("export stdout = %q, want %q…", r.stdout, want)
				}
			}
			inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
			if err != nil {
				t.Fatalf("PROV-JSON does not parse: %v\n%s", err, data)
			}
			if err := sch.Validate(inst); err != nil {
				t.Errorf("PROV-JSON schema validation = %v\n%s", err, data)
			}
			var doc provJSON
			if err := json.Unmarshal(data, &doc); err != nil {
				t.Fatal(err)
			}
			for _, c := range []struct {
				what      string
				got, want int
			}{
				{"entities", len(doc.Entity), 3}, {"activities", len(doc.Activity), 3}, {"agents", len(doc.Agent), 1},
				{"used", len(doc.Used), 2}, {"wasGeneratedBy", len(doc.WasGeneratedBy), 3}, {"wasAssociatedWith", len(doc.WasAssociatedWith), 3},
			} {
				if c.got != c.want {
					t.Errorf("PROV-JSON %s = %d, want %d", c.what, c.got, c.want)
				}
			}
			if _, ok := doc.Agent["peer:"+id]; !ok {
				t.Errorf("PROV-JSON agents = %v, want peer:%s", doc.Agent, id)
			}
			if doc.Prefix["bonsai"] == "" || doc.Prefix["peer"] != "libp2p:peer:" {
				t.Errorf("PROV-JSON prefix = %v, want bonsai and peer declared", doc.Prefix)
			}
			if _, ok := doc.Entity["bonsai:"+fin.String()]; !ok {
				t.Errorf("PROV-JSON entities lack the target bonsai:%s", fin)
			}
			for e, attrs := range doc.Entity {
				_, hasPath := attrs["bonsai:path"]
				if hasPath != tc.paths {
					t.Errorf("entity %s: bonsai:path present = %v, want %v", e, hasPath, tc.paths)
				}
			}
			// Every relation names declared elements (the schema cannot
			// say so), and every activity's times are RFC 3339.
			for _, rel := range []struct {
				name string
				m    map[string]map[string]string
			}{{"used", doc.Used}, {"wasGeneratedBy", doc.WasGeneratedBy}, {"wasAssociatedWith", doc.WasAssociatedWith}} {
				for k, v := range rel.m {
					if _, ok := doc.Activity[v["prov:activity"]]; !ok {
						t.Errorf("%s %s: activity %q not declared", rel.name, k, v["prov:activity"])
					}
					if e, ok := v["prov:entity"]; ok {
						if _, ok := doc.Entity[e]; !ok {
							t.Errorf("%s %s: entity %q not declared", rel.name, k, e)
						}
					}
					if a, ok := v["prov:agent"]; ok {
						if _, ok := doc.Agent[a]; !ok {
							t.Errorf("%s %s: agent %q not declared", rel.name, k, a)
						}
					}
				}
			}
			for a, attrs := range doc.Activity {
				for _, k := range []string{"prov:startTime", "prov:endTime"} {
					s, _ := attrs[k].(string)
					if _, err := time.Parse(time.RFC3339, s); err != nil {
						t.Errorf("activity %s: %s = %q: %v", a, k, s, err)
					}
				}
			}
		})
	}
}

// TestProvSchemaRefuses: the committed schema, as compiled, does refuse
// what breaks it, so its passing the exports above means something.
func TestProvSchemaRefuses(t *testing.T) {
	t.Parallel()
	sch := provSchema(t)
	for _, tc := range []struct {
		name, doc string
		ok        bool
	}{
		{"minimal", `{"prefix": {"bonsai": "https://example.org/ns#"}, "entity": {"bonsai:a": {}}}`, true},
		{"generation without entity", `{"wasGeneratedBy": {"_:g1": {"prov:activity": "bonsai:r"}}}`, false},
		{"prefix not a URI", `{"prefix": {"bonsai": "not a uri"}}`, false},
		{"unknown top-level key", `{"entities": {}}`, false},
		{"attribute not a literal", `{"entity": {"bonsai:a": {"bonsai:x": null}}}`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			inst, err := jsonschema.UnmarshalJSON(strings.NewReader(tc.doc))
			if err != nil {
				t.Fatal(err)
			}
			err = sch.Validate(inst)
			if (err == nil) != tc.ok {
				t.Errorf("Validate(%s) = %v, want ok %v", tc.doc, err, tc.ok)
			}
		})
	}
}

func TestExportUsage(t *testing.T) {
	t.Parallel()
	home, _ := initHome(t)
	dir := pipeline(t, home)
	out := t.TempDir()
	existing := writeFile(t, out, "existing", "keep me\n", time.Time{})
	writeFile(t, dir, "b3", "hashed with blake3\n", time.Time{})
	wantCode(t, bonsai(t, dir, home, "record", "--hash", "blake3", "--out", "b3"), 0)
	for _, tc := range []struct {
		name  string
		args  []string
		usage bool
		subs  []string
	}{
		{"no output flag", []string{"fin"}, true, []string{"--car", "--intoto", "--prov"}},
		{"two output flags", []string{"--car", filepath.Join(out, "a"), "--prov", filepath.Join(out, "b"), "fin"}, true, []string{"--car", "--prov"}},
		{"three output flags", []string{"--car", "x", "--intoto", "y", "--prov", "z", "fin"}, true, []string{"one of"}},
		{"empty OUT", []string{"--intoto", "", "fin"}, true, []string{"--intoto", "empty"}},
		{"--all with --prov", []string{"--prov", filepath.Join(out, "c"), "--all", "fin"}, true, []string{"--all", "--intoto"}},
		{"--all with --car", []string{"--car", filepath.Join(out, "d"), "--all", "fin"}, true, []string{"--all"}},
		{"--json to stdout", []string{"--json", "--intoto", "-", "fin"}, true, []string{"--json"}},
		{"no FILE", []string{"--prov", filepath.Join(out, "e")}, true, []string{"exactly one"}},
		{"existing OUT", []string{"--intoto", existing, "fin"}, false, []string{"exists", "--force"}},
		{"blake3 content", []string{"--hash", "blake3", "--intoto", filepath.Join(out, "f"), "b3"}, false, []string{"blake3", "in-toto"}},
		{"no record", []string{"--prov", filepath.Join(out, "g"), "raw.missing"}, false, []string{"not a CID"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := bonsai(t, dir, home, append([]string{"export"}, tc.args...)...)
			wantOneLineError(t, r, tc.usage, tc.subs...)
		})
	}
	for _, name := range []string{"a", "b", "c", "d", "e", "f", "g"} {
		if _, err := os.Lstat(filepath.Join(out, name)); err == nil {
			t.Errorf("a refused export left %s behind", name)
		}
	}
	if data, _ := os.ReadFile(existing); string(data) != "keep me\n" {
		t.Errorf("existing OUT = %q after a refused export, want it kept", data)
	}
	r := bonsai(t, dir, home, "export", "--force", "--intoto", existing, "fin")
	wantCode(t, r, 0)
	if envs := readEnvelopes(t, []byte(mustRead(t, existing))); len(envs) != 1 {
		t.Errorf("export --force --intoto over a file = %d envelopes, want 1", len(envs))
	}
}

func mustRead(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// TestExportSkipsRevoked: a record its executor revoked is left out of
// --intoto --all and --prov, and counted; the target's own statement is
// refused when its only record is revoked.
func TestExportSkipsRevoked(t *testing.T) {
	t.Parallel()
	home, _ := initHome(t)
	dir := pipeline(t, home)
	wantCode(t, bonsai(t, dir, home, "revoke", "--reason", "bad source", "raw"), 0)
	out := t.TempDir()

	type intotoSummary struct {
		InToto  string   `json:"intoto"`
		Output  string   `json:"output"`
		Records []string `json:"records"`
		Peer    string   `json:"peer"`
		Skipped int      `json:"skipped"`
	}
	type provSummary struct {
		Prov       string `json:"prov"`
		Output     string `json:"output"`
		Records    int    `json:"records"`
		Entities   int    `json:"entities"`
		Activities int    `json:"activities"`
		Agents     int    `json:"agents"`
		Skipped    int    `json:"skipped"`
	}
	// This node signs for no record whose ancestry fails: raw's is
	// revoked, mid's and fin's stand on raw.
	r := bonsai(t, dir, home, "export", "--json", "--intoto", filepath.Join(out, "all.jsonl"), "--all", "fin")
	wantOneLineError(t, r, false, "verifies")
	if _, err := os.Stat(filepath.Join(out, "all.jsonl")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("refused export left %s (%v)", filepath.Join(out, "all.jsonl"), err)
	}
	wantOneLineError(t, bonsai(t, dir, home, "export", "--intoto", filepath.Join(out, "fin.jsonl"), "fin"), false, "verifies")
	// d made from b (made from a) and c, c's record revoked: a's and b's
	// statements only; d's record and c's are left out.
	home2, _ := initHome(t)
	dir2 := t.TempDir()
	writeFile(t, dir2, "a", "a\n", time.Time{})
	writeFile(t, dir2, "c", "c\n", time.Time{})
	record(t, dir2, home2, "--out", "a")
	record(t, dir2, home2, "--out", "c")
	record(t, dir2, home2, "--in", "a", "--out", "b", "--", "sh", "-c", "cat a a > b")
	record(t, dir2, home2, "--in", "b", "c", "--out", "d", "--", "sh", "-c", "cat b c > d")
	wantCode(t, bonsai(t, dir2, home2, "revoke", "--reason", "bad source", "c"), 0)
	s := decodeJSON[intotoSummary](t, bonsai(t, dir2, home2, "export", "--json", "--intoto", filepath.Join(out, "d.jsonl"), "--all", "d"))
	if len(s.Records) != 2 || s.Skipped != 2 {
		t.Errorf("export --intoto --all with c revoked = %d records, %d skipped; want 2 (b's, a's) and 2", len(s.Records), s.Skipped)
	}
	if envs := readEnvelopes(t, []byte(mustRead(t, filepath.Join(out, "d.jsonl")))); len(envs) != 2 {
		t.Errorf("bundle with c revoked = %d envelopes, want 2", len(envs))
	}
	p := decodeJSON[provSummary](t, bonsai(t, dir, home, "export", "--json", "--prov", filepath.Join(out, "a.prov.json"), "fin"))
	if p.Activities != 2 || p.Entities != 3 || p.Agents != 1 || p.Skipped != 1 {
		t.Errorf("export --prov with raw revoked = %d activities, %d entities, %d agents, %d skipped; want 2, 3, 1, 1", p.Activities, p.Entities, p.Agents, p.Skipped)
	}
	r = bonsai(t, dir, home, "export", "--intoto", filepath.Join(out, "raw.jsonl"), "raw")
	wantOneLineError(t, r, false, "verifies")
}

// TestExportInTotoDigests: each content hash bonsai takes is named as the
// in-toto digest set names it, or refused when it has no name there.
func TestExportInTotoDigests(t *testing.T) {
	t.Parallel()
	home, id := initHome(t)
	dir := t.TempDir()
	for _, tc := range []struct {
		hash, digest string
		sum          func([]byte) []byte
	}{
		{"sha2-256", "sha256", func(b []byte) []byte { s := sha256.Sum256(b); return s[:] }},
		{"sha3-256", "sha3_256", func(b []byte) []byte { s := sha3.Sum256(b); return s[:] }},
	} {
		t.Run(tc.hash, func(t *testing.T) {
			in := writeFile(t, dir, "in-"+tc.hash, "input of "+tc.hash+"\n", time.Time{})
			out := filepath.Join(dir, "out-"+tc.hash)
			wantCode(t, bonsai(t, dir, home, "record", "--hash", tc.hash, "--out", in), 0)
			wantCode(t, bonsai(t, dir, home, "record", "--hash", tc.hash, "--in", in, "--out", out, "--", "sh", "-c", `cat "$0" "$0" > "$1"`, in, out), 0)
			r := bonsai(t, dir, home, "export", "--hash", tc.hash, "--intoto", "-", out)
			wantCode(t, r, 0)
			envs := readEnvelopes(t, []byte(r.stdout))
			if len(envs) != 1 {
				t.Fatalf("bundle = %d envelopes, want 1", len(envs))
			}
			st, prov := checkEnvelope(t, envs[0], id)
			if len(st.GetSubject()) != 1 || len(prov.GetBuildDefinition().GetResolvedDependencies()) != 1 {
				t.Fatalf("statement: %d subjects, %d dependencies; want 1 and 1", len(st.GetSubject()), len(prov.GetBuildDefinition().GetResolvedDependencies()))
			}
			for _, c := range []struct {
				what string
				got  map[string]string
				path string
			}{
				{"subject", st.GetSubject()[0].GetDigest(), out},
				{"dependency", prov.GetBuildDefinition().GetResolvedDependencies()[0].GetDigest(), in},
			} {
				want := hex.EncodeToString(tc.sum([]byte(mustRead(t, c.path))))
				if len(c.got) != 1 || c.got[tc.digest] != want {
					t.Errorf("%s digest = %v, want {%s: %s}", c.what, c.got, tc.digest, want)
				}
			}
		})
	}
}

// TestExportUmask: an exported file gets the mode the user's umask gives
// a new file (here 077: 0600), not a fixed one.
func TestExportUmask(t *testing.T) {
	t.Parallel()
	home, _ := initHome(t)
	dir := pipeline(t, home)
	for _, umask := range []string{"077", "022"} {
		out := filepath.Join(t.TempDir(), "a.car")
		ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
		cmd := exec.CommandContext(ctx, "sh", "-c", "umask "+umask+" && exec \"$0\" \"$@\"", bonsaiBin, "--home", home, "export", "--car", out, "fin")
		cmd.Dir, cmd.Env = dir, childEnv()
		b, err := cmd.CombinedOutput()
		cancel()
		if err != nil {
			t.Fatalf("umask %s: export: %v\n%s", umask, err, b)
		}
		st, err := os.Stat(out)
		if err != nil {
			t.Fatal(err)
		}
		m, _ := strconv.ParseUint(umask, 8, 32)
		if want := os.FileMode(0o666 &^ m); st.Mode().Perm() != want {
			t.Errorf("umask %s: exported file mode %v, want %v", umask, st.Mode().Perm(), want)
		}
	}
}
