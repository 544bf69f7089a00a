package nodes

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/wmr-dev/wmr/internal/units"
	"github.com/wmr-dev/wmr/nodes/cgroups"
)

// TenantsFile is the tenants file every node is given (--tenants): who may
// call the API, with which tokens, within which quotas. Tokens are stored
// as SHA-256 hashes ("sha256:HEX"), so the file reveals none of them.
//
//	{"tenants": [
//	  {"name": "ops", "admin": true, "tokens": ["sha256:..."]},
//	  {"name": "alice", "tokens": ["sha256:..."],
//	   "quotas": {"concurrent_tasks": 2, "task_memory": "128MiB", "task_time": "5m",
//	              "stored_bytes": "10GiB", "module_size": "16MiB", "jobs": 4}}
//	]}
type TenantsFile struct {
	Tenants []Tenant `json:"tenants"`
}

// Tenant is one team sharing the cluster. Its datasets, modules and jobs
// live in its own namespace.
type Tenant struct {
	Name string `json:"name"`
	// Admin tenants see every tenant's things (naming them TENANT/NAME)
	// and may run cluster operations such as gossip key rotation.
	Admin  bool     `json:"admin,omitempty"`
	Tokens []string `json:"tokens"`
	Quotas Quotas   `json:"quotas,omitzero"`
}

// Quotas limit a tenant; zero means no limit beyond the node's own.
type Quotas struct {
	// ConcurrentTasks is how many of the tenant's tasks one node runs at
	// once.
	ConcurrentTasks int `json:"concurrent_tasks,omitempty"`
	// TaskMemory and TaskTime cap each task's module memory and wall
	// clock; a job may ask for less, never more.
	TaskMemory Size     `json:"task_memory,omitempty"`
	TaskTime   Duration `json:"task_time,omitempty"`
	// TaskOutput caps what one task's module may emit.
	TaskOutput Size `json:"task_output,omitempty"`
	// StoredBytes caps the tenant's datasets (every replica counted).
	StoredBytes Size `json:"stored_bytes,omitempty"`
	// ModuleSize caps one uploaded module.
	ModuleSize Size `json:"module_size,omitempty"`
	// Jobs caps the tenant's jobs running at once, cluster-wide.
	Jobs int `json:"jobs,omitempty"`
	// CPUWeight shares each node's CPU between tenants with runnable work
	// in proportion (1 to 10000; 0: 100, the same for every tenant), and
	// Memory caps the sum of the tenant's worker processes' memory on
	// each node. Both need cgroups (see nodes/cgroups); without them
	// tenants share a node by task slots only.
	CPUWeight int  `json:"cpu_weight,omitempty"`
	Memory    Size `json:"memory,omitempty"`
	// CPUMax caps the tenant's workers' CPU time on each machine, in CPUs
	// (0.5: half of one CPU), even when the CPUs are otherwise idle: for a
	// tenant whose work must never slow the others, at the price of its
	// own speed (0: no cap, the weight alone shares). Needs cgroups.
	CPUMax float64 `json:"cpu_max,omitempty"`
}

// Size is a byte count written as a number or with a unit ("16MiB").
type Size int64

func (s *Size) UnmarshalJSON(b []byte) error {
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	switch v := v.(type) {
	case float64:
		*s = Size(v)
	case string:
		n, err := units.ParseSize(v)
		if err != nil {
			return err
		}
		*s = Size(n)
	default:
		return fmt.Errorf("a size must be a number of bytes or a string like \"16MiB\", not %s", b)
	}
	return nil
}

// Duration is a time span written as a Go duration string ("5m", "90s").
type Duration time.Duration

func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("a duration must be a string like \"5m\": %w", err)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// DefaultTenant is the tenant of every caller when the node has no
// tenants file (dev mode): it owns everything and is an admin.
const DefaultTenant = "default"

// TokenPrefix starts every token wmr makes, so leaked tokens are easy to
// find with secret scanners.
const TokenPrefix = "wmr_"

// NewToken returns a random API token and the hash to store for it.
func NewToken() (token, hash string) {
	var b [32]byte
	rand.Read(b[:])
	token = TokenPrefix + base64.RawURLEncoding.EncodeToString(b[:])
	return token, HashToken(token)
}

// HashToken is the form a token is stored in.
func HashToken(token string) string {
	h := sha256.Sum256([]byte(token))
	return "sha256:" + hex.EncodeToString(h[:])
}

// ParseTenants reads and checks a tenants file's contents.
func ParseTenants(b []byte) (*TenantsFile, error) {
	var f TenantsFile
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("tenants file: %w", err)
	}
	seen := map[string]bool{}
	tokens := map[string]string{}
	for _, t := range f.Tenants {
		if err := ValidName("tenant", t.Name); err != nil {
			return nil, fmt.Errorf("tenants file: %w", err)
		}
		if seen[t.Name] {
			return nil, fmt.Errorf("tenants file: tenant %q appears twice", t.Name)
		}
		seen[t.Name] = true
		for _, h := range t.Tokens {
			hexPart, ok := strings.CutPrefix(h, "sha256:")
			if raw, err := hex.DecodeString(hexPart); !ok || err != nil || len(raw) != sha256.Size {
				return nil, fmt.Errorf("tenants file: tenant %s: token %q is not a stored hash (sha256:HEX, as 'wmr tenants add' writes)", t.Name, short(h))
			}
			if other, dup := tokens[h]; dup {
				return nil, fmt.Errorf("tenants file: tenants %s and %s share a token", other, t.Name)
			}
			tokens[h] = t.Name
		}
		q := t.Quotas
		if q.ConcurrentTasks < 0 || q.TaskMemory < 0 || q.TaskTime < 0 || q.TaskOutput < 0 || q.StoredBytes < 0 || q.ModuleSize < 0 || q.Jobs < 0 || q.Memory < 0 {
			return nil, fmt.Errorf("tenants file: tenant %s: quotas must not be negative", t.Name)
		}
		if q.CPUWeight < 0 || q.CPUWeight > 10000 {
			return nil, fmt.Errorf("tenants file: tenant %s: cpu_weight %d must be 1 to 10000 (100 is the default share)", t.Name, q.CPUWeight)
		}
		if q.CPUMax < 0 || (q.CPUMax > 0 && q.CPUMax < cgroups.MinCPUMax) || q.CPUMax > 1024 {
			return nil, fmt.Errorf("tenants file: tenant %s: cpu_max %g must be 0 (no cap) or %g to 1024 CPUs", t.Name, q.CPUMax, cgroups.MinCPUMax)
		}
		if q.Memory > 0 && q.Memory < 32<<20 {
			return nil, fmt.Errorf("tenants file: tenant %s: memory %d is below 32MiB, less than one worker process needs", t.Name, q.Memory)
		}
	}
	return &f, nil
}

func short(s string) string {
	if len(s) > 16 {
		return s[:16] + "..."
	}
	return s
}

// tenants resolves tokens to tenants. It re-reads the file when it
// changes (checked at most once a second), so adding a tenant or rotating
// a token needs no restart.
type tenants struct {
	path string
	mu   sync.Mutex
	byID map[string]*Tenant // token hash -> tenant
	all  map[string]*Tenant
	mod  time.Time
	seen time.Time // last check of the file's modification time
	// warn reports a changed file that cannot be used.
	warn func(err error)
}

func loadTenants(path string, warn func(error)) (*tenants, error) {
	t := &tenants{path: path, warn: warn}
	if err := t.reload(); err != nil {
		return nil, err
	}
	return t, nil
}

func (t *tenants) reload() error {
	st, err := os.Stat(t.path)
	if err != nil {
		return fmt.Errorf("tenants file: %w", err)
	}
	b, err := os.ReadFile(t.path)
	if err != nil {
		return fmt.Errorf("tenants file: %w", err)
	}
	f, err := ParseTenants(b)
	if err != nil {
		return err
	}
	byID, all := map[string]*Tenant{}, map[string]*Tenant{}
	for i := range f.Tenants {
		tn := &f.Tenants[i]
		all[tn.Name] = tn
		for _, h := range tn.Tokens {
			byID[h] = tn
		}
	}
	t.byID, t.all, t.mod = byID, all, st.ModTime()
	return nil
}

// errUnauthenticated: no token, or one no tenant holds.
var errUnauthenticated = errors.New("unauthenticated")

// authenticate returns the tenant holding token.
func (t *tenants) authenticate(token string) (*Tenant, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if now := time.Now(); now.Sub(t.seen) > time.Second {
		t.seen = now
		if st, err := os.Stat(t.path); err == nil && !st.ModTime().Equal(t.mod) {
			if err := t.reload(); err != nil {
				// Keep serving with the last good file; say so once.
				t.mod = st.ModTime()
				if t.warn != nil {
					t.warn(err)
				}
			}
		}
	}
	if token == "" {
		return nil, fmt.Errorf("%w: this cluster needs a token (--token, WMR_TOKEN or the config file)", errUnauthenticated)
	}
	// A map lookup by hash leaks nothing a caller could use: timing can
	// only reveal hashes, not tokens.
	if tn, ok := t.byID[HashToken(token)]; ok {
		return tn, nil
	}
	return nil, fmt.Errorf("%w: the token is not valid on this cluster", errUnauthenticated)
}

// lookup returns a tenant by name (for work that peers run on a tenant's
// behalf).
func (t *tenants) lookup(name string) (*Tenant, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	tn, ok := t.all[name]
	return tn, ok
}
