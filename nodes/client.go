package nodes

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/wmr-dev/wmr/engine/input"
)

// Client talks to a node's HTTP API. It is safe for concurrent use.
type Client struct {
	base  string
	http  *http.Client
	token string
	err   error // from an option; returned by every call
}

// ClientOption configures a Client.
type ClientOption func(*Client)

// WithToken authenticates every call with a tenant's API token.
func WithToken(token string) ClientOption { return func(c *Client) { c.token = token } }

// WithCAFile trusts the cluster CA certificate in path (ca.crt, from
// 'wmr ca') for https node URLs, instead of the system's roots.
func WithCAFile(path string) ClientOption {
	return func(c *Client) {
		pem, err := os.ReadFile(path)
		if err != nil {
			c.err = fmt.Errorf("cluster CA certificate: %w", err)
			return
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			c.err = fmt.Errorf("cluster CA certificate %s holds no PEM certificate", path)
			return
		}
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
		c.http = &http.Client{Transport: t}
	}
}

// NewClient returns a client for the node at base (e.g.
// http://127.0.0.1:8081 or https://node1:8081; "http://" is added when
// there is no scheme).
// At returns a client of the node whose HTTP API is at addr (host:port),
// with this client's scheme and credentials: to follow a job to another
// node when this one is gone.
func (c *Client) At(addr string) *Client {
	scheme, _, _ := strings.Cut(c.base, "://")
	d := *c
	d.base = scheme + "://" + addr
	return &d
}

func NewClient(base string, opts ...ClientOption) *Client {
	if !strings.Contains(base, "://") {
		base = "http://" + base
	}
	c := &Client{base: strings.TrimSuffix(base, "/"), http: &http.Client{}}
	for _, o := range opts {
		o(c)
	}
	return c
}

// ErrUnreachable is wrapped when the node cannot be reached at all.
var ErrUnreachable = errors.New("node unreachable")

// open sends a request and returns the response if it succeeded (2xx);
// otherwise it closes the body and returns the node's reason.
func (c *Client) open(ctx context.Context, method, path string, body io.Reader) (*http.Response, error) {
	if c.err != nil {
		return nil, c.err
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return nil, err
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrUnreachable, c.base, unwrapURLError(err))
	}
	if resp.StatusCode/100 != 2 {
		msg := responseError(resp)
		resp.Body.Close()
		return nil, errors.New(msg)
	}
	return resp, nil
}

// do sends a request and decodes the JSON answer into out (if not nil).
func (c *Client) do(ctx context.Context, method, path string, body io.Reader, out any) error {
	resp, err := c.open(ctx, method, path, body)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil {
		_, err = io.Copy(io.Discard, resp.Body)
		return err
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// Identity is who a token belongs to.
type Identity struct {
	Tenant string `json:"tenant"`
	Admin  bool   `json:"admin"`
	Quotas Quotas `json:"quotas"`
	Node   string `json:"node"`
	Secure bool   `json:"secure"`
}

// Whoami returns the caller's tenant as the node sees it.
func (c *Client) Whoami(ctx context.Context) (*Identity, error) {
	var id Identity
	return &id, c.do(ctx, http.MethodGet, "/v1/whoami", nil, &id)
}

// Delete deletes a dataset cluster-wide (its shards are removed from
// every holder).
func (c *Client) Delete(ctx context.Context, name string) error {
	return c.do(ctx, http.MethodDelete, "/v1/datasets/"+url.PathEscape(name), nil, nil)
}

// Members lists the cluster as the node sees it.
func (c *Client) Members(ctx context.Context) ([]Member, error) {
	var ms []Member
	return ms, c.do(ctx, http.MethodGet, "/v1/members", nil, &ms)
}

// Nodes returns every member with its task slots, running attempts (the
// caller's), disk use and worker processes.
func (c *Client) Nodes(ctx context.Context) ([]NodeInfo, error) {
	var ns []NodeInfo
	return ns, c.do(ctx, http.MethodGet, "/v1/nodes", nil, &ns)
}

// Storage reports the node's disk use and what garbage collection freed
// (admin tenants only).
func (c *Client) Storage(ctx context.Context) (*StorageReport, error) {
	var r StorageReport
	return &r, c.do(ctx, http.MethodGet, "/v1/admin/storage", nil, &r)
}

// Datasets lists the datasets the node knows.
func (c *Client) Datasets(ctx context.Context) ([]*Manifest, error) {
	var ms []*Manifest
	return ms, c.do(ctx, http.MethodGet, "/v1/datasets", nil, &ms)
}

// DatasetInfo is a dataset's manifest and the state of each replica, as
// its holders report it.
type DatasetInfo struct {
	Manifest
	ReplicaStates []ReplicaState `json:"replica_states"`
}

// Dataset returns one dataset's manifest.
func (c *Client) Dataset(ctx context.Context, name string) (*DatasetInfo, error) {
	var m DatasetInfo
	return &m, c.do(ctx, http.MethodGet, "/v1/datasets/"+url.PathEscape(name), nil, &m)
}

// DatasetReplicas returns one dataset's manifest and the state of every
// replica, as its holders report it.
func (c *Client) DatasetReplicas(ctx context.Context, name string) (*DatasetInfo, error) {
	var m DatasetInfo
	return &m, c.do(ctx, http.MethodGet, "/v1/datasets/"+url.PathEscape(name)+"?replicas=1", nil, &m)
}

// PutOptions configure Put.
type PutOptions struct {
	Replicas  int
	BlockSize int64 // 0: the node's default
	// InputFormat is how the files are read (input.ParseFormat; "" or
	// auto: by each file's name and content). It decides where shards
	// are cut and is recorded with them.
	InputFormat string
	// Replace allows putting over an existing dataset (otherwise refused
	// before anything is uploaded).
	Replace bool
	// Progress, if set, is called after each file with bytes sent so far
	// and in total.
	Progress func(done, total int64)
}

// Put uploads local files (files, directories, globs, as wmr run takes
// them) as dataset name: the node cuts them into shards and places the
// replicas; the dataset appears when every file is stored.
func (c *Client) Put(ctx context.Context, name string, inputs []string, opt PutOptions) (*Manifest, error) {
	if err := ValidName("dataset", name); err != nil {
		return nil, err
	}
	files, err := input.Expand(inputs)
	if err != nil {
		return nil, err
	}
	if !opt.Replace { // refuse before uploading anything (the commit checks again)
		if old, err := c.Dataset(ctx, name); err == nil {
			return nil, fmt.Errorf("dataset %s exists (%d shards, %d replicas); pass --replace to put it again, or delete it first (wmr delete %s)",
				name, len(old.Shards), old.Replicas, name)
		}
	}
	asked, err := input.ParseFormat(opt.InputFormat)
	if err != nil {
		return nil, err
	}
	for i := range files {
		if files[i].Format, err = input.Resolve(files[i].Path, files[i].Path, asked); err != nil {
			return nil, err
		}
	}
	if opt.Replicas <= 0 {
		opt.Replicas = 1
	}
	var total, done int64
	for _, f := range files {
		total += f.Size
	}
	m := &Manifest{Name: name, Replicas: opt.Replicas}
	for i, f := range files {
		fh, err := os.Open(f.Path)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", f.Path, err)
		}
		q := url.Values{"file": {f.Name}, "index": {strconv.Itoa(i)}, "replicas": {strconv.Itoa(opt.Replicas)},
			"block": {strconv.FormatInt(opt.BlockSize, 10)}, "format": {f.Format.String()}}
		var shards []Shard
		err = c.do(ctx, http.MethodPost, "/v1/datasets/"+url.PathEscape(name)+"/files?"+q.Encode(), fh, &shards)
		fh.Close()
		if err != nil {
			return nil, fmt.Errorf("upload %s: %w", f.Path, err)
		}
		m.Shards = append(m.Shards, shards...)
		done += f.Size
		if opt.Progress != nil {
			opt.Progress(done, total)
		}
	}
	b, _ := json.Marshal(m)
	var committed Manifest
	commit := "/v1/datasets/" + url.PathEscape(name) + "/commit"
	if opt.Replace {
		commit += "?replace=1"
	}
	if err := c.do(ctx, http.MethodPost, commit, bytes.NewReader(b), &committed); err != nil {
		return nil, fmt.Errorf("commit dataset %s: %w", name, err)
	}
	return &committed, nil
}

// PutInPlace publishes files that already live on the node's disk
// (absolute paths on that machine) as dataset name, without copying them.
func (c *Client) PutInPlace(ctx context.Context, name string, paths []string, blockSize int64, format string, replace bool) (*Manifest, error) {
	b, _ := json.Marshal(inPlaceRequest{Paths: paths, Block: blockSize, Format: format, Replace: replace})
	var m Manifest
	return &m, c.do(ctx, http.MethodPost, "/v1/datasets/"+url.PathEscape(name)+"/inplace", bytes.NewReader(b), &m)
}

// openCat returns the dataset's manifest and the stream of all its
// shards' bytes, which the caller checks against it.
func (c *Client) openCat(ctx context.Context, name string) (*DatasetInfo, *http.Response, error) {
	m, err := c.Dataset(ctx, name)
	if err != nil {
		return nil, nil, err
	}
	resp, err := c.open(ctx, http.MethodGet, "/v1/datasets/"+url.PathEscape(name)+"/cat", nil)
	if err != nil {
		return nil, nil, err
	}
	return m, resp, nil
}

// Cat writes the whole dataset, shard after shard, to w. It checks the
// stream against the manifest, shard by shard (length and CRC-32C): a
// stream that breaks off or differs is an error naming the shard.
func (c *Client) Cat(ctx context.Context, name string, w io.Writer) error {
	m, resp, err := c.openCat(ctx, name)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	for _, s := range m.Shards {
		sum := newShardCheck(s)
		_, err := io.Copy(io.MultiWriter(w, sum), io.LimitReader(resp.Body, s.Size))
		if err != nil {
			err = fmt.Errorf("the stream broke off after %d of its %d bytes (no replica could supply the rest; the node's log says why): %w", sum.n, s.Size, err)
		} else {
			err = sum.check()
		}
		if err != nil {
			return fmt.Errorf("dataset %s: shard %s (from file %s): %w", name, s.ID, s.File, err)
		}
	}
	if n, _ := io.Copy(io.Discard, resp.Body); n > 0 {
		return fmt.Errorf("dataset %s: the node sent %d bytes more than its manifest holds (was it replaced while being read?)", name, n)
	}
	return nil
}

// ErrStop, returned by a Records callback, ends the read early without
// error (cat --head).
var ErrStop = errors.New("stop reading")

// Record is one record of a dataset as Records reads it: for text, Key
// and Value are a line cut at its first tab (the key alone when it has
// none); for fixed-size records Key is the record's decimal offset in its
// file; for kv the stored key and value.
type Record struct {
	Shard      *Shard
	Key, Value []byte
	// Line is a text record's whole line (nil for other formats).
	Line []byte
}

// Records reads every record of the dataset, shard after shard, decoding
// each shard in its format, and calls fn for each. Every shard read to its
// end is checked against the manifest (length and CRC-32C).
func (c *Client) Records(ctx context.Context, name string, fn func(Record) error) error {
	m, resp, err := c.openCat(ctx, name)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body := bufio.NewReaderSize(resp.Body, 1<<20)
	for i := range m.Shards {
		s := &m.Shards[i]
		sum := newShardCheck(*s)
		err := readShard(io.TeeReader(io.LimitReader(body, s.Size), sum), s, fn)
		if err == ErrStop {
			return nil
		}
		if err == nil {
			err = sum.check()
		} else if sum.n < s.Size {
			err = fmt.Errorf("%w (the stream broke off after %d of its %d bytes)", err, sum.n, s.Size)
		}
		if err != nil {
			return fmt.Errorf("dataset %s: shard %s (from file %s): %w", name, s.ID, s.File, err)
		}
	}
	return nil
}

// readShard decodes one shard's records from r and reads r to its end.
func readShard(r io.Reader, s *Shard, fn func(Record) error) error {
	f, err := input.ParseFormat(s.Format)
	if err != nil {
		return err
	}
	recs, err := input.ReadStream(r, s.File, f, 0)
	if err != nil {
		return err
	}
	defer recs.Close()
	var num [20]byte
	for {
		off, key, value, err := recs.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		rec := Record{Shard: s, Key: key, Value: value}
		switch f.Kind {
		case "", input.Text:
			rec.Line = value
			rec.Key, rec.Value, _ = bytes.Cut(value, []byte("\t"))
		case input.Fixed:
			rec.Key = strconv.AppendInt(num[:0], off, 10)
		}
		if err := fn(rec); err != nil {
			return err
		}
	}
	_, err = io.Copy(io.Discard, r) // a compressed stream's trailer, say
	return err
}

// shardCheck checks the bytes of one shard against its manifest entry.
type shardCheck struct {
	s   Shard
	n   int64
	crc uint32
}

func newShardCheck(s Shard) *shardCheck { return &shardCheck{s: s} }

func (c *shardCheck) Write(p []byte) (int, error) {
	c.n += int64(len(p))
	c.crc = crc32.Update(c.crc, castagnoli, p)
	return len(p), nil
}

func (c *shardCheck) check() error {
	if c.n != c.s.Size {
		return fmt.Errorf("the stream broke off after %d of its %d bytes", c.n, c.s.Size)
	}
	if c.s.CRC != 0 && c.crc != c.s.CRC {
		return fmt.Errorf("%w: read with CRC-32C %08x, the manifest says %08x", errCorrupt, c.crc, c.s.CRC)
	}
	return nil
}

// Get downloads every shard of the dataset into dir, one file per shard
// named after it (job outputs: part-r-NNNNN), and returns the paths.
func (c *Client) Get(ctx context.Context, name, dir string) ([]string, error) {
	m, err := c.Dataset(ctx, name)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	var paths []string
	for _, s := range m.Shards {
		resp, err := c.open(ctx, http.MethodGet, "/v1/datasets/"+url.PathEscape(name)+"/shards/"+url.PathEscape(s.ID), nil)
		if err != nil {
			return nil, fmt.Errorf("shard %s: %w", s.ID, err)
		}
		p := filepath.Join(dir, s.ID)
		tmp := p + ".part"
		f, err := os.Create(tmp)
		if err == nil {
			sum := newShardCheck(s)
			_, err = io.Copy(io.MultiWriter(f, sum), resp.Body)
			if err == nil {
				err = sum.check()
			}
			if cerr := f.Close(); err == nil {
				err = cerr
			}
		}
		resp.Body.Close()
		if err == nil {
			err = os.Rename(tmp, p)
		}
		if err != nil {
			os.Remove(tmp)
			return nil, fmt.Errorf("download shard %s: %w", s.ID, err)
		}
		paths = append(paths, p)
	}
	return paths, nil
}

// SubmitOptions describe a job for Submit.
type SubmitOptions struct {
	// TaskMemory and TaskTime lower the per-task limits (0: the tenant's
	// quota or the node's default).
	TaskMemory int64
	TaskTime   time.Duration
	Module     string // path of the .wasm file
	Input      string // input dataset
	Output     string // output dataset (must not exist)
	Reducers   int
	Replicas   int // of the output; default 1
	Params     map[string]string
	// Attempts per task (default 3); SkipBadRecords: bad input records the
	// job may skip (default 0: none).
	Attempts, SkipBadRecords int
	// NoBackups turns backup attempts for stragglers off.
	NoBackups bool
	// Partitioner is "hash" (default) or "range" (engine/sampling).
	Partitioner string
	// InputFormat, if set, must be the input dataset's; OutputFormat is
	// "text" (default) or "kv".
	InputFormat, OutputFormat string
	// FanIn is the reduce tree's fan-in (engine.Job.FanIn): 0 the
	// default, negative no tree.
	FanIn int
}

// Submit uploads the module to the node and starts the job there; that
// node coordinates it.
func (c *Client) Submit(ctx context.Context, opt SubmitOptions) (*JobStatus, error) {
	wasm, err := os.ReadFile(opt.Module)
	if err != nil {
		return nil, fmt.Errorf("read module: %w", err)
	}
	name := filepath.Base(opt.Module)
	var staged struct {
		Hash string `json:"hash"`
	}
	if err := c.do(ctx, http.MethodPut, "/v1/modules?name="+url.QueryEscape(name), bytes.NewReader(wasm), &staged); err != nil {
		return nil, fmt.Errorf("upload module: %w", err)
	}
	b, _ := json.Marshal(JobRequest{ModuleHash: staged.Hash, ModuleName: name, Input: opt.Input, Output: opt.Output,
		Reducers: opt.Reducers, Replicas: opt.Replicas, Params: opt.Params, TaskMemory: opt.TaskMemory, TaskTime: Duration(opt.TaskTime),
		Attempts: opt.Attempts, SkipBadRecords: opt.SkipBadRecords, NoBackups: opt.NoBackups, Partitioner: opt.Partitioner,
		InputFormat: opt.InputFormat, OutputFormat: opt.OutputFormat, FanIn: opt.FanIn})
	var st JobStatus
	if err := c.do(ctx, http.MethodPost, "/v1/jobs", bytes.NewReader(b), &st); err != nil {
		return nil, err
	}
	return &st, nil
}

// Job returns a job's status (the node asks its coordinator if need be).
func (c *Client) Job(ctx context.Context, id string) (*JobStatus, error) {
	var st JobStatus
	return &st, c.do(ctx, http.MethodGet, "/v1/jobs/"+url.PathEscape(id), nil, &st)
}

// JobWait is Job, but the node answers when the job ends or after wait
// (at most 10 s), whichever comes first: for a client waiting for the end.
func (c *Client) JobWait(ctx context.Context, id string, wait time.Duration) (*JobStatus, error) {
	var st JobStatus
	return &st, c.do(ctx, http.MethodGet, "/v1/jobs/"+url.PathEscape(id)+"?wait="+url.QueryEscape(wait.String()), nil, &st)
}

// Logs returns a job's module log lines (taskID "" for every task's).
func (c *Client) Logs(ctx context.Context, id, taskID string) (*JobLogs, error) {
	var l JobLogs
	return &l, c.do(ctx, http.MethodGet, "/v1/jobs/"+url.PathEscape(id)+"/logs?task="+url.QueryEscape(taskID), nil, &l)
}

// Cancel stops a running job and returns its status; nothing of it is
// published.
func (c *Client) Cancel(ctx context.Context, id string) (*JobStatus, error) {
	var st JobStatus
	return &st, c.do(ctx, http.MethodDelete, "/v1/jobs/"+url.PathEscape(id), nil, &st)
}

// Jobs lists the jobs of every live node, oldest first, without attempts.
func (c *Client) Jobs(ctx context.Context) ([]JobStatus, error) {
	var out []JobStatus
	return out, c.do(ctx, http.MethodGet, "/v1/jobs", nil, &out)
}
