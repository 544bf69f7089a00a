package nodes

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"
	"time"
)

// Versions are a Lamport clock: a commit goes past every version the node
// has seen, whatever the wall clock says, and concurrent commits of the
// same version are ordered by origin the same way on every node.
func TestManifestVersionsAreLogical(t *testing.T) {
	s, err := openStore(t.TempDir(), "n1")
	if err != nil {
		t.Fatal(err)
	}
	m := &Manifest{Name: "d", Tenant: "default", Version: s.nextVersion("default/d"), Origin: "n1"}
	if _, err := s.saveManifest(m); err != nil {
		t.Fatal(err)
	}
	// A peer far ahead (a fast clock, or many commits) is seen...
	ahead := &Manifest{Name: "e", Tenant: "default", Version: 1 << 40, Origin: "n2"}
	if changed, _ := s.saveManifest(ahead); !changed {
		t.Fatal("a newer manifest was not saved")
	}
	// ...and this node's next commit of any dataset passes it.
	if v := s.nextVersion("default/d"); v <= 1<<40 {
		t.Fatalf("next version %d does not pass the version seen (%d)", v, 1<<40)
	}
	// Same version: the higher origin wins, in either arrival order.
	for _, order := range [][]string{{"n2", "n3"}, {"n3", "n2"}} {
		st, _ := openStore(t.TempDir(), "x")
		for _, origin := range order {
			st.saveManifest(&Manifest{Name: "f", Tenant: "default", Version: 7, Origin: origin})
		}
		got, _ := st.manifest("default/f")
		if got.Origin != "n3" {
			t.Errorf("arrival %v kept origin %s, want n3", order, got.Origin)
		}
	}
	// Copies leave the store's state alone.
	s.saveManifest(&Manifest{Name: "g", Tenant: "default", Version: 1 << 41, Shards: []Shard{{ID: "s1", Holders: []string{"n1"}}}})
	c, _ := s.manifest("default/g")
	c.Shards[0].Holders[0] = "evil"
	for _, m := range s.catalogState() {
		if m.Name == "g" && m.Shards[0].Holders[0] != "n1" {
			t.Fatal("a copy shares the store's holders")
		}
	}
	// The clock survives a restart (it is above every stored version).
	re, _ := openStore(s.dir, "n1")
	if v := re.nextVersion("default/zz"); v <= 1<<41 {
		t.Fatalf("after reopening, next version %d", v)
	}
}

// A shard's bytes are checked on every read: a flipped byte or a cut is
// an error naming the replica, never data.
func TestShardReadsAreVerified(t *testing.T) {
	s, err := openStore(t.TempDir(), "n1")
	if err != nil {
		t.Fatal(err)
	}
	data := bytes.Repeat([]byte("0123456789abcdef\n"), 200000) // > 3 blocks
	sum, err := s.writeShard("default/d", "s1", bytes.NewReader(data), nil)
	if err != nil || sum.Length != int64(len(data)) || len(sum.Blocks) != 4 {
		t.Fatalf("write: %+v %v", sum, err)
	}
	read := func(start int64) ([]byte, error) {
		r, err := s.openReplica("default/d", "s1")
		if err != nil {
			return nil, err
		}
		defer r.Close()
		return io.ReadAll(r.reader(start))
	}
	if got, err := read(0); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("intact read: %d bytes, %v", len(got), err)
	}
	if got, err := read(shardBlock + 5); err != nil || !bytes.Equal(got, data[shardBlock+5:]) {
		t.Fatalf("resumed read: %d bytes, %v", len(got), err)
	}
	// A copy that arrives different from what was sent is refused.
	if _, err := s.writeShard("default/d", "s2", bytes.NewReader(data[1:]), &sum); !errors.Is(err, errCorrupt) {
		t.Fatalf("short copy stored: %v", err)
	}
	path := s.shardPath("default/d", "s1")
	raw, _ := os.ReadFile(path)
	raw[2*shardBlock+100] ^= 1
	os.WriteFile(path, raw, 0o644)
	got, err := read(0)
	if !errors.Is(err, errCorrupt) || !strings.Contains(err.Error(), "on node n1") || !strings.Contains(err.Error(), "CRC-32C") {
		t.Fatalf("flipped byte: %v", err)
	}
	if len(got) != 2*shardBlock {
		t.Errorf("read %d bytes before the damaged block, want the %d before it", len(got), 2*shardBlock)
	}
	os.WriteFile(path, data[:len(data)-3], 0o644)
	if _, err := read(0); !errors.Is(err, errCorrupt) {
		t.Fatalf("truncated: %v", err)
	}
	if _, err := s.verifyShard("default/d", "s1", time.Now()); !errors.Is(err, errCorrupt) {
		t.Fatalf("verify truncated: %v", err)
	}
	os.WriteFile(path, append(data, 'x'), 0o644)
	if _, err := read(0); !errors.Is(err, errCorrupt) {
		t.Fatalf("grown: %v", err)
	}
	// Quarantined, it is gone from service, and says so.
	if err := s.quarantine("default/d", "s1", time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := s.openReplica("default/d", "s1"); !errors.Is(err, ErrNoShard) || !strings.Contains(err.Error(), "quarantined") {
		t.Fatalf("after quarantine: %v", err)
	}
}

// Garbage collection removes a dataset's shard directory once it is
// empty; an upload moving its first shard into that directory at the same
// moment must still land (CI once saw "rename ...: no such file or
// directory" from exactly this).
func TestShardWritesSurviveEmptyDirectoryRemoval(t *testing.T) {
	s, err := openStore(t.TempDir(), "n1")
	if err != nil {
		t.Fatal(err)
	}
	dir := s.shardPath("default/d", "x")
	dir = dir[:len(dir)-len("/x")]
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
				s.removeDatasetDirIfEmpty(dir)
			}
		}
	}()
	defer func() { close(stop); <-done }()
	for i := range 300 {
		shard := fmt.Sprintf("s%d", i)
		if _, err := s.writeShard("default/d", shard, strings.NewReader("a line\n"), nil); err != nil {
			t.Fatalf("write %s: %v", shard, err)
		}
		// Empty the directory again, so the next write races its removal.
		os.Remove(s.shardPath("default/d", shard))
		os.Remove(s.shardPath("default/d", shard) + ".crc")
	}
}
