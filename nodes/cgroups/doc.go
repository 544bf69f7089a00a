// Package cgroups gives each tenant's worker processes on a node a
// control group of their own, so the kernel shares CPU between tenants by
// weight (not by task slots) and caps the memory of all of a tenant's
// workers together.
//
// Open detects what the machine allows, in this order:
//   - cgroup v2, where the unified hierarchy delegates the cpu and memory
//     controllers to the node's own cgroup (cpu.weight, memory.max,
//     memory.events, cpu.stat);
//   - cgroup v1, where the cpu and memory hierarchies (and cpuacct, for
//     accounting, if mounted apart) accept a child of the node's own
//     cgroup (cpu.shares, memory.limit_in_bytes, memory.oom_control,
//     cpuacct.usage).
//
// Under the node's cgroup in each hierarchy it makes wmr/t-TENANT/NODE-PID:
// a group per tenant, shared by the nodes started from the same cgroup
// (several on one machine), with the tenant's CPU weight, and in it the
// node's own group with the tenant's workers there and its memory cap.
// The machine's CPU is so shared between tenants, not between nodes.
// Neither usable is an error that says why; the node then runs workers as
// before (fair share by slots).
package cgroups
