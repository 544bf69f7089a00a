package nodes

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"time"
)

// secrets are what a node loaded from its secrets directory.
type secrets struct {
	ca     *x509.CertPool
	cert   tls.Certificate
	gossip [][]byte // the first encrypts
}

// loadSecrets reads a node secrets directory made by `wmr ca issue`.
// Gossip keys saved in the data directory by a rotation take precedence
// over the ones issued with the certificate.
func loadSecrets(dir, dataDir string) (*secrets, error) {
	caPEM, err := os.ReadFile(filepath.Join(dir, caCertFile))
	if err != nil {
		return nil, fmt.Errorf("secrets directory %s (make it with 'wmr ca issue'): %w", dir, err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, fmt.Errorf("secrets directory %s: ca.crt holds no certificate", dir)
	}
	cert, err := tls.LoadX509KeyPair(filepath.Join(dir, nodeCertFile), filepath.Join(dir, nodeKeyFile))
	if err != nil {
		return nil, fmt.Errorf("secrets directory %s: node certificate: %w", dir, err)
	}
	keysPath := filepath.Join(dataDir, gossipKeysFile)
	kb, err := os.ReadFile(keysPath)
	if errors.Is(err, os.ErrNotExist) {
		keysPath = filepath.Join(dir, gossipKeysFile)
		kb, err = os.ReadFile(keysPath)
	}
	if err != nil {
		return nil, fmt.Errorf("gossip keys: %w", err)
	}
	keys, err := parseGossipKeys(kb)
	if err != nil {
		return nil, fmt.Errorf("gossip keys in %s: %w", keysPath, err)
	}
	return &secrets{ca: pool, cert: cert, gossip: keys}, nil
}

// serverTLS accepts any client (clients use tokens) but verifies a client
// certificate when one is offered, so peers can prove they are nodes.
func (s *secrets) serverTLS() *tls.Config {
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{s.cert},
		ClientAuth:   tls.VerifyClientCertIfGiven,
		ClientCAs:    s.ca,
	}
}

// peerTLS is for calls to other nodes: their certificate must chain to the
// cluster CA, and ours goes along.
func (s *secrets) peerTLS() *tls.Config {
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{s.cert},
		RootCAs:      s.ca,
	}
}

// fromNode says whether r came from a cluster node: over TLS, with a
// client certificate that chains to the cluster CA and is marked as a node
// certificate.
func fromNode(r *http.Request) bool {
	if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 || len(r.TLS.VerifiedChains[0]) == 0 {
		return false
	}
	return slices.Contains(r.TLS.VerifiedChains[0][0].Subject.OrganizationalUnit, nodeOU)
}

// peerClient is the HTTP client for calls to other nodes. Connecting and
// the TLS handshake are bounded here; each call bounds the rest (small
// calls by a timeout on their context, streams by stallTimeout between
// reads, task calls by the peer's departure; see whileAlive).
func peerClient(s *secrets) *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.DialContext = (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 15 * time.Second}).DialContext
	t.TLSHandshakeTimeout = 10 * time.Second
	t.MaxIdleConnsPerHost = 16
	if s != nil {
		t.TLSClientConfig = s.peerTLS()
	}
	return &http.Client{Transport: t}
}

// isLoopback says whether every address binds to the loopback interface.
func isLoopback(addrs ...string) bool {
	for _, a := range addrs {
		host, _, err := net.SplitHostPort(a)
		if err != nil {
			return false
		}
		ip := net.ParseIP(host)
		if host != "localhost" && (ip == nil || !ip.IsLoopback()) {
			return false
		}
	}
	return true
}

// devModeWarning is logged (and printed by the CLI) when a node runs
// without secrets.
const devModeWarning = "INSECURE DEV MODE: no --secrets given, so gossip is not encrypted, " +
	"node-to-node and client HTTP is plain text and any process that can reach the ports can join or call internal APIs; " +
	"allowed only on loopback. Make secrets with 'wmr ca init' and 'wmr ca issue'"
