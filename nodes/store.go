package nodes

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
)

// Shard is one piece of a dataset.
type Shard struct {
	ID   string `json:"id" msgpack:"id"`
	File string `json:"file" msgpack:"file"` // base name of the file it came from
	Size int64  `json:"size" msgpack:"size"`
	// CRC is the CRC-32C of the shard's bytes, as the nodes that stored
	// it computed it (never as a client claims).
	CRC     uint32   `json:"crc32c" msgpack:"crc32c"`
	Holders []string `json:"holders" msgpack:"holders"`
	// Format is how the shard's bytes are read (input.ParseFormat: "kv",
	// "fixed:100", "gzip", ...); "" is text.
	Format string `json:"format,omitempty" msgpack:"format,omitempty"`
}

// Manifest describes a dataset: its shards, in order.
type Manifest struct {
	Name string `json:"name" msgpack:"name"`
	// Tenant owns the dataset; Name is unique within the tenant.
	Tenant   string  `json:"tenant" msgpack:"tenant"`
	Replicas int     `json:"replicas" msgpack:"replicas"`
	Shards   []Shard `json:"shards" msgpack:"shards"`
	// Version orders updates of the same name: a Lamport clock (every
	// node's clock passes every version it sees, and a commit takes the
	// next), so the order does not depend on any node's wall clock. The
	// higher (Version, Origin) wins when nodes merge catalogs; Origin is
	// the node that committed, which breaks ties between concurrent
	// commits the same way everywhere.
	Version int64  `json:"version" msgpack:"version"`
	Origin  string `json:"origin,omitempty" msgpack:"origin,omitempty"`
	// Deleted marks a tombstone: the dataset was deleted at Version. It
	// is kept (and gossiped) so that a node that missed the delete does
	// not bring the dataset back.
	Deleted bool `json:"deleted,omitempty" msgpack:"deleted,omitempty"`
	// DeletedAt is when, by the deleting node's clock: tombstones are
	// dropped after Config.TombstoneTTL (a node down longer than that
	// could bring the dataset back).
	DeletedAt time.Time `json:"deleted_at,omitzero" msgpack:"deleted_at,omitempty"`
}

// PlainText says whether every shard is uncompressed text, which cat
// prints byte for byte.
func (m *Manifest) PlainText() bool {
	for _, s := range m.Shards {
		if s.Format != "" {
			return false
		}
	}
	return true
}

// newerThan says whether m supersedes o (same dataset).
func (m *Manifest) newerThan(o *Manifest) bool {
	if m.Version != o.Version {
		return m.Version > o.Version
	}
	return m.Origin > o.Origin
}

// clone is a deep copy: callers may change it without the store's lock.
func (m *Manifest) clone() *Manifest {
	cp := *m
	cp.Shards = make([]Shard, len(m.Shards))
	for i, s := range m.Shards {
		s.Holders = slices.Clone(s.Holders)
		cp.Shards[i] = s
	}
	return &cp
}

// Key is the dataset's catalog key, TENANT/NAME.
func (m *Manifest) Key() string { return m.Tenant + "/" + m.Name }

// StoredBytes counts every replica of every shard.
func (m *Manifest) StoredBytes() int64 {
	var n int64
	for _, s := range m.Shards {
		n += s.Size * int64(len(s.Holders))
	}
	return n
}

// Bytes is the dataset's total size.
func (m *Manifest) Bytes() int64 {
	var n int64
	for _, s := range m.Shards {
		n += s.Size
	}
	return n
}

// ErrUnknownDataset is returned for a dataset no node has committed.
var ErrUnknownDataset = errors.New("unknown dataset")

// ErrNoShard is returned when this node does not hold a shard.
var ErrNoShard = errors.New("shard not held here")

// store is a node's disk: shards under DataDir/shards/TENANT/DATASET/SHARD
// and manifests under DataDir/catalog/TENANT/DATASET.json. Datasets are
// named by their key, TENANT/DATASET (see splitQualified). Shards published in place
// are SHARD.link files naming the file that holds them. It is safe for
// concurrent use.
type store struct {
	dir  string
	node string // this node's name, for errors
	mu   sync.Mutex
	// dirs orders creating a dataset's shard directory and moving a file
	// into it (shared) against removing the directory once empty
	// (exclusive, by garbage collection): without it an upload's rename
	// can find its directory removed under it.
	dirs sync.RWMutex
	// catalog caches the manifests on disk.
	catalog map[string]*Manifest
	// clock is the Lamport clock of manifest versions: above every
	// version this node has seen.
	clock int64
}

// link is the content of a .link file: a byte range of a file the node's
// operator published in place.
type link struct {
	Path   string    `json:"path"`
	Offset int64     `json:"offset"`
	Length int64     `json:"length"`
	Sum    *shardSum `json:"sum,omitempty"`
}

func openStore(dir, node string) (*store, error) {
	s := &store{dir: dir, node: node, catalog: map[string]*Manifest{}}
	for _, sub := range []string{"shards", "catalog", "tmp"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
			return nil, fmt.Errorf("data directory: %w", err)
		}
	}
	paths, err := filepath.Glob(filepath.Join(dir, "catalog", "*", "*.json"))
	if err != nil {
		return nil, err
	}
	for _, p := range paths {
		name, _ := strings.CutSuffix(filepath.Base(p), ".json")
		key := filepath.Base(filepath.Dir(p)) + "/" + name
		if _, _, err := splitQualified(key); err != nil {
			continue
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		var m Manifest
		if err := json.Unmarshal(b, &m); err != nil {
			return nil, fmt.Errorf("catalog entry %s is corrupt: %w", p, err)
		}
		if m.Key() != key {
			return nil, fmt.Errorf("catalog entry %s names dataset %s", p, m.Key())
		}
		s.catalog[key] = &m
		s.clock = max(s.clock, m.Version)
	}
	return s, nil
}

// shardPath is where a shard of dataset (a key, TENANT/NAME) lives; the
// caller has checked both names.
func (s *store) shardPath(dataset, shard string) string {
	return filepath.Join(s.dir, "shards", filepath.FromSlash(dataset), shard)
}

// checkNames checks a dataset key and a shard name from any source.
func checkNames(dataset, shard string) error {
	_, _, err := splitQualified(dataset)
	return errors.Join(err, ValidName("shard", shard))
}

// writeShard stores r as a shard, atomically, with its checksums (see
// checksum.go); a plain file replaces any in-place link of the same name.
// want, if not nil, is what a copy from another replica must match.
func (s *store) writeShard(dataset, shard string, r io.Reader, want *shardSum) (shardSum, error) {
	if err := checkNames(dataset, shard); err != nil {
		return shardSum{}, err
	}
	fail := func(err error) (shardSum, error) {
		return shardSum{}, fmt.Errorf("store shard %s/%s on node %s: %w", dataset, shard, s.node, err)
	}
	tmp, err := os.CreateTemp(filepath.Join(s.dir, "tmp"), "shard-*")
	if err != nil {
		return fail(err)
	}
	defer os.Remove(tmp.Name())
	sums := newSummer()
	_, err = io.Copy(io.MultiWriter(tmp, sums), r)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fail(err)
	}
	sum := sums.result()
	if want != nil && (sum.Length != want.Length || sum.CRC != want.CRC) {
		return fail(fmt.Errorf("%w in transit: received %d bytes with CRC-32C %08x, sent %d with %08x", errCorrupt, sum.Length, sum.CRC, want.Length, want.CRC))
	}
	p := s.shardPath(dataset, shard)
	s.dirs.RLock()
	defer s.dirs.RUnlock()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return fail(err)
	}
	if err := s.writeSum(p, sum); err != nil {
		return fail(err)
	}
	if err := os.Rename(tmp.Name(), p); err != nil {
		return fail(err)
	}
	os.Remove(p + ".link")
	return sum, nil
}

// removeDatasetDirIfEmpty removes a dataset's shard directory if it holds
// nothing, and never while a shard is being moved into it.
func (s *store) removeDatasetDirIfEmpty(dir string) {
	s.dirs.Lock()
	defer s.dirs.Unlock()
	if rest, _ := os.ReadDir(dir); len(rest) == 0 {
		os.Remove(dir)
	}
}

// writeSum writes a plain shard's checksum file, atomically.
func (s *store) writeSum(shardPath string, sum shardSum) error {
	b, _ := json.Marshal(sum)
	return writeAtomic(filepath.Join(s.dir, "tmp"), shardPath+".crc", b)
}

// writeAtomic writes b to path through a temporary file in tmpDir.
func writeAtomic(tmpDir, path string, b []byte) error {
	tmp, err := os.CreateTemp(tmpDir, "meta-*")
	if err != nil {
		return err
	}
	_, err = tmp.Write(b)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		os.Remove(tmp.Name())
	}
	return err
}

// linkShard publishes bytes [off, off+n) of an existing file as a shard,
// with the checksums of those bytes as they are now.
func (s *store) linkShard(dataset, shard, path string, off, n int64) (shardSum, error) {
	if err := checkNames(dataset, shard); err != nil {
		return shardSum{}, err
	}
	f, err := os.Open(path)
	if err != nil {
		return shardSum{}, err
	}
	sum, err := sumOf(io.NewSectionReader(f, off, n))
	f.Close()
	if err != nil {
		return shardSum{}, fmt.Errorf("read %s: %w", path, err)
	}
	if sum.Length != n {
		return shardSum{}, fmt.Errorf("%s changed while it was published", path)
	}
	b, _ := json.Marshal(link{Path: path, Offset: off, Length: n, Sum: &sum})
	p := s.shardPath(dataset, shard)
	s.dirs.RLock()
	defer s.dirs.RUnlock()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return shardSum{}, err
	}
	if err := writeAtomic(filepath.Join(s.dir, "tmp"), p+".link", b); err != nil {
		return shardSum{}, err
	}
	// An upload of the same name that never committed must not shadow it.
	os.Remove(p)
	os.Remove(p + ".crc")
	return sum, nil
}

// replica is a shard held here, open for reading.
type replica struct {
	f    *os.File
	src  io.ReaderAt // the shard's bytes (a range of f for a link)
	sum  shardSum
	what string // for errors: "shard T/D/S on node N"
}

// reader reads the replica from byte start, verified block by block.
func (r *replica) reader(start int64) io.Reader {
	return newVerifiedReader(r.src, r.sum, r.what, start)
}

func (r *replica) Close() error { return r.f.Close() }

// openReplica opens a shard held here. A shard stored before shards had
// checksums gets them now, from its bytes as they are.
func (s *store) openReplica(dataset, shard string) (*replica, error) {
	if err := checkNames(dataset, shard); err != nil {
		return nil, err
	}
	what := fmt.Sprintf("shard %s/%s on node %s", dataset, shard, s.node)
	p := s.shardPath(dataset, shard)
	if f, err := os.Open(p); err == nil {
		sum, err := s.readSum(p, f)
		if err != nil {
			f.Close()
			return nil, err
		}
		return &replica{f: f, src: f, sum: sum, what: what}, nil
	}
	b, err := os.ReadFile(p + ".link")
	if errors.Is(err, os.ErrNotExist) {
		if q, _ := filepath.Glob(filepath.Join(s.dir, "quarantine", filepath.FromSlash(dataset), shard+".*")); len(q) > 0 {
			return nil, fmt.Errorf("%w: %s/%s on node %s (its replica failed its checksums and was quarantined; no good copy has replaced it yet)", ErrNoShard, dataset, shard, s.node)
		}
		return nil, fmt.Errorf("%w: %s/%s on node %s", ErrNoShard, dataset, shard, s.node)
	}
	if err != nil {
		return nil, err
	}
	var l link
	if err := json.Unmarshal(b, &l); err != nil {
		return nil, fmt.Errorf("shard link %s/%s is corrupt: %w", dataset, shard, err)
	}
	f, err := os.Open(l.Path)
	if err != nil {
		return nil, fmt.Errorf("in-place shard %s/%s: %w", dataset, shard, err)
	}
	src := io.NewSectionReader(f, l.Offset, l.Length)
	if l.Sum == nil {
		sum, err := sumOf(src)
		if err != nil {
			f.Close()
			return nil, err
		}
		l.Sum = &sum
		b, _ := json.Marshal(l)
		writeAtomic(filepath.Join(s.dir, "tmp"), p+".link", b)
	}
	return &replica{f: f, src: src, sum: *l.Sum, what: what}, nil
}

// readSum reads a plain shard's checksums, making them if it has none.
func (s *store) readSum(p string, f *os.File) (shardSum, error) {
	b, err := os.ReadFile(p + ".crc")
	if errors.Is(err, os.ErrNotExist) {
		sum, err := sumOf(io.NewSectionReader(f, 0, 1<<62))
		if err != nil {
			return shardSum{}, err
		}
		s.writeSum(p, sum) // best effort: a full disk must not make the shard unreadable
		return sum, nil
	}
	if err != nil {
		return shardSum{}, err
	}
	var sum shardSum
	if err := json.Unmarshal(b, &sum); err != nil {
		return shardSum{}, fmt.Errorf("checksums of %s are unreadable: %w", p, err)
	}
	return sum, nil
}

// openShard opens a shard held here for a verified read from the start.
func (s *store) openShard(dataset, shard string) (io.ReadCloser, shardSum, error) {
	r, err := s.openReplica(dataset, shard)
	if err != nil {
		return nil, shardSum{}, err
	}
	return struct {
		io.Reader
		io.Closer
	}{r.reader(0), r}, r.sum, nil
}

// verifyShard reads a shard held here through its checksums and, if it
// is intact, records when (at most once an hour: every map task verifies
// its input, and a rewrite of the checksum file per task buys nothing);
// it returns the shard's checksums.
func (s *store) verifyShard(dataset, shard string, now time.Time) (shardSum, error) {
	r, err := s.openReplica(dataset, shard)
	if err != nil {
		return shardSum{}, err
	}
	defer r.Close()
	if err := verifyAll(r.src, r.sum, r.what); err != nil {
		return r.sum, err
	}
	if now.Sub(r.sum.Verified) > time.Hour {
		r.sum.Verified = now
		s.setVerified(dataset, shard, r.sum)
	}
	return r.sum, nil
}

// setVerified records a replica's last verification in its checksums.
func (s *store) setVerified(dataset, shard string, sum shardSum) {
	p := s.shardPath(dataset, shard)
	if _, err := os.Stat(p); err == nil {
		s.writeSum(p, sum)
		return
	}
	b, err := os.ReadFile(p + ".link")
	var l link
	if err != nil || json.Unmarshal(b, &l) != nil {
		return
	}
	l.Sum = &sum
	b, _ = json.Marshal(l)
	writeAtomic(filepath.Join(s.dir, "tmp"), p+".link", b)
}

// quarantine moves a damaged replica out of the way (into
// DataDir/quarantine, removed after the grace period), so that it is never
// served again and a good copy can take its place.
func (s *store) quarantine(dataset, shard string, now time.Time) error {
	if err := checkNames(dataset, shard); err != nil {
		return err
	}
	dir := filepath.Join(s.dir, "quarantine", filepath.FromSlash(dataset))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	p := s.shardPath(dataset, shard)
	stamp := fmt.Sprintf(".%d", now.UnixNano())
	var errs []error
	for _, suffix := range []string{"", ".crc", ".link"} {
		err := os.Rename(p+suffix, filepath.Join(dir, shard+suffix+stamp))
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// holds lists the shards of dataset held here.
func (s *store) holds(dataset string) []string {
	if _, _, err := splitQualified(dataset); err != nil {
		return nil
	}
	entries, _ := os.ReadDir(filepath.Join(s.dir, "shards", filepath.FromSlash(dataset)))
	var out []string
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".crc") {
			continue
		}
		out = append(out, strings.TrimSuffix(e.Name(), ".link"))
	}
	sort.Strings(out)
	return slices.Compact(out)
}

// saveManifest records m if it is newer than what is known; it reports
// whether it changed anything.
func (s *store) saveManifest(m *Manifest) (bool, error) {
	key := m.Key()
	if _, _, err := splitQualified(key); err != nil {
		return false, err
	}
	for _, sh := range m.Shards {
		if err := ValidName("shard", sh.ID); err != nil {
			return false, err
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.clock = max(s.clock, m.Version)
	if old, ok := s.catalog[key]; ok && !m.newerThan(old) {
		return false, nil
	}
	if err := os.MkdirAll(filepath.Join(s.dir, "catalog", m.Tenant), 0o755); err != nil {
		return false, err
	}
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return false, err
	}
	tmp, err := os.CreateTemp(filepath.Join(s.dir, "tmp"), "manifest-*")
	if err != nil {
		return false, err
	}
	_, err = tmp.Write(b)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), filepath.Join(s.dir, "catalog", m.Tenant, m.Name+".json"))
	}
	if err != nil {
		os.Remove(tmp.Name())
		return false, err
	}
	s.catalog[key] = m.clone()
	if m.Deleted {
		// The dataset is gone: drop what this node holds of it (links
		// only, for in-place shards: those files are the operator's).
		s.dirs.Lock()
		os.RemoveAll(filepath.Join(s.dir, "shards", filepath.FromSlash(key)))
		s.dirs.Unlock()
	}
	return true, nil
}

func (s *store) manifest(name string) (*Manifest, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, ok := s.catalog[name]
	if !ok || m.Deleted {
		_, short, _ := strings.Cut(name, "/")
		return nil, fmt.Errorf("%w %q", ErrUnknownDataset, short)
	}
	return m.clone(), nil
}

// dropTombstone forgets tombstone m, if it is still the dataset's latest
// state.
func (s *store) dropTombstone(m *Manifest) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	cur, ok := s.catalog[m.Key()]
	if !ok || !cur.Deleted || cur.Version != m.Version || cur.Origin != m.Origin {
		return false
	}
	if err := os.Remove(filepath.Join(s.dir, "catalog", m.Tenant, m.Name+".json")); err != nil && !errors.Is(err, os.ErrNotExist) {
		return false
	}
	delete(s.catalog, m.Key())
	return true
}

// nextVersion ticks the clock for a commit of dataset key.
func (s *store) nextVersion(key string) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.clock++
	if old, ok := s.catalog[key]; ok && old.Version >= s.clock {
		s.clock = old.Version + 1
	}
	return s.clock
}

// manifests lists the datasets (not tombstones) sorted by key.
func (s *store) manifests() []*Manifest {
	var out []*Manifest
	for _, m := range s.catalogState() {
		if !m.Deleted {
			out = append(out, m)
		}
	}
	return out
}

// catalogState is every manifest, tombstones included (for gossip).
func (s *store) catalogState() []*Manifest {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*Manifest, 0, len(s.catalog))
	for _, m := range s.catalog {
		out = append(out, m.clone())
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key() < out[j].Key() })
	return out
}

// storedBytes is what tenant's datasets occupy, every replica counted.
func (s *store) storedBytes(tenant string) int64 {
	var n int64
	for _, m := range s.manifests() {
		if m.Tenant == tenant {
			n += m.StoredBytes()
		}
	}
	return n
}

// shardRange resolves a shard held here to a byte range of a local file,
// after reading it through its checksums: a map task must never read
// damaged input.
func (s *store) shardRange(dataset, shard string, now time.Time) (path string, off, length int64, err error) {
	if _, err := s.verifyShard(dataset, shard, now); err != nil {
		return "", 0, 0, err
	}
	p := s.shardPath(dataset, shard)
	if st, err := os.Stat(p); err == nil {
		return p, 0, st.Size(), nil
	}
	b, err := os.ReadFile(p + ".link")
	if err != nil {
		return "", 0, 0, fmt.Errorf("%w: %s/%s", ErrNoShard, dataset, shard)
	}
	var l link
	if err := json.Unmarshal(b, &l); err != nil {
		return "", 0, 0, fmt.Errorf("shard link %s/%s is corrupt: %w", dataset, shard, err)
	}
	return l.Path, l.Offset, l.Length, nil
}
