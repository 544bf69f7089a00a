package nodes

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/wmr-dev/wmr/abi/kv"
	"github.com/wmr-dev/wmr/engine/input"
	"github.com/wmr-dev/wmr/nodes/ui"
)

// apiError is the body of every error response.
type apiError struct {
	Error string `json:"error"`
}

// maxJSONBody bounds JSON request bodies.
const maxJSONBody = 16 << 20

func (n *Node) handler() http.Handler {
	mux := http.NewServeMux()
	handle := func(pattern string, h http.HandlerFunc) { mux.Handle(pattern, n.metrics.instrument(pattern, h)) }
	handle("GET /metrics", n.handleMetrics)
	handle("GET /v1/members", n.handleMembers)
	handle("GET /v1/nodes", n.handleNodes)
	handle("GET /v1/datasets", n.handleDatasets)
	handle("GET /v1/datasets/{ds}", n.handleDataset)
	handle("DELETE /v1/datasets/{ds}", n.handleDelete)
	handle("POST /v1/datasets/{ds}/files", n.handleUpload)
	handle("POST /v1/datasets/{ds}/inplace", n.handleInPlace)
	handle("POST /v1/datasets/{ds}/commit", n.handleCommit)
	handle("GET /v1/datasets/{ds}/cat", n.handleCat)
	handle("GET /v1/datasets/{ds}/shards/{shard}", n.handleShard)
	handle("GET /v1/whoami", n.handleWhoami)
	// Jobs.
	handle("PUT /v1/modules", n.handlePutModule)
	handle("POST /v1/jobs", n.handleSubmit)
	handle("GET /v1/jobs", n.handleJobs)
	handle("GET /v1/jobs/{job}", n.handleJob)
	handle("DELETE /v1/jobs/{job}", n.handleCancel)
	handle("GET /v1/jobs/{job}/logs", n.handleLogs)
	// Cluster operations (admin tenants).
	handle("POST /v1/admin/gossip-keys", n.handleKeyring)
	handle("GET /v1/admin/storage", n.handleStorage)
	// Node to node (a node certificate is required when the cluster has
	// secrets; calls on a tenant's behalf name the tenant).
	handle("PUT /v1/internal/shards/{tenant}/{ds}/{shard}", n.handlePutShard)
	handle("GET /v1/internal/shards/{tenant}/{ds}/{shard}", n.handleGetShard)
	handle("POST /v1/internal/sums/{tenant}/{ds}", n.handleShardSums)
	handle("GET /v1/internal/replicas/{tenant}/{ds}", n.handleReplicaStates)
	handle("PUT /v1/internal/manifests/{tenant}/{ds}", n.handlePutManifest)
	handle("POST /v1/internal/tasks", n.handleTask)
	handle("GET /v1/internal/modules/{hash}", n.handleGetModule)
	handle("POST /v1/internal/modules/{hash}/prepare", n.handlePrepareModule)
	handle("GET /v1/internal/jobs", n.handlePeerJobs)
	handle("GET /v1/internal/jobs/{job}", n.handlePeerJob)
	handle("GET /v1/internal/jobs/{job}/maps/{file}", n.handleMapOutput)
	handle("GET /v1/internal/jobs/{job}/outputs", n.handleMapOutputs)
	handle("PUT /v1/internal/jobrecords/{job}", n.handlePutJobRecord)
	handle("PUT /v1/internal/jobrecords", n.handlePutJobRecords)
	handle("DELETE /v1/internal/jobs/{job}", n.handleDropJob)
	handle("POST /v1/internal/jobs/{job}/cancel", n.handlePeerCancel)
	handle("GET /v1/internal/jobs/{job}/logs", n.handlePeerLogs)
	handle("POST /v1/internal/gossip-keys", n.handlePeerKeyring)
	handle("GET /v1/internal/identity", n.handleIdentity)
	handle("GET /v1/internal/node", n.handlePeerNode)
	// Probes for operators and orchestrators: no token needed, and they
	// answer before the node has joined.
	outer := http.NewServeMux()
	outer.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, map[string]string{"status": "alive", "node": n.name})
	})
	outer.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		switch {
		case n.shuttingDown():
			writeError(w, http.StatusServiceUnavailable, fmt.Errorf("node %s is shutting down", n.name))
		case !n.ready.Load():
			writeError(w, http.StatusServiceUnavailable, fmt.Errorf("node %s has not joined the cluster yet", n.name))
		default:
			writeJSON(w, map[string]string{"status": "ready", "node": n.name})
		}
	})
	// The dashboard's files hold no data (the page reads the API with the
	// user's token), so they are served to anyone, also before joining.
	outer.Handle("GET /ui/", n.metrics.instrument("GET /ui/", ui.Handler("/ui/")))
	outer.Handle("GET /{$}", http.RedirectHandler("/ui/", http.StatusFound))
	outer.Handle("GET /ui", http.RedirectHandler("/ui/", http.StatusMovedPermanently))
	outer.Handle("/", n.recoverer(n.whenReady(n.authorize(mux))))
	return outer
}

// whenReady answers 503 until the node has joined the cluster: before
// that it has no membership to answer from.
func (n *Node) whenReady(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !n.ready.Load() {
			writeError(w, http.StatusServiceUnavailable, fmt.Errorf("node %s is starting (joining the cluster); try again shortly", n.name))
			return
		}
		h.ServeHTTP(w, r)
	})
}

// recoverer turns a panic in a handler into a 500 and a log line: bad
// input must never take the node down.
func (n *Node) recoverer(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			v := recover()
			if v == http.ErrAbortHandler {
				panic(v) // net/http breaks the connection: the client must see the cut
			}
			if v != nil {
				n.log.Error("handler panicked", "method", r.Method, "path", r.URL.Path, "panic", v)
				writeError(w, http.StatusInternalServerError, fmt.Errorf("internal error"))
			}
		}()
		h.ServeHTTP(w, r)
	})
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, code int, err error) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(apiError{Error: err.Error()})
}

// statusOf maps errors to HTTP status codes.
func statusOf(err error) int {
	switch {
	case errors.Is(err, ErrBadName), errors.Is(err, errBadRequest), errors.Is(err, errNoKeyring):
		return http.StatusBadRequest
	case errors.Is(err, errTooLarge):
		return http.StatusRequestEntityTooLarge
	case errors.Is(err, errQuota):
		return http.StatusTooManyRequests
	case errors.Is(err, errUnknownJob), errors.Is(err, errUnknownTenant):
		return http.StatusNotFound
	case errors.Is(err, errForbidden):
		return http.StatusForbidden
	case errors.Is(err, ErrUnknownDataset), errors.Is(err, ErrNoShard):
		return http.StatusNotFound
	case errors.Is(err, errNotEnoughNodes):
		return http.StatusServiceUnavailable
	case errors.Is(err, errNoLiveReplica):
		return http.StatusServiceUnavailable
	case errors.Is(err, errBadJob):
		return http.StatusBadRequest
	case errors.Is(err, errExists), errors.Is(err, errJobEnded):
		return http.StatusConflict
	}
	return http.StatusInternalServerError
}

func (n *Node) handleMembers(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, n.Members())
}

func (n *Node) handleDatasets(w http.ResponseWriter, r *http.Request) {
	t := tenantOf(r)
	out := []*Manifest{}
	for _, m := range n.store.manifests() {
		if visible(t, m.Tenant) {
			if m.Tenant != t.Name {
				m.Name = m.Key() // the name an admin addresses it by
			}
			out = append(out, m)
		}
	}
	n.audit(r, "dataset.list", "", nil)
	writeJSON(w, out)
}

// dataset finds the caller's dataset named in the URL. Another tenant's
// dataset is unknown (404), exactly like one that does not exist.
func (n *Node) dataset(w http.ResponseWriter, r *http.Request, action string) (*Manifest, bool) {
	key, err := qualify(tenantOf(r), r.PathValue("ds"))
	if err == nil {
		var m *Manifest
		if m, err = n.store.manifest(key); err == nil {
			n.audit(r, action, key, nil)
			return m, true
		}
	}
	n.audit(r, action, r.PathValue("ds"), err)
	writeError(w, statusOf(err), err)
	return nil, false
}

// handleDataset shows a dataset's manifest and, with ?replicas=1, the
// state of each replica asked of every holder (when it was last verified,
// damage found): a call per holder that cat and get do not need.
func (n *Node) handleDataset(w http.ResponseWriter, r *http.Request) {
	if m, ok := n.dataset(w, r, "dataset.show"); ok {
		info := &DatasetInfo{Manifest: *m}
		if r.URL.Query().Get("replicas") == "1" {
			info.ReplicaStates = n.datasetReplicas(r.Context(), m)
		}
		writeJSON(w, info)
	}
}

// handleDelete deletes a dataset cluster-wide: a tombstone replaces its
// manifest everywhere, and each holder drops its shards on learning it.
func (n *Node) handleDelete(w http.ResponseWriter, r *http.Request) {
	m, ok := n.dataset(w, r, "dataset.delete")
	if !ok {
		return
	}
	tomb := &Manifest{Name: m.Name, Tenant: m.Tenant, Replicas: m.Replicas, Deleted: true, DeletedAt: time.Now()}
	if err := n.commit(r.Context(), tomb); err != nil {
		writeError(w, statusOf(err), err)
		return
	}
	writeJSON(w, map[string]string{"deleted": m.Name})
}

// handleWhoami tells a caller which tenant its token belongs to.
func (n *Node) handleWhoami(w http.ResponseWriter, r *http.Request) {
	t := tenantOf(r)
	writeJSON(w, map[string]any{"tenant": t.Name, "admin": t.Admin, "quotas": t.Quotas, "node": n.name, "secure": n.sec != nil})
}

var (
	errNotEnoughNodes = errors.New("not enough live nodes")
	errNoLiveReplica  = errors.New("no live replica")
)

// holdersFor places a shard on replicas live members.
func (n *Node) holdersFor(shard string, replicas int) ([]Member, error) {
	alive := n.alive()
	if replicas > len(alive) {
		return nil, fmt.Errorf("%w: %d replicas asked for, but only %d nodes are alive", errNotEnoughNodes, replicas, len(alive))
	}
	byName := map[string]Member{}
	names := make([]string, 0, len(alive))
	for _, m := range alive {
		byName[m.Name] = m
		names = append(names, m.Name)
	}
	var out []Member
	for _, name := range Place(shard, names, replicas) {
		out = append(out, byName[name])
	}
	return out, nil
}

// handleUpload receives one file, cuts it into shards at line boundaries
// and stores each on its holders. Query: file (base name), index (the
// file's position in the upload, for shard IDs and order), replicas,
// block. The answer lists the shards; the client commits them.
func (n *Node) handleUpload(w http.ResponseWriter, r *http.Request) {
	t := tenantOf(r)
	ds, err := qualify(t, r.PathValue("ds"))
	if err != nil {
		writeError(w, statusOf(err), err)
		return
	}
	q := r.URL.Query()
	file := filepath.Base(q.Get("file"))
	index, err1 := strconv.Atoi(q.Get("index"))
	replicas, err2 := strconv.Atoi(q.Get("replicas"))
	block, err3 := strconv.ParseInt(q.Get("block"), 10, 64)
	if err := errors.Join(err1, err2, err3); err != nil || index < 0 || replicas < 1 || replicas > 16 {
		writeError(w, http.StatusBadRequest, fmt.Errorf("upload needs index >= 0, replicas 1..16 and block parameters"))
		return
	}
	if err := ValidName("file", file); err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	format, err := input.ParseFormat(q.Get("format"))
	if err != nil {
		writeError(w, http.StatusBadRequest, fmt.Errorf("upload of %s: %v", file, err))
		return
	}
	quota, used := int64(t.Quotas.StoredBytes), n.store.storedBytes(t.Name)
	if block <= 0 {
		block = n.cfg.DefaultBlockSize
	}
	if len(n.alive()) < replicas {
		writeError(w, http.StatusServiceUnavailable, fmt.Errorf("%w: %d replicas asked for, but only %d nodes are alive", errNotEnoughNodes, replicas, len(n.alive())))
		return
	}
	body := bufio.NewReaderSize(http.MaxBytesReader(w, r.Body, n.cfg.MaxUpload), 1<<20)
	var shards []Shard
	for k := 0; ; k++ {
		id := fmt.Sprintf("f%05d-s%05d", index, k)
		tmp, size, err := cutShard(filepath.Join(n.cfg.DataDir, "tmp"), body, block, format)
		if err != nil {
			writeError(w, http.StatusBadRequest, fmt.Errorf("reading %s: %w", file, err))
			return
		}
		if size == 0 && k > 0 {
			os.Remove(tmp)
			break
		}
		if used += size * int64(replicas); quota > 0 && used > quota {
			os.Remove(tmp)
			err := fmt.Errorf("%w: storing %s would pass tenant %s's stored-bytes quota of %d bytes (every replica counts)", errQuota, file, t.Name, quota)
			n.audit(r, "dataset.upload", ds+"/"+file, err)
			writeError(w, statusOf(err), err)
			return
		}
		holders, err := n.holdersFor(ds+"/"+id, replicas)
		var sum shardSum
		if err == nil {
			sum, err = n.replicate(r.Context(), ds, id, tmp, holders)
		}
		os.Remove(tmp)
		if err != nil {
			writeError(w, statusOf(err), err)
			return
		}
		sh := Shard{ID: id, File: file, Size: sum.Length, CRC: sum.CRC, Format: shardFormat(format)}
		for _, h := range holders {
			sh.Holders = append(sh.Holders, h.Name)
		}
		shards = append(shards, sh)
		if _, err := body.Peek(1); err == io.EOF { // the file ends here
			break
		} else if err != nil {
			writeError(w, http.StatusBadRequest, fmt.Errorf("reading %s: %w", file, err))
			return
		}
	}
	n.audit(r, "dataset.upload", ds+"/"+file, nil)
	writeJSON(w, shards)
}

// shardFormat is what a shard records as its format ("" for text).
func shardFormat(f input.Format) string {
	if f.Kind == "" || (f.Kind == input.Text && f.Compression == "") {
		return ""
	}
	return f.String()
}

// cutShard copies records from r into a temporary file until it holds at
// least block bytes and ends at a record boundary (or r ends): lines for
// text, multiples of the record size for fixed-size records, whole blocks
// for kv; a compressed file is not cut at all (it is read from its start).
func cutShard(dir string, r *bufio.Reader, block int64, format input.Format) (string, int64, error) {
	f, err := os.CreateTemp(dir, "upload-*")
	if err != nil {
		return "", 0, err
	}
	fail := func(err error) (string, int64, error) {
		f.Close()
		os.Remove(f.Name())
		return "", 0, err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	var n int64
	switch {
	case !format.Splittable():
		n, err = io.Copy(w, r)
	case format.Kind == input.Fixed:
		size := int64(format.RecordSize)
		n, err = io.CopyN(w, r, max(block/size, 1)*size)
		if err == io.EOF {
			err = nil
		}
	case format.Kind == input.KV:
		n, err = cutKV(w, r, block)
	default:
		midLine := false // the last read ended inside a line longer than the buffer
		for n < block || midLine {
			line, rerr := r.ReadSlice('\n')
			w.Write(line)
			n += int64(len(line))
			midLine = rerr == bufio.ErrBufferFull
			if rerr == io.EOF {
				break
			}
			if rerr != nil && !midLine {
				err = rerr
				break
			}
		}
	}
	if err != nil {
		return fail(err)
	}
	if err := w.Flush(); err != nil {
		return fail(err)
	}
	return f.Name(), n, f.Close()
}

// cutKV copies whole kv blocks from r until at least block bytes; their
// checksums are checked by the tasks that read them.
func cutKV(w io.Writer, r *bufio.Reader, block int64) (int64, error) {
	var n int64
	for n < block {
		hdr, err := r.Peek(kv.HeaderSize)
		if len(hdr) == 0 && err == io.EOF {
			return n, nil
		}
		if len(hdr) < kv.HeaderSize || string(hdr[:len(kv.Magic)]) != kv.Magic {
			return n, fmt.Errorf("not a kv file: no kv block starts at byte %d of this part", n)
		}
		size := int64(binary.LittleEndian.Uint32(hdr[8:]))
		c, err := io.CopyN(w, r, int64(kv.HeaderSize)+size)
		n += c
		if err == io.EOF {
			return n, fmt.Errorf("not a kv file: the block at byte %d is truncated", n-c)
		}
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// inPlaceRequest publishes files on this node's disk as a dataset.
type inPlaceRequest struct {
	Paths []string `json:"paths"`
	Block int64    `json:"block"`
	// Format is the --input-format asked for ("" or auto: by each
	// file's name and content).
	Format string `json:"format,omitempty"`
	// Replace allows publishing over an existing dataset.
	Replace bool `json:"replace,omitempty"`
}

// handleInPlace publishes files on the node's disk. Only admin tenants
// (the operators) may: a path names any file the node can read.
func (n *Node) handleInPlace(w http.ResponseWriter, r *http.Request) {
	t := tenantOf(r)
	if !t.Admin {
		err := fmt.Errorf("%w: publishing files in place reads the node's own disk, so only admin tenants may; use put to upload", errForbidden)
		n.audit(r, "dataset.inplace", r.PathValue("ds"), err)
		writeError(w, statusOf(err), err)
		return
	}
	ds, err := qualify(t, r.PathValue("ds"))
	if err != nil {
		writeError(w, statusOf(err), err)
		return
	}
	var req inPlaceRequest
	if err := decodeJSON(w, r, &req); err != nil {
		writeError(w, statusOf(err), err)
		return
	}
	if req.Block <= 0 {
		req.Block = n.cfg.DefaultBlockSize
	}
	tenant, name, _ := splitQualified(ds)
	if err := n.refuseExisting(ds, req.Replace); err != nil {
		writeError(w, statusOf(err), err)
		return
	}
	m := &Manifest{Name: name, Tenant: tenant, Replicas: 1}
	for i, p := range req.Paths {
		if !filepath.IsAbs(p) {
			writeError(w, http.StatusBadRequest, fmt.Errorf("in-place path %q must be absolute (it names a file on node %s)", p, n.name))
			return
		}
		asked, err := input.ParseFormat(req.Format)
		if err != nil {
			writeError(w, http.StatusBadRequest, err)
			return
		}
		format, err := input.Resolve(p, filepath.Base(p), asked)
		if err != nil {
			writeError(w, http.StatusBadRequest, fmt.Errorf("in-place file on node %s: %w", n.name, err))
			return
		}
		cuts, err := formatCuts(p, req.Block, format)
		if err != nil {
			writeError(w, http.StatusBadRequest, fmt.Errorf("in-place file on node %s: %w", n.name, err))
			return
		}
		for k, c := range cuts {
			id := fmt.Sprintf("f%05d-s%05d", i, k)
			sum, err := n.store.linkShard(ds, id, p, c[0], c[1])
			if err != nil {
				writeError(w, statusOf(err), err)
				return
			}
			m.Shards = append(m.Shards, Shard{ID: id, File: filepath.Base(p), Size: sum.Length, CRC: sum.CRC, Holders: []string{n.name}, Format: shardFormat(format)})
		}
	}
	err = n.commit(r.Context(), m)
	n.audit(r, "dataset.inplace", ds, err)
	if err != nil {
		writeError(w, statusOf(err), err)
		return
	}
	writeJSON(w, m)
}

// formatCuts splits a file into [offset, length] ranges of about block
// bytes that end at record boundaries of its format (a compressed file is
// one range).
func formatCuts(path string, block int64, format input.Format) ([][2]int64, error) {
	if format.Kind == "" || format.Kind == input.Text && format.Splittable() {
		return lineCuts(path, block)
	}
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", path)
	}
	size := st.Size()
	if !format.Splittable() || size == 0 {
		return [][2]int64{{0, size}}, nil
	}
	var cuts [][2]int64
	switch format.Kind {
	case input.Fixed:
		step := max(block/int64(format.RecordSize), 1) * int64(format.RecordSize)
		for off := int64(0); off < size; off += step {
			cuts = append(cuts, [2]int64{off, min(step, size-off)})
		}
	case input.KV:
		f, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		for start := int64(0); start < size; {
			end, err := kv.BlockStart(f, start+block)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", path, err)
			}
			end = min(end, size)
			cuts = append(cuts, [2]int64{start, end - start})
			start = end
		}
	}
	return cuts, nil
}

// lineCuts splits a file into [offset, length] ranges of about block bytes
// that end at line boundaries.
func lineCuts(path string, block int64) ([][2]int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", path)
	}
	r := bufio.NewReaderSize(f, 1<<20)
	var cuts [][2]int64
	var start, pos int64
	for {
		line, err := r.ReadSlice('\n')
		pos += int64(len(line))
		if err == bufio.ErrBufferFull {
			continue
		}
		if pos-start >= block || (err == io.EOF && pos > start) {
			cuts = append(cuts, [2]int64{start, pos - start})
			start = pos
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
	}
	if len(cuts) == 0 {
		cuts = append(cuts, [2]int64{0, 0})
	}
	return cuts, nil
}

func (n *Node) handleCommit(w http.ResponseWriter, r *http.Request) {
	t := tenantOf(r)
	key, err := qualify(t, r.PathValue("ds"))
	if err != nil {
		writeError(w, statusOf(err), err)
		return
	}
	var m Manifest
	if err := decodeJSON(w, r, &m); err != nil {
		writeError(w, statusOf(err), err)
		return
	}
	tenant, name, _ := splitQualified(key)
	if m.Name != name && m.Name != key {
		writeError(w, http.StatusBadRequest, fmt.Errorf("manifest names dataset %q, URL %q", m.Name, r.PathValue("ds")))
		return
	}
	// The owner is whoever the URL resolved to, never what the body says;
	// sizes and checksums are what the holders stored.
	m.Name, m.Tenant, m.Deleted = name, tenant, false
	if err := n.refuseExisting(key, r.URL.Query().Get("replace") == "1"); err != nil {
		n.audit(r, "dataset.commit", key, err)
		writeError(w, statusOf(err), err)
		return
	}
	if err := n.settleSums(r.Context(), &m); err != nil {
		n.audit(r, "dataset.commit", key, err)
		writeError(w, statusOf(err), err)
		return
	}
	if err := n.checkStorage(&m); err != nil {
		n.audit(r, "dataset.commit", key, err)
		writeError(w, statusOf(err), err)
		return
	}
	err = n.commit(r.Context(), &m)
	n.audit(r, "dataset.commit", key, err)
	if err != nil {
		writeError(w, statusOf(err), err)
		return
	}
	writeJSON(w, &m)
}

// refuseExisting refuses to commit over an existing dataset unless asked
// to replace it: put never replaces a dataset by accident.
func (n *Node) refuseExisting(key string, replace bool) error {
	if replace {
		return nil
	}
	if old, err := n.store.manifest(key); err == nil {
		_, name, _ := splitQualified(key)
		return fmt.Errorf("%w: dataset %s exists (%d shards, %d replicas); pass --replace to put it again, or delete it first (wmr delete %s)",
			errExists, name, len(old.Shards), old.Replicas, name)
	}
	return nil
}

// checkStorage refuses a manifest that would take its tenant past its
// stored-bytes quota; a dataset it replaces frees its own bytes.
func (n *Node) checkStorage(m *Manifest) error {
	owner, err := n.tenantFor(m.Tenant)
	if err != nil || owner.Quotas.StoredBytes <= 0 {
		return nil
	}
	q, used := int64(owner.Quotas.StoredBytes), n.store.storedBytes(m.Tenant)
	if old, err := n.store.manifest(m.Key()); err == nil {
		used -= old.StoredBytes()
	}
	if used+m.StoredBytes() > q {
		return fmt.Errorf("%w: dataset %s (%d bytes with replicas) would pass tenant %s's stored-bytes quota of %d bytes (%d in use)", errQuota, m.Name, m.StoredBytes(), m.Tenant, q, used)
	}
	return nil
}

// commit versions a manifest (see Manifest.Version), records it here and
// pushes it to every live member; gossip carries it to the rest later.
func (n *Node) commit(ctx context.Context, m *Manifest) error {
	m.Version, m.Origin = n.store.nextVersion(m.Key()), n.name
	if _, err := n.store.saveManifest(m); err != nil {
		return err
	}
	for _, mem := range n.alive() {
		if mem.Name == n.name {
			continue
		}
		pctx, cancel := context.WithTimeout(ctx, 30*time.Second) // a hung peer must not hold the commit
		err := n.putManifest(pctx, mem, m)
		cancel()
		if err != nil {
			n.log.Warn("push manifest to peer; gossip will carry it", "peer", mem.Name, "dataset", m.Key(), "err", err)
		}
	}
	n.log.Info("dataset committed", "dataset", m.Key(), "shards", len(m.Shards), "bytes", m.Bytes(), "deleted", m.Deleted)
	return nil
}

// handleCat streams the whole dataset, shard after shard.
func (n *Node) handleCat(w http.ResponseWriter, r *http.Request) {
	m, ok := n.dataset(w, r, "dataset.read")
	if !ok {
		return
	}
	// Fail before sending anything if a shard has no live holder.
	for _, s := range m.Shards {
		if _, err := n.liveHolder(m.Key(), s); err != nil {
			writeError(w, statusOf(err), err)
			return
		}
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	for _, s := range m.Shards {
		rr := n.openReplicas(r.Context(), m.Key(), s)
		_, err := io.Copy(w, rr)
		rr.Close()
		if err != nil {
			// Headers are sent: abort the response, so the client sees a
			// broken stream, never a short one that looks complete.
			n.log.Error("cat: shard unreadable mid-stream", "dataset", m.Key(), "shard", s.ID, "err", err)
			panic(http.ErrAbortHandler)
		}
	}
}

// handleShard serves one shard of a dataset, from here or a live holder.
func (n *Node) handleShard(w http.ResponseWriter, r *http.Request) {
	m, ok := n.dataset(w, r, "dataset.get")
	if !ok {
		return
	}
	id := r.PathValue("shard")
	for _, s := range m.Shards {
		if s.ID != id {
			continue
		}
		if _, err := n.liveHolder(m.Key(), s); err != nil {
			writeError(w, statusOf(err), err)
			return
		}
		rr := n.openReplicas(r.Context(), m.Key(), s)
		defer rr.Close()
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Content-Length", strconv.FormatInt(s.Size, 10))
		w.Header().Set(headerCRC, strconv.FormatUint(uint64(s.CRC), 10))
		if _, err := io.Copy(w, rr); err != nil {
			n.log.Error("get: shard unreadable mid-stream", "dataset", m.Key(), "shard", s.ID, "err", err)
			panic(http.ErrAbortHandler) // the client sees a short body
		}
		return
	}
	writeError(w, http.StatusNotFound, fmt.Errorf("dataset %s has no shard %q", m.Name, id))
}

// liveHolder returns a live member holding shard s, preferring this node.
func (n *Node) liveHolder(ds string, s Shard) (Member, error) {
	alive := map[string]Member{}
	for _, m := range n.alive() {
		alive[m.Name] = m
	}
	for _, h := range s.Holders {
		if h == n.name {
			return alive[h], nil
		}
	}
	for _, h := range s.Holders {
		if m, ok := alive[h]; ok {
			return m, nil
		}
	}
	return Member{}, fmt.Errorf("%w of shard %s of dataset %s (from %s; held by %v, none of them alive)", errNoLiveReplica, s.ID, ds, s.File, s.Holders)
}

// internalKey is the dataset key named by an internal URL's {tenant}/{ds}.
func internalKey(r *http.Request) string { return r.PathValue("tenant") + "/" + r.PathValue("ds") }

func (n *Node) handlePutManifest(w http.ResponseWriter, r *http.Request) {
	var m Manifest
	if err := decodeJSON(w, r, &m); err != nil {
		writeError(w, statusOf(err), err)
		return
	}
	if m.Key() != internalKey(r) {
		writeError(w, http.StatusBadRequest, fmt.Errorf("manifest names dataset %q, URL %q", m.Key(), internalKey(r)))
		return
	}
	if _, err := n.store.saveManifest(&m); err != nil {
		writeError(w, statusOf(err), err)
		return
	}
	writeJSON(w, map[string]string{"ok": m.Name})
}
