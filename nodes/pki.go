package nodes

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// The cluster's secrets, made by `wmr ca`. A CA directory holds:
//
//	ca.crt, ca.key   the cluster certificate authority (keep ca.key offline)
//	gossip.keys      memberlist keyring: base64 32-byte keys, one per line,
//	                 the first is the one used to encrypt
//
// A node's secrets directory (`wmr ca issue`) holds ca.crt, node.crt,
// node.key (signed by the CA, usable as server and client certificate) and
// a copy of gossip.keys. Nodes authenticate each other by certificates
// carrying nodeOU; everything else (clients) authenticates with tokens.
const (
	caCertFile     = "ca.crt"
	caKeyFile      = "ca.key"
	nodeCertFile   = "node.crt"
	nodeKeyFile    = "node.key"
	gossipKeysFile = "gossip.keys"
	// nodeOU marks node certificates: only they may call /v1/internal/.
	nodeOU = "wmr-node"
)

// CreateCA makes a new cluster CA and gossip key in dir (created if
// missing). It refuses to overwrite an existing CA.
func CreateCA(dir string) error {
	if _, err := os.Stat(filepath.Join(dir, caKeyFile)); err == nil {
		return fmt.Errorf("%s already holds a CA; remove it first to make a new one", dir)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "wmr cluster CA", Organization: []string{"wmr"}},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().AddDate(10, 0, 0),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return err
	}
	gk, err := NewGossipKey()
	if err != nil {
		return err
	}
	return errors.Join(
		writePEM(filepath.Join(dir, caKeyFile), "EC PRIVATE KEY", mustMarshalEC(key), 0o600),
		writePEM(filepath.Join(dir, caCertFile), "CERTIFICATE", der, 0o644),
		os.WriteFile(filepath.Join(dir, gossipKeysFile), []byte(gk+"\n"), 0o600))
}

// IssueNode signs a certificate for node name, valid for hosts (IP
// addresses or DNS names the node's HTTP API is reached at), and writes a
// node secrets directory out with the CA certificate and gossip keys.
func IssueNode(caDir, name string, hosts []string, out string) error {
	if err := ValidName("node", name); err != nil {
		return err
	}
	caCert, caKey, err := loadCA(caDir)
	if err != nil {
		return err
	}
	gossip, err := os.ReadFile(filepath.Join(caDir, gossipKeysFile))
	if err != nil {
		return fmt.Errorf("CA directory %s: %w", caDir, err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: name, Organization: []string{"wmr"}, OrganizationalUnit: []string{nodeOU}},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().AddDate(2, 0, 0),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		DNSNames:     []string{name},
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else if h != "" {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(out, 0o700); err != nil {
		return err
	}
	return errors.Join(
		writePEM(filepath.Join(out, nodeKeyFile), "EC PRIVATE KEY", mustMarshalEC(key), 0o600),
		writePEM(filepath.Join(out, nodeCertFile), "CERTIFICATE", der, 0o644),
		writePEM(filepath.Join(out, caCertFile), "CERTIFICATE", caCert.Raw, 0o644),
		os.WriteFile(filepath.Join(out, gossipKeysFile), gossip, 0o600))
}

// NewGossipKey returns a random 32-byte memberlist key (AES-256), base64.
func NewGossipKey() (string, error) {
	var k [32]byte
	if _, err := rand.Read(k[:]); err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(k[:]), nil
}

// parseGossipKeys reads a keyring file's lines: base64 keys of 16, 24 or
// 32 bytes; blank lines and # comments are skipped.
func parseGossipKeys(b []byte) ([][]byte, error) {
	var keys [][]byte
	for i, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, err := decodeGossipKey(line)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", i+1, err)
		}
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		return nil, errors.New("no keys")
	}
	return keys, nil
}

func decodeGossipKey(s string) ([]byte, error) {
	k, err := base64.StdEncoding.DecodeString(strings.TrimSpace(s))
	if err != nil {
		return nil, fmt.Errorf("gossip key is not base64: %w", err)
	}
	if l := len(k); l != 16 && l != 24 && l != 32 {
		return nil, fmt.Errorf("gossip key has %d bytes; it must have 16, 24 or 32", l)
	}
	return k, nil
}

func loadCA(dir string) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	certPEM, err := os.ReadFile(filepath.Join(dir, caCertFile))
	if err != nil {
		return nil, nil, fmt.Errorf("CA directory %s (make one with 'wmr ca init'): %w", dir, err)
	}
	keyPEM, err := os.ReadFile(filepath.Join(dir, caKeyFile))
	if err != nil {
		return nil, nil, fmt.Errorf("CA directory %s: %w", dir, err)
	}
	cb, _ := pem.Decode(certPEM)
	kb, _ := pem.Decode(keyPEM)
	if cb == nil || kb == nil {
		return nil, nil, fmt.Errorf("CA directory %s: ca.crt or ca.key is not PEM", dir)
	}
	cert, err := x509.ParseCertificate(cb.Bytes)
	if err != nil {
		return nil, nil, fmt.Errorf("CA certificate: %w", err)
	}
	key, err := x509.ParseECPrivateKey(kb.Bytes)
	if err != nil {
		return nil, nil, fmt.Errorf("CA key: %w", err)
	}
	return cert, key, nil
}

func serial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	return n
}

func mustMarshalEC(k *ecdsa.PrivateKey) []byte {
	b, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		panic(err) // only for keys this package generated
	}
	return b
}

func writePEM(path, typ string, der []byte, mode os.FileMode) error {
	return os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), mode)
}
