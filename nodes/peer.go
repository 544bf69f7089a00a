package nodes

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"
)

// Calls from this node to a peer's HTTP API.

func (n *Node) peerURL(m Member, path string) string { return n.addrURL(m.HTTP, path) }

// addrURL is the URL of path on the node whose HTTP API is at addr: https
// when the cluster has secrets (every node then serves TLS).
func (n *Node) addrURL(addr, path string) string {
	if n.sec != nil {
		return "https://" + addr + path
	}
	return "http://" + addr + path
}

func (n *Node) putManifest(ctx context.Context, m Member, man *Manifest) error {
	b, err := json.Marshal(man)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, n.peerURL(m, "/v1/internal/manifests/"+man.Key()), bytes.NewReader(b))
	if err != nil {
		return err
	}
	return n.do(req, nil)
}

// smallCall bounds a node-to-node call that moves little data (status,
// lists, keys): a hung peer must not hold the caller.
const smallCall = 15 * time.Second

// doSmall is do for a small call, within smallCall.
func (n *Node) doSmall(req *http.Request, out any) error {
	ctx, cancel := context.WithTimeout(req.Context(), smallCall)
	defer cancel()
	return n.do(req.WithContext(ctx), out)
}

func (n *Node) do(req *http.Request, out any) error {
	resp, err := n.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return &peerError{status: resp.StatusCode, msg: responseError(resp)}
	}
	if out != nil {
		return json.NewDecoder(resp.Body).Decode(out)
	}
	io.Copy(io.Discard, resp.Body)
	return nil
}

// stallTimeout is how long a stream from a peer may go without a byte
// before the call is abandoned (a hung or partitioned peer).
const stallTimeout = 60 * time.Second

// stallGuard is a response body whose request is cancelled when no byte
// arrives for stallTimeout.
type stallGuard struct {
	io.ReadCloser
	timer  *time.Timer
	cancel context.CancelFunc
}

// guardStream ties body to cancel, its request's: a stall cancels the
// request, and so does Close.
func guardStream(body io.ReadCloser, cancel context.CancelFunc) io.ReadCloser {
	return &stallGuard{ReadCloser: body, timer: time.AfterFunc(stallTimeout, cancel), cancel: cancel}
}

func (g *stallGuard) Read(p []byte) (int, error) {
	n, err := g.ReadCloser.Read(p)
	g.timer.Reset(stallTimeout)
	return n, err
}

func (g *stallGuard) Close() error {
	g.timer.Stop()
	err := g.ReadCloser.Close()
	g.cancel()
	return err
}

// peerError is a peer's answer that was not a success: the peer is there
// and said why (unlike a failed connection).
type peerError struct {
	status int
	msg    string
}

func (e *peerError) Error() string { return e.msg }

// responseError extracts the error message of an API error response.
func responseError(resp *http.Response) string {
	var e apiError
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if json.Unmarshal(b, &e) == nil && e.Error != "" {
		return e.Error
	}
	return fmt.Sprintf("%s: %s", resp.Status, bytes.TrimSpace(b))
}
