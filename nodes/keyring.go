package nodes

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
)

// Gossip key rotation, as Consul and Serf do it: install the new key on
// every node, make it the primary (the one that encrypts) everywhere, then
// remove the old one. Each step is one admin call to any node, which
// applies it to itself and to every live member; each node keeps its
// keyring in DataDir/gossip.keys so a restart keeps the rotated keys.

// KeyringRequest is one rotation step.
type KeyringRequest struct {
	Op  string `json:"op"`  // install, use or remove
	Key string `json:"key"` // base64
}

// KeyringResult is what each node answered.
type KeyringResult struct {
	Nodes map[string]string `json:"nodes"` // node -> "ok" or its error
	// Primary is the fingerprint (SHA-256 prefix) of the coordinator's
	// primary key after the step.
	Primary string `json:"primary"`
}

var errNoKeyring = errors.New("this node runs without secrets, so gossip has no keyring to change")

// KeyFingerprint names a key in messages without revealing it.
func KeyFingerprint(key []byte) string {
	h := sha256.Sum256(key)
	return hex.EncodeToString(h[:6])
}

// applyKeyring decodes one step from the request body, performs it on this
// node's keyring and saves the keyring; it answers the request itself on
// failure. It returns the step and the key's fingerprint.
func (n *Node) applyKeyring(w http.ResponseWriter, r *http.Request) (KeyringRequest, string, bool) {
	var req KeyringRequest
	err := decodeJSON(w, r, &req)
	var fp string
	if err == nil {
		fp, err = n.changeKeyring(req)
	}
	if err != nil {
		n.audit(r, "keyring."+req.Op, fp, err)
		writeError(w, statusOf(err), err)
		return req, fp, false
	}
	return req, fp, true
}

func (n *Node) changeKeyring(req KeyringRequest) (string, error) {
	if n.keyring == nil {
		return "", errNoKeyring
	}
	key, err := decodeGossipKey(req.Key)
	if err != nil {
		return "", fmt.Errorf("%w: %w", errBadRequest, err)
	}
	fp := KeyFingerprint(key)
	n.keysMu.Lock()
	defer n.keysMu.Unlock()
	switch req.Op {
	case "install":
		err = n.keyring.AddKey(key)
	case "use":
		err = n.keyring.UseKey(key)
	case "remove":
		err = n.keyring.RemoveKey(key)
	default:
		return fp, fmt.Errorf("%w: keyring op %q: use install, use or remove", errBadRequest, req.Op)
	}
	if err != nil {
		return fp, fmt.Errorf("%w: %s key %s: %w", errBadRequest, req.Op, fp, err)
	}
	primary := n.keyring.GetPrimaryKey()
	var b strings.Builder
	b.WriteString(base64.StdEncoding.EncodeToString(primary) + "\n")
	for _, k := range n.keyring.GetKeys() {
		if !bytes.Equal(k, primary) {
			b.WriteString(base64.StdEncoding.EncodeToString(k) + "\n")
		}
	}
	tmp := filepath.Join(n.cfg.DataDir, gossipKeysFile+".tmp")
	if err := os.WriteFile(tmp, []byte(b.String()), 0o600); err != nil {
		return fp, err
	}
	n.log.Info("gossip keyring changed", "op", req.Op, "key", fp, "primary", KeyFingerprint(primary))
	return fp, os.Rename(tmp, filepath.Join(n.cfg.DataDir, gossipKeysFile))
}

// handleKeyring applies a rotation step here and on every live member.
func (n *Node) handleKeyring(w http.ResponseWriter, r *http.Request) {
	req, fp, ok := n.applyKeyring(w, r)
	if !ok {
		return
	}
	res := KeyringResult{Nodes: map[string]string{n.name: "ok"}, Primary: KeyFingerprint(n.keyring.GetPrimaryKey())}
	b, _ := json.Marshal(req)
	for _, m := range n.alive() {
		if m.Name == n.name {
			continue
		}
		preq, err := http.NewRequestWithContext(r.Context(), http.MethodPost, n.peerURL(m, "/v1/internal/gossip-keys"), bytes.NewReader(b))
		if err == nil {
			err = n.doSmall(preq, nil)
		}
		res.Nodes[m.Name] = "ok"
		if err != nil {
			res.Nodes[m.Name] = err.Error()
		}
	}
	n.audit(r, "keyring."+req.Op, fp, nil)
	writeJSON(w, res)
}

// handlePeerKeyring applies a step a peer forwarded.
func (n *Node) handlePeerKeyring(w http.ResponseWriter, r *http.Request) {
	if _, _, ok := n.applyKeyring(w, r); ok {
		writeJSON(w, map[string]string{"ok": n.name})
	}
}

// RotateGossipKey is the client side of one rotation step.
func (c *Client) RotateGossipKey(ctx context.Context, op, key string) (*KeyringResult, error) {
	b, _ := json.Marshal(KeyringRequest{Op: op, Key: key})
	var res KeyringResult
	return &res, c.do(ctx, http.MethodPost, "/v1/admin/gossip-keys", bytes.NewReader(b), &res)
}
