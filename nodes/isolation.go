package nodes

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"runtime"

	"github.com/wmr-dev/wmr/engine/wasmhost"
	"github.com/wmr-dev/wmr/nodes/cgroups"
	"golang.org/x/sys/unix"
)

// tenantGroups puts each tenant's worker processes in the tenant's
// cgroup with the limits of the tenants file as it is when the worker
// starts (a changed weight or limit applies from the tenant's next
// worker on). It is the engine's worker.Placer.
type tenantGroups struct {
	m       *cgroups.Manager
	tenants *tenants
}

func (g *tenantGroups) limits(name string) cgroups.Limits {
	t, ok := g.tenants.lookup(name)
	if !ok {
		return cgroups.Limits{}
	}
	return cgroups.Limits{CPUWeight: t.Quotas.CPUWeight, Memory: int64(t.Quotas.Memory), CPUMax: t.Quotas.CPUMax}
}

func (g *tenantGroups) Place(tenant string, pid int) error {
	if err := g.m.Set(tenant, g.limits(tenant)); err != nil {
		return err
	}
	return g.m.Place(tenant, pid)
}

func (g *tenantGroups) OOMKills(tenant string) int64 { return g.m.OOMKills(tenant) }

func (g *tenantGroups) LimitText(tenant string) string {
	l, _ := g.m.Limits(tenant)
	if l.Memory <= 0 {
		return fmt.Sprintf("tenant %s's memory limit on this node", tenant)
	}
	return fmt.Sprintf("tenant %s's memory limit of %s on this node (quota \"memory\" in the tenants file)", tenant, mib(l.Memory))
}

// runAsTenant runs fn on an OS thread of its own in tenant's CPU group,
// for CPU-heavy work the node does for a tenant (validating and compiling
// its module, seconds for a large Go module): it then competes at the
// tenant's cpu_weight, not at the node's, so a tenant uploading module
// after module slows itself, not the others. The thread is never handed
// back to the Go runtime (a goroutine that ends locked takes its thread
// with it), so nothing else ever runs in the tenant's group. Without
// cgroups, and on cgroup v2 (whole processes only), fn runs as is.
func (n *Node) runAsTenant(ctx context.Context, tenant string, fn func(ctx context.Context)) {
	g := n.groups
	if g == nil || g.m.Version() != 1 || ValidName("tenant", tenant) != nil {
		fn(ctx)
		return
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		lockOffMainThread() // never unlocked: see above
		err := g.m.Set(tenant, g.limits(tenant))
		if err == nil {
			err = g.m.PlaceThread(tenant, unix.Gettid())
		}
		if err != nil {
			n.log.Warn("could not move the node's work for a tenant into its cgroup", "tenant", tenant, "err", err)
			fn(ctx)
			return
		}
		fn(wasmhost.OnThisThread(ctx))
	}()
	<-done
}

// lockOffMainThread locks the goroutine to an OS thread other than the
// process's main one: Go parks (never ends) a main thread whose goroutine
// ends locked, and it must not stay in a tenant's group.
func lockOffMainThread() {
	for {
		runtime.LockOSThread()
		if unix.Gettid() != os.Getpid() {
			return
		}
		runtime.UnlockOSThread()
		runtime.Gosched()
	}
}

// openIsolation sets up per-tenant cgroups as cfg.Cgroups asks: nil
// (and a log line saying why) where there are no tenants, it is off, or
// the machine allows none and it is not required.
func openIsolation(cfg Config, name string, tn *tenants, log *slog.Logger) (*tenantGroups, error) {
	mode := cfg.Cgroups
	if mode == "" {
		mode = "auto"
	}
	switch mode {
	case "auto", "required", "off":
	default:
		return nil, fmt.Errorf("--cgroups must be auto, required or off, not %q", mode)
	}
	if tn == nil || mode == "off" {
		if mode == "required" {
			return nil, fmt.Errorf("--cgroups required needs tenants (--tenants): cgroups share a node between tenants")
		}
		return nil, nil
	}
	m, err := cgroups.Open(cgroups.Options{Name: name})
	if err != nil {
		if mode == "required" {
			return nil, fmt.Errorf("--cgroups required: %w", err)
		}
		log.Warn("tenant isolation: no usable cgroups, so tenants share this node by task slots only (CPU weights and memory quotas are not enforced)", "why", err)
		return nil, nil
	}
	log.Info("tenant isolation: each tenant's workers run in their own cgroup (CPU by cpu_weight and capped by cpu_max, memory capped by the memory quota)", "cgroups", m.String())
	return &tenantGroups{m: m, tenants: tn}, nil
}

// mib writes a byte count as the tenants file likely said it.
func mib(n int64) string {
	if n%(1<<20) == 0 {
		return fmt.Sprintf("%d MiB", n>>20)
	}
	return fmt.Sprintf("%d bytes", n)
}
