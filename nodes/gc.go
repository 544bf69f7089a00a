package nodes

import (
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
)

// Garbage collection: what a node's disk holds that nothing needs any more
// is removed once it is older than GCGrace (the grace covers uploads not
// yet committed, manifests still on their way by gossip, jobs still being
// taken over):
//   - temporary files of uploads and copies that never finished (tmp/);
//   - shards no committed manifest places on this node: uploads that were
//     never committed, copies left after re-replication moved a replica,
//     replicas of datasets replaced or deleted (but never the output of a
//     job still running, whose shards are stored before its commit, and
//     only while the node's catalog is current: synced with a peer within
//     three push/pull intervals);
//   - quarantined replicas (damaged copies kept for inspection);
//   - the intermediate files of jobs that have ended or that no node
//     remembers (a node that was down when its job ended keeps them);
//   - tombstones of deleted datasets older than TombstoneTTL.

// GCStats is what one collection removed, by kind.
type GCStats struct {
	At      time.Time        `json:"at"`
	Files   map[string]int   `json:"files"`
	Bytes   map[string]int64 `json:"bytes"`
	Elapsed Duration         `json:"elapsed"`
}

// StorageReport is a node's disk use by kind and what garbage collection
// has freed since the node started.
type StorageReport struct {
	Node  string           `json:"node"`
	Bytes map[string]int64 `json:"bytes"` // shards, quarantine, jobs, tmp
	// Freed sums every collection since start; Last is the latest.
	Freed GCStats  `json:"freed"`
	Last  *GCStats `json:"last,omitempty"`
	Grace Duration `json:"grace"`
}

// gcState keeps the collector's totals. Safe for concurrent use.
type gcState struct {
	mu    sync.Mutex
	total GCStats
	last  *GCStats
}

func (g *gcState) add(s GCStats) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.total.Files == nil {
		g.total.Files, g.total.Bytes = map[string]int{}, map[string]int64{}
	}
	for k, v := range s.Files {
		g.total.Files[k] += v
	}
	for k, v := range s.Bytes {
		g.total.Bytes[k] += v
	}
	g.total.At = s.At
	g.last = &s
}

// expiredRecords are the records of jobs that ended longer than keep
// before now (a running job's record is never one).
func expiredRecords(records []*jobRecord, now time.Time, keep time.Duration) []string {
	var out []string
	for _, r := range records {
		if r.Final != nil && !r.Final.Finished.IsZero() && now.Sub(r.Final.Finished) > keep {
			out = append(out, r.ID)
		}
	}
	sort.Strings(out)
	return out
}

// collect removes what is garbage at now and records what it freed.
func (n *Node) collect(now time.Time) GCStats {
	st := GCStats{At: now, Files: map[string]int{}, Bytes: map[string]int64{}}
	old := func(info fs.FileInfo) bool { return now.Sub(info.ModTime()) > n.cfg.GCGrace }
	remove := func(kind, path string, info fs.FileInfo) {
		size := info.Size()
		if info.IsDir() {
			size = dirSize(path)
		}
		if err := os.RemoveAll(path); err != nil {
			n.log.Warn("garbage collection: remove", "path", path, "err", err)
			return
		}
		st.Files[kind]++
		st.Bytes[kind] += size
	}
	dir := n.cfg.DataDir

	// Temporary files.
	if entries, err := os.ReadDir(filepath.Join(dir, "tmp")); err == nil {
		for _, en := range entries {
			if info, err := en.Info(); err == nil && old(info) {
				remove("tmp", filepath.Join(dir, "tmp", en.Name()), info)
			}
		}
	}

	// Job history past its retention.
	for _, id := range expiredRecords(n.records.all(), now, n.cfg.JobHistory) {
		if err := n.records.remove(id); err != nil {
			n.log.Warn("garbage collection: remove job record", "job", id, "err", err)
		} else {
			st.Files["job records"]++
		}
	}

	// Shards no manifest places here.
	running := map[string]bool{} // output datasets of jobs not ended
	for _, r := range n.records.all() {
		if r.Final == nil {
			running[r.OutKey] = true
		}
	}
	n.jobsMu.Lock()
	for _, j := range n.jobs {
		if j.running() {
			running[j.outKey] = true
		}
	}
	n.jobsMu.Unlock()
	placed := map[string]bool{} // TENANT/DS/SHARD held here per the catalog
	for _, m := range n.store.manifests() {
		for _, s := range m.Shards {
			if slices.Contains(s.Holders, n.name) {
				placed[m.Key()+"/"+s.ID] = true
			}
		}
	}
	shards := filepath.Join(dir, "shards")
	// Only a node whose catalog is current may judge a shard unplaced: one
	// cut off from its peers may not know the manifest that places it.
	// (A node that never had a peer is its whole cluster.)
	current := now.Sub(time.Unix(0, n.lastSync.Load())) < 3*n.cfg.PushPullInterval ||
		(len(n.peers.addrs(n.name)) == 0 && len(n.cfg.Join) == 0)
	var tenants []os.DirEntry
	if current {
		tenants, _ = os.ReadDir(shards)
	}
	for _, tn := range tenants {
		datasets, _ := os.ReadDir(filepath.Join(shards, tn.Name()))
		for _, ds := range datasets {
			key := tn.Name() + "/" + ds.Name()
			if running[key] {
				continue
			}
			dsDir := filepath.Join(shards, tn.Name(), ds.Name())
			files, _ := os.ReadDir(dsDir)
			for _, f := range files {
				id := strings.TrimSuffix(strings.TrimSuffix(f.Name(), ".crc"), ".link")
				if placed[key+"/"+id] {
					continue
				}
				if info, err := f.Info(); err == nil && old(info) {
					remove("shards", filepath.Join(dsDir, f.Name()), info)
				}
			}
			n.store.removeDatasetDirIfEmpty(dsDir)
		}
	}

	// Quarantined replicas.
	filepath.WalkDir(filepath.Join(dir, "quarantine"), func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if info, err := d.Info(); err == nil && old(info) {
				remove("quarantine", path, info)
			}
		}
		return nil
	})

	// Intermediate files of jobs that ended or that nobody remembers.
	if entries, err := os.ReadDir(filepath.Join(dir, "jobs")); err == nil {
		for _, en := range entries {
			id := en.Name()
			n.jobsMu.Lock()
			j, mine := n.jobs[id]
			live := mine && j.running()
			n.jobsMu.Unlock()
			if live {
				continue
			}
			r, known := n.records.get(id)
			if known && r.Final == nil {
				continue // running elsewhere, or waiting for a take-over
			}
			// An ended job's files go now; those of a job no record
			// names, once nothing in them changed for the grace period
			// (this node may have joined after the job was submitted).
			path := filepath.Join(dir, "jobs", id)
			if info, err := en.Info(); err == nil && (known || now.Sub(newestChange(path)) > n.cfg.GCGrace) {
				remove("jobs", path, info)
			}
		}
	}

	// Old tombstones.
	for _, m := range n.store.catalogState() {
		if m.Deleted && !m.DeletedAt.IsZero() && now.Sub(m.DeletedAt) > n.cfg.TombstoneTTL {
			if n.store.dropTombstone(m) {
				st.Files["tombstones"]++
			}
		}
	}

	st.Elapsed = Duration(time.Since(now))
	var files int
	for _, v := range st.Files {
		files += v
	}
	if files > 0 {
		var freed int64
		for _, v := range st.Bytes {
			freed += v
		}
		n.log.Info("garbage collected", "files", st.Files, "bytes", st.Bytes, "freed", freed)
	}
	n.gc.add(st)
	return st
}

// newestChange is the latest modification time under dir.
func newestChange(dir string) time.Time {
	var t time.Time
	filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil {
			if info, err := d.Info(); err == nil && info.ModTime().After(t) {
				t = info.ModTime()
			}
		}
		return nil
	})
	return t
}

// dirSize sums the sizes of the files under dir.
func dirSize(dir string) int64 {
	var total int64
	filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if info, err := d.Info(); err == nil {
				total += info.Size()
			}
		}
		return nil
	})
	return total
}

// storage reports this node's disk use and garbage collection.
func (n *Node) storage() StorageReport {
	rep := StorageReport{Node: n.name, Bytes: map[string]int64{}, Grace: Duration(n.cfg.GCGrace)}
	for _, kind := range []string{"shards", "quarantine", "jobs", "tmp"} {
		rep.Bytes[kind] = dirSize(filepath.Join(n.cfg.DataDir, kind))
	}
	n.gc.mu.Lock()
	rep.Freed, rep.Last = n.gc.total, n.gc.last
	n.gc.mu.Unlock()
	return rep
}

// handleStorage serves this node's StorageReport (admins only: it is
// about the node, not a tenant's data).
func (n *Node) handleStorage(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, n.storage())
}
