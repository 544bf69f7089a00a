package nodes

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/wmr-dev/wmr/engine/worker"
)

// workerCredential decides the user worker processes run as. A node
// running as root with tenants runs their modules in worker processes of
// an unprivileged user (--worker-user), or refuses to start unless told
// to accept root workers (--allow-root-workers): a module that escaped
// wazero and the seccomp filter would otherwise hold root.
func workerCredential(cfg Config, secure bool, log *slog.Logger) (*syscall.Credential, error) {
	root := os.Geteuid() == 0
	if cfg.WorkerUser == "" {
		if root && secure && !cfg.AllowRootWorkers {
			return nil, errors.New("this node runs as root with tenants, so tenants' modules would run in worker processes that are root: " +
				"give --worker-user USER (an unprivileged user, such as a dedicated wmr-worker or nobody), or --allow-root-workers to accept that")
		}
		if root && secure {
			log.Warn("worker processes run as root (--allow-root-workers): a module that escaped the sandbox would hold root; prefer --worker-user")
		}
		return nil, nil
	}
	if !root {
		return nil, fmt.Errorf("--worker-user %s needs the node to run as root, to start workers as that user (this node runs as uid %d)", cfg.WorkerUser, os.Geteuid())
	}
	u, err := lookupUser(cfg.WorkerUser)
	if err != nil {
		return nil, fmt.Errorf("--worker-user: %w", err)
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err1 != nil || err2 != nil {
		return nil, fmt.Errorf("--worker-user %s: uid %q, gid %q are not numbers", cfg.WorkerUser, u.Uid, u.Gid)
	}
	if uid == 0 || gid == 0 {
		return nil, fmt.Errorf("--worker-user %s is root (uid %d, gid %d): give an unprivileged user", cfg.WorkerUser, uid, gid)
	}
	cred := &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)} // no supplementary groups
	exe, err := worker.Executable()
	if err != nil {
		return nil, err
	}
	for _, need := range []struct {
		path string
		bits os.FileMode // what the user needs on the path itself
		what string
	}{{exe, 0o1, "the wmr executable, which worker processes run"}, {cfg.DataDir, 0o1, "the data directory, where workers read inputs and write task outputs"}} {
		if err := reachable(need.path, need.bits, cred); err != nil {
			return nil, fmt.Errorf("--worker-user %s cannot reach %s (%s): %w; make it and the directories above it searchable by that user (chmod o+x)",
				cfg.WorkerUser, need.path, need.what, err)
		}
	}
	log.Info("worker processes run as an unprivileged user", "user", u.Username, "uid", uid, "gid", gid)
	return cred, nil
}

// lookupUser finds a user by name, or by number.
func lookupUser(name string) (*user.User, error) {
	u, err := user.Lookup(name)
	if err != nil {
		if _, nerr := strconv.Atoi(name); nerr == nil {
			return user.LookupId(name)
		}
	}
	return u, err
}

// reachable checks that cred may search every directory on the way to
// path and has bits (as "other" bits: 1 search/execute, 4 read) on path
// itself, by the permission bits (owner, group, other; ACLs aside).
func reachable(path string, bits os.FileMode, cred *syscall.Credential) error {
	abs, err := filepath.Abs(path)
	if err != nil {
		return err
	}
	allowed := func(p string, want os.FileMode) error {
		info, err := os.Stat(p)
		if err != nil {
			return err
		}
		st, ok := info.Sys().(*syscall.Stat_t)
		if !ok {
			return nil
		}
		perm := info.Mode().Perm()
		have := perm & 0o7
		switch {
		case st.Uid == cred.Uid:
			have = perm >> 6 & 0o7
		case st.Gid == cred.Gid:
			have = perm >> 3 & 0o7
		}
		if have&want != want {
			return fmt.Errorf("%s is mode %v, owner %d, group %d", p, perm, st.Uid, st.Gid)
		}
		return nil
	}
	parts := strings.Split(abs, string(filepath.Separator))
	for i := 1; i < len(parts); i++ {
		dir := string(filepath.Separator) + filepath.Join(parts[1:i]...)
		if err := allowed(dir, 0o1); err != nil {
			return err
		}
	}
	return allowed(abs, bits)
}

// forWorkers gives worker processes (when they run as another user) the
// directory they write a task's files into: owned by that user.
func (n *Node) forWorkers(dirs ...string) error {
	c := n.engine.Config().WorkerCredential
	if c == nil {
		return nil
	}
	for _, d := range dirs {
		if err := os.Chown(d, int(c.Uid), int(c.Gid)); err != nil {
			return err
		}
	}
	return nil
}

// readableByWorkers lets worker processes (when they run as another user)
// read a shard file this node stored (stored for the node's user only):
// group-readable by the workers' group, not by every local user. A file
// published in place (a link) is the operator's, left as it is.
func (n *Node) readableByWorkers(path string) error {
	c := n.engine.Config().WorkerCredential
	if c == nil || !strings.HasPrefix(path, filepath.Join(n.cfg.DataDir, "shards")+string(filepath.Separator)) {
		return nil
	}
	info, err := os.Stat(path)
	if err != nil {
		return err
	}
	if st, ok := info.Sys().(*syscall.Stat_t); ok && st.Gid == c.Gid && info.Mode().Perm()&0o040 != 0 {
		return nil
	}
	if err := os.Chown(path, -1, int(c.Gid)); err != nil {
		return err
	}
	return os.Chmod(path, info.Mode().Perm()|0o040)
}
