package nodes

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
)

// Shard is one piece of a dataset.
type Shard struct {
	ID      string   `json:"id" msgpack:"id"`
	File    string   `json:"file" msgpack:"file"` // base name of the file it came from
	Size    int64    `json:"size" msgpack:"size"`
	Holders []string `json:"holders" msgpack:"holders"`
}

// Manifest describes a dataset: its shards, in order.
type Manifest struct {
	Name string `json:"name" msgpack:"name"`
	// Tenant owns the dataset; Name is unique within the tenant.
	Tenant   string  `json:"tenant" msgpack:"tenant"`
	Replicas int     `json:"replicas" msgpack:"replicas"`
	Shards   []Shard `json:"shards" msgpack:"shards"`
	// Version orders updates of the same name (unix nanoseconds of the
	// commit); the higher wins when nodes merge catalogs.
	Version int64 `json:"version" msgpack:"version"`
	// Deleted marks a tombstone: the dataset was deleted at Version. It
	// is kept (and gossiped) so that a node that missed the delete does
	// not bring the dataset back.
	Deleted bool `json:"deleted,omitempty" msgpack:"deleted,omitempty"`
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
	dir string
	mu  sync.Mutex
	// catalog caches the manifests on disk.
	catalog map[string]*Manifest
}

// link is the content of a .link file: a byte range of a file the node's
// operator published in place.
type link struct {
	Path   string `json:"path"`
	Offset int64  `json:"offset"`
	Length int64  `json:"length"`
}

func openStore(dir string) (*store, error) {
	s := &store{dir: dir, catalog: map[string]*Manifest{}}
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

// writeShard stores r as a shard, atomically.
func (s *store) writeShard(dataset, shard string, r io.Reader) (int64, error) {
	if err := checkNames(dataset, shard); err != nil {
		return 0, err
	}
	if err := os.MkdirAll(filepath.Join(s.dir, "shards", filepath.FromSlash(dataset)), 0o755); err != nil {
		return 0, err
	}
	tmp, err := os.CreateTemp(filepath.Join(s.dir, "tmp"), "shard-*")
	if err != nil {
		return 0, err
	}
	n, err := io.Copy(tmp, r)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), s.shardPath(dataset, shard))
	}
	if err != nil {
		os.Remove(tmp.Name())
		return 0, fmt.Errorf("store shard %s/%s: %w", dataset, shard, err)
	}
	return n, nil
}

// linkShard publishes bytes [off, off+n) of an existing file as a shard.
func (s *store) linkShard(dataset, shard, path string, off, n int64) error {
	if err := checkNames(dataset, shard); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Join(s.dir, "shards", filepath.FromSlash(dataset)), 0o755); err != nil {
		return err
	}
	b, _ := json.Marshal(link{Path: path, Offset: off, Length: n})
	return os.WriteFile(s.shardPath(dataset, shard)+".link", b, 0o644)
}

// openShard opens a shard held here.
func (s *store) openShard(dataset, shard string) (io.ReadCloser, int64, error) {
	if err := checkNames(dataset, shard); err != nil {
		return nil, 0, err
	}
	p := s.shardPath(dataset, shard)
	if f, err := os.Open(p); err == nil {
		st, err := f.Stat()
		if err != nil {
			f.Close()
			return nil, 0, err
		}
		return f, st.Size(), nil
	}
	b, err := os.ReadFile(p + ".link")
	if errors.Is(err, os.ErrNotExist) {
		return nil, 0, fmt.Errorf("%w: %s/%s", ErrNoShard, dataset, shard)
	}
	if err != nil {
		return nil, 0, err
	}
	var l link
	if err := json.Unmarshal(b, &l); err != nil {
		return nil, 0, fmt.Errorf("shard link %s/%s is corrupt: %w", dataset, shard, err)
	}
	f, err := os.Open(l.Path)
	if err != nil {
		return nil, 0, fmt.Errorf("in-place shard %s/%s: %w", dataset, shard, err)
	}
	return struct {
		io.Reader
		io.Closer
	}{io.NewSectionReader(f, l.Offset, l.Length), f}, l.Length, nil
}

// holds lists the shards of dataset held here.
func (s *store) holds(dataset string) []string {
	if _, _, err := splitQualified(dataset); err != nil {
		return nil
	}
	entries, _ := os.ReadDir(filepath.Join(s.dir, "shards", filepath.FromSlash(dataset)))
	var out []string
	for _, e := range entries {
		out = append(out, strings.TrimSuffix(e.Name(), ".link"))
	}
	sort.Strings(out)
	return out
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
	if old, ok := s.catalog[key]; ok && old.Version >= m.Version {
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
	cp := *m
	s.catalog[key] = &cp
	if m.Deleted {
		// The dataset is gone: drop what this node holds of it (links
		// only, for in-place shards: those files are the operator's).
		os.RemoveAll(filepath.Join(s.dir, "shards", filepath.FromSlash(key)))
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
	cp := *m
	return &cp, nil
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
		cp := *m
		out = append(out, &cp)
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

// shardRange resolves a shard held here to a byte range of a local file.
func (s *store) shardRange(dataset, shard string) (path string, off, length int64, err error) {
	if err := checkNames(dataset, shard); err != nil {
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
