package nodes

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"net/http"
	"os"
	"slices"
	"strconv"
	"sync"
	"time"
)

// The data plane of shards: storing a shard on its holders, reading one
// from whichever replica is intact, and putting a good copy in place of a
// damaged one. Every byte moved here is checked against the checksums the
// storing node computed (checksum.go).

// Headers that carry a shard's length and CRC-32C between nodes.
const (
	headerLength = "X-Wmr-Length"
	headerCRC    = "X-Wmr-Crc32c"
)

// replicate sends a shard file to each holder (itself included) and
// returns its checksums.
func (n *Node) replicate(ctx context.Context, ds, id, path string, holders []Member) (shardSum, error) {
	f, err := os.Open(path)
	if err != nil {
		return shardSum{}, err
	}
	sum, err := sumOf(f)
	f.Close()
	if err != nil {
		return shardSum{}, err
	}
	for _, h := range holders {
		f, err := os.Open(path)
		if err != nil {
			return shardSum{}, err
		}
		if h.Name == n.name {
			_, err = n.store.writeShard(ds, id, f, &sum)
		} else {
			err = n.putShard(ctx, h, ds, id, f, sum)
		}
		f.Close()
		if err != nil {
			return shardSum{}, fmt.Errorf("store shard %s of %s on %s: %w", id, ds, h.Name, err)
		}
	}
	return sum, nil
}

func (n *Node) putShard(ctx context.Context, m Member, ds, id string, body io.Reader, sum shardSum) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, n.peerURL(m, "/v1/internal/shards/"+ds+"/"+id), body)
	if err != nil {
		return err
	}
	req.ContentLength = sum.Length
	req.Header.Set(headerLength, strconv.FormatInt(sum.Length, 10))
	req.Header.Set(headerCRC, strconv.FormatUint(uint64(sum.CRC), 10))
	return n.do(req, nil)
}

// handlePutShard stores a shard a peer sends; the bytes must match the
// length and CRC the sender computed, or nothing is stored.
func (n *Node) handlePutShard(w http.ResponseWriter, r *http.Request) {
	var want *shardSum
	if l, c := r.Header.Get(headerLength), r.Header.Get(headerCRC); l != "" || c != "" {
		length, err1 := strconv.ParseInt(l, 10, 64)
		crc, err2 := strconv.ParseUint(c, 10, 32)
		if err1 != nil || err2 != nil {
			writeError(w, http.StatusBadRequest, fmt.Errorf("%w: bad %s or %s header", errBadRequest, headerLength, headerCRC))
			return
		}
		want = &shardSum{Length: length, CRC: uint32(crc)}
	}
	sum, err := n.store.writeShard(internalKey(r), r.PathValue("shard"), http.MaxBytesReader(w, r.Body, n.cfg.MaxUpload), want)
	if err != nil {
		writeError(w, statusOf(err), err)
		return
	}
	writeJSON(w, map[string]any{"size": sum.Length, "crc32c": sum.CRC})
}

// getShard opens a replica on peer m from byte offset.
func (n *Node) getShard(ctx context.Context, m Member, ds, id string, offset int64) (io.ReadCloser, error) {
	u := n.peerURL(m, "/v1/internal/shards/"+ds+"/"+id+"?offset="+strconv.FormatInt(offset, 10))
	ctx, cancel := context.WithCancel(ctx)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		cancel()
		return nil, err
	}
	resp, err := n.client.Do(req)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("fetch shard %s/%s from %s: %w", ds, id, m.Name, err)
	}
	if resp.StatusCode != http.StatusOK {
		defer cancel()
		defer resp.Body.Close()
		return nil, fmt.Errorf("fetch shard %s/%s from %s: %s", ds, id, m.Name, responseError(resp))
	}
	return guardStream(resp.Body, cancel), nil
}

// handleGetShard serves a replica held here from ?offset=, verified block
// by block. A damaged block is never sent: the replica is quarantined and
// the response aborted, so the reader sees a broken stream and turns to
// another replica.
func (n *Node) handleGetShard(w http.ResponseWriter, r *http.Request) {
	ds, id := internalKey(r), r.PathValue("shard")
	offset, _ := strconv.ParseInt(r.URL.Query().Get("offset"), 10, 64)
	rep, err := n.store.openReplica(ds, id)
	if err != nil {
		writeError(w, statusOf(err), err)
		return
	}
	defer rep.Close()
	if offset < 0 || offset > rep.sum.Length {
		writeError(w, http.StatusBadRequest, fmt.Errorf("%w: offset %d is outside shard %s of %d bytes", errBadRequest, offset, id, rep.sum.Length))
		return
	}
	w.Header().Set("Content-Length", strconv.FormatInt(rep.sum.Length-offset, 10))
	w.Header().Set(headerCRC, strconv.FormatUint(uint64(rep.sum.CRC), 10))
	if _, err := io.Copy(w, rep.reader(offset)); err != nil {
		if errors.Is(err, errCorrupt) {
			n.damaged(ds, id, err)
		}
		panic(http.ErrAbortHandler)
	}
}

// restoreShard puts a good copy of s, read from another holder and
// verified against the manifest's checksum, in place here.
func (n *Node) restoreShard(ctx context.Context, ds string, s Shard) error {
	rr := n.openReplicas(ctx, ds, s, n.name)
	defer rr.Close()
	var want *shardSum
	if s.CRC != 0 || s.Size == 0 {
		want = &shardSum{Length: s.Size, CRC: s.CRC}
	}
	if _, err := n.store.writeShard(ds, s.ID, rr, want); err != nil {
		return err
	}
	n.integrity.restored(ds, s.ID)
	n.log.Info("replica restored from a good copy", "dataset", ds, "shard", s.ID)
	return nil
}

// copyShard copies a shard from any live holder to member to.
func (n *Node) copyShard(ctx context.Context, ds string, s Shard, to Member) error {
	if to.Name == n.name {
		return n.restoreShard(ctx, ds, s)
	}
	rr := n.openReplicas(ctx, ds, s)
	defer rr.Close()
	return n.putShard(ctx, to, ds, s.ID, rr, shardSum{Length: s.Size, CRC: s.CRC})
}

// openReplicas reads shard s from its replicas: this node's first, then
// each live holder, resuming at the byte where the last one failed. It
// fails, naming the shard, only when no replica can supply the rest; and
// it checks the whole against the manifest's length and CRC. Holders in
// skip are not asked.
func (n *Node) openReplicas(ctx context.Context, ds string, s Shard, skip ...string) *replicaReader {
	return &replicaReader{n: n, ctx: ctx, ds: ds, s: s, tried: map[string]bool{}, skip: skip}
}

// replicaReader is the reader openReplicas returns.
type replicaReader struct {
	n     *Node
	ctx   context.Context
	ds    string
	s     Shard
	skip  []string
	tried map[string]bool
	cur   io.ReadCloser
	from  string // the holder cur reads from
	off   int64
	crc   uint32
	errs  []error
	done  error
}

// next opens the next replica to try at r.off.
func (r *replicaReader) next() error {
	order := slices.Clone(r.s.Holders)
	if i := slices.Index(order, r.n.name); i > 0 { // this node's copy first
		order[0], order[i] = order[i], order[0]
	}
	for _, h := range order {
		if r.tried[h] || slices.Contains(r.skip, h) {
			continue
		}
		r.tried[h] = true
		if h == r.n.name {
			rep, err := r.n.store.openReplica(r.ds, r.s.ID)
			if err != nil {
				r.errs = append(r.errs, fmt.Errorf("on %s: %w", h, err))
				continue
			}
			r.cur, r.from = struct {
				io.Reader
				io.Closer
			}{rep.reader(r.off), rep}, h
			return nil
		}
		m, ok := r.n.aliveMember(h)
		if !ok {
			r.errs = append(r.errs, fmt.Errorf("%s is not alive", h))
			continue
		}
		rc, err := r.n.getShard(r.ctx, m, r.ds, r.s.ID, r.off)
		if err != nil {
			r.errs = append(r.errs, err)
			continue
		}
		r.cur, r.from = rc, h
		return nil
	}
	return fmt.Errorf("%w of shard %s of dataset %s (from file %s; held by %v) could supply it past byte %d: %w",
		errNoLiveReplica, r.s.ID, r.ds, r.s.File, r.s.Holders, r.off, errors.Join(r.errs...))
}

func (r *replicaReader) Read(p []byte) (int, error) {
	if r.done != nil {
		return 0, r.done
	}
	for {
		if r.cur == nil {
			if err := r.next(); err != nil {
				r.done = err
				return 0, err
			}
		}
		k, err := r.cur.Read(p)
		if k > 0 {
			r.off += int64(k)
			r.crc = crc32.Update(r.crc, castagnoli, p[:k])
			if r.off > r.s.Size && r.s.CRC != 0 { // (a manifest from before checksums may hold no size)
				r.done = fmt.Errorf("%w: shard %s of dataset %s is longer than its %d bytes", errCorrupt, r.s.ID, r.ds, r.s.Size)
				return 0, r.done
			}
			return k, nil
		}
		if err == io.EOF {
			return 0, r.end()
		}
		if err == nil {
			continue
		}
		if r.from == r.n.name && errors.Is(err, errCorrupt) {
			r.n.damaged(r.ds, r.s.ID, err)
		}
		r.errs = append(r.errs, fmt.Errorf("reading from %s at byte %d: %w", r.from, r.off, err))
		r.cur.Close()
		r.cur = nil
	}
}

// end checks a finished read against the manifest.
func (r *replicaReader) end() error {
	switch {
	case r.s.CRC == 0 && r.s.Size == 0: // a manifest from before checksums: nothing to check against
		r.done = io.EOF
	case r.off != r.s.Size:
		r.done = fmt.Errorf("%w: shard %s of dataset %s ended after %d of its %d bytes", errCorrupt, r.s.ID, r.ds, r.off, r.s.Size)
	case r.s.CRC != 0 && r.crc != r.s.CRC:
		r.done = fmt.Errorf("%w: shard %s of dataset %s read with CRC-32C %08x, the manifest says %08x", errCorrupt, r.s.ID, r.ds, r.crc, r.s.CRC)
	default:
		r.done = io.EOF
	}
	return r.done
}

func (r *replicaReader) Close() error {
	if r.cur != nil {
		r.cur.Close()
		r.cur = nil
	}
	return nil
}

// sumsRequest asks a holder for the checksums of shards it stores.
type sumsRequest struct {
	Shards []string `json:"shards"`
}

// handleShardSums answers with the checksums of the asked shards held
// here (missing ones are left out).
func (n *Node) handleShardSums(w http.ResponseWriter, r *http.Request) {
	var req sumsRequest
	if err := decodeJSON(w, r, &req); err != nil {
		writeError(w, statusOf(err), err)
		return
	}
	out := map[string]shardSum{}
	for _, id := range req.Shards {
		rep, err := n.store.openReplica(internalKey(r), id)
		if err != nil {
			continue
		}
		out[id] = rep.sum
		rep.Close()
	}
	writeJSON(w, out)
}

// sumsOn asks holder (this node included) for the checksums of shards.
func (n *Node) sumsOn(ctx context.Context, holder, ds string, shards []string) (map[string]shardSum, error) {
	if holder == n.name {
		out := map[string]shardSum{}
		for _, id := range shards {
			if rep, err := n.store.openReplica(ds, id); err == nil {
				out[id] = rep.sum
				rep.Close()
			}
		}
		return out, nil
	}
	m, ok := n.aliveMember(holder)
	if !ok {
		return nil, fmt.Errorf("%w: holder %s is not alive", errNotEnoughNodes, holder)
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	out := map[string]shardSum{}
	req, err := jsonRequest(ctx, http.MethodPost, n.peerURL(m, "/v1/internal/sums/"+ds), sumsRequest{Shards: shards})
	if err == nil {
		err = n.do(req, &out)
	}
	if err != nil {
		return nil, fmt.Errorf("ask %s for the checksums of %s: %w", holder, ds, err)
	}
	return out, nil
}

// settleSums fills every shard's size and CRC from what its holders
// stored, never from what a client claims, and refuses a manifest naming a
// holder that does not hold the shard or holders that disagree.
func (n *Node) settleSums(ctx context.Context, m *Manifest) error {
	byHolder := map[string][]string{}
	for _, s := range m.Shards {
		for _, h := range s.Holders {
			byHolder[h] = append(byHolder[h], s.ID)
		}
	}
	sums := map[string]map[string]shardSum{}
	var mu sync.Mutex
	var errs []error
	var wg sync.WaitGroup
	for h, ids := range byHolder {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got, err := n.sumsOn(ctx, h, m.Key(), ids)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
				return
			}
			sums[h] = got
		}()
	}
	wg.Wait()
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	for i := range m.Shards {
		s := &m.Shards[i]
		if len(s.Holders) == 0 {
			return fmt.Errorf("%w: shard %s of %s has no holders", errBadRequest, s.ID, m.Name)
		}
		var first *shardSum
		for _, h := range s.Holders {
			got, ok := sums[h][s.ID]
			if !ok {
				return fmt.Errorf("%w: shard %s of %s is not stored on node %s (was its upload finished?)", errBadRequest, s.ID, m.Name, h)
			}
			if first == nil {
				first = &got
			} else if got.Length != first.Length || got.CRC != first.CRC {
				return fmt.Errorf("%w: the replicas of shard %s of %s differ (%d bytes, CRC-32C %08x on %s; %d bytes, %08x on %s)",
					errCorrupt, s.ID, m.Name, first.Length, first.CRC, s.Holders[0], got.Length, got.CRC, h)
			}
		}
		s.Size, s.CRC = first.Length, first.CRC
	}
	return nil
}

// jsonRequest builds a request with v as its JSON body.
func jsonRequest(ctx context.Context, method, u string, v any) (*http.Request, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, method, u, bytes.NewReader(b))
	if err == nil {
		req.Header.Set("Content-Type", "application/json")
	}
	return req, err
}
