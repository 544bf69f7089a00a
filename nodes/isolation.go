package nodes

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/wmr-dev/wmr/engine"
	"github.com/wmr-dev/wmr/nodes/cgroups"
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

// stageAsTenant stages a tenant's module, its validation and compile
// (seconds of CPU for a large Go module) done in a process the kernel
// charges to the tenant at its cpu_weight (see cgroups' PlaceNodeWork),
// so a tenant uploading module after module slows itself, not the
// others. Without cgroups the node compiles it itself.
func (n *Node) stageAsTenant(ctx context.Context, tenant, name string, wasm []byte) (engine.ModuleRef, error) {
	g := n.groups
	if g == nil || ValidName("tenant", tenant) != nil {
		return n.engine.StageModule(ctx, name, wasm)
	}
	return n.engine.StageModuleIn(ctx, func(pid int) error {
		if err := g.m.Set(tenant, g.limits(tenant)); err != nil {
			return err
		}
		return g.m.PlaceNodeWork(tenant, pid)
	}, name, wasm)
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
