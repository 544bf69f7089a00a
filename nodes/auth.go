package nodes

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
)

// Who is calling: every request is either a tenant's (a token) or a
// peer node's (a cluster certificate, for /v1/internal/). Without a
// tenants file every caller is the admin tenant "default".

type callerKey struct{}

// defaultTenant is every caller in a node without a tenants file.
var defaultTenant = &Tenant{Name: DefaultTenant, Admin: true}

// tenantOf returns the tenant a public API request was authenticated as.
func tenantOf(r *http.Request) *Tenant {
	if t, ok := r.Context().Value(callerKey{}).(*Tenant); ok {
		return t
	}
	return nil
}

var (
	errForbidden  = errors.New("forbidden")
	errBadRequest = errors.New("bad request")
	errQuota      = errors.New("quota exceeded")
	errUnknownJob = errors.New("unknown job")
	errExists     = errors.New("already exists")
	errJobEnded   = errors.New("job already ended")
	// errCancelled ends a job its user cancelled.
	errCancelled = errors.New("cancelled by its user")
	// errSuperseded stops a coordinator's run of a job that a successor
	// took over while it was cut off (a partition): the job is theirs.
	errSuperseded    = errors.New("taken over by a successor")
	errTooLarge      = errors.New("too large")
	errUnknownTenant = errors.New("unknown tenant")
)

// authorize authenticates every request before it reaches a handler:
// /v1/internal/ only for nodes, /v1/admin/ only for admin tenants, the
// rest for any tenant with a valid token.
func (n *Node) authorize(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/v1/internal/") {
			if n.sec != nil && !fromNode(r) {
				n.audit(r, "internal.refused", r.URL.Path, errForbidden)
				n.metrics.refused("node")
				writeError(w, http.StatusForbidden, fmt.Errorf("%w: %s is for cluster nodes only (a client certificate from the cluster CA is required)", errForbidden, r.URL.Path))
				return
			}
			h.ServeHTTP(w, r)
			return
		}
		t := defaultTenant
		if n.tenants != nil {
			token, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
			var err error
			if t, err = n.tenants.authenticate(strings.TrimSpace(token)); err != nil {
				n.audit(r, "auth.refused", r.URL.Path, err)
				n.metrics.refused("token")
				w.Header().Set("WWW-Authenticate", `Bearer realm="wmr"`)
				writeError(w, http.StatusUnauthorized, err)
				return
			}
		}
		if strings.HasPrefix(r.URL.Path, "/v1/admin/") && !t.Admin {
			n.audit(r.WithContext(context.WithValue(r.Context(), callerKey{}, t)), "admin.refused", r.URL.Path, errForbidden)
			n.metrics.refused("admin")
			writeError(w, http.StatusForbidden, fmt.Errorf("%w: %s needs an admin tenant; %s is not one", errForbidden, r.URL.Path, t.Name))
			return
		}
		h.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), callerKey{}, t)))
	})
}

// tenantFor resolves the tenant a peer names in an internal call made on
// a tenant's behalf.
func (n *Node) tenantFor(name string) (*Tenant, error) {
	if n.tenants == nil {
		if name == DefaultTenant {
			return defaultTenant, nil
		}
	} else if t, ok := n.tenants.lookup(name); ok {
		return t, nil
	}
	return nil, fmt.Errorf("%w %q", errUnknownTenant, name)
}

// qualify turns a dataset name as a tenant wrote it into the catalog key
// TENANT/NAME. Admins may name any tenant's dataset as TENANT/NAME.
func qualify(t *Tenant, name string) (string, error) {
	if tn, ds, ok := strings.Cut(name, "/"); ok && t.Admin {
		if err := errors.Join(ValidName("tenant", tn), ValidName("dataset", ds)); err != nil {
			return "", err
		}
		return name, nil
	}
	if err := ValidName("dataset", name); err != nil {
		return "", err
	}
	return t.Name + "/" + name, nil
}

// splitQualified splits a catalog key into tenant and dataset, checking
// both (a key arriving from a peer is checked as strictly as a user's).
func splitQualified(key string) (tenant, dataset string, err error) {
	tenant, dataset, ok := strings.Cut(key, "/")
	if !ok {
		return "", "", fmt.Errorf("%w: dataset key %q lacks its tenant", ErrBadName, key)
	}
	if err := errors.Join(ValidName("tenant", tenant), ValidName("dataset", dataset)); err != nil {
		return "", "", err
	}
	return tenant, dataset, nil
}

// visible says whether t may see a thing owned by owner.
func visible(t *Tenant, owner string) bool { return t != nil && (t.Admin || t.Name == owner) }

// decodeJSON reads a size-limited JSON request body into v, refusing
// unknown fields and trailing data, with an error worded for the caller.
func decodeJSON(w http.ResponseWriter, r *http.Request, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxJSONBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return fmt.Errorf("%w: request body larger than %d bytes", errTooLarge, mbe.Limit)
		}
		return fmt.Errorf("%w: malformed JSON body: %w", errBadRequest, err)
	}
	if dec.More() {
		return fmt.Errorf("%w: trailing data after the JSON body", errBadRequest)
	}
	return nil
}

// audit records who did what to which thing, and how it ended, in the
// audit log (JSON lines).
func (n *Node) audit(r *http.Request, action, target string, err error) {
	who := "-"
	if t := tenantOf(r); t != nil {
		who = t.Name
	} else if fromNode(r) {
		who = "node:" + r.TLS.VerifiedChains[0][0].Subject.CommonName
	}
	outcome := "ok"
	if err != nil {
		outcome = err.Error()
	}
	n.auditLog.LogAttrs(context.Background(), slog.LevelInfo, action,
		slog.String("tenant", who), slog.String("target", target), slog.String("outcome", outcome),
		slog.String("remote", r.RemoteAddr), slog.String("node", n.name))
}
