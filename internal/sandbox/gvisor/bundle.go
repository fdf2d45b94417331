//go:build linux

package gvisor

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"golang.org/x/sys/unix"

	"github.com/ember-serverless/ember/internal/sandbox"
	"github.com/ember-serverless/ember/internal/sandbox/seccomp"
)

// The subset of the OCI runtime specification (config.json) the backend writes.
type (
	ociSpec struct {
		Version  string     `json:"ociVersion"`
		Process  ociProcess `json:"process"`
		Root     ociRoot    `json:"root"`
		Hostname string     `json:"hostname"`
		Mounts   []ociMount `json:"mounts"`
		Linux    ociLinux   `json:"linux"`
	}
	ociProcess struct {
		User            ociUser    `json:"user"`
		Args            []string   `json:"args"`
		Env             []string   `json:"env"`
		Cwd             string     `json:"cwd"`
		Capabilities    ociCaps    `json:"capabilities"`
		Rlimits         []ociLimit `json:"rlimits"`
		NoNewPrivileges bool       `json:"noNewPrivileges"`
	}
	ociUser struct {
		UID int `json:"uid"`
		GID int `json:"gid"`
	}
	ociCaps struct {
		Bounding    []string `json:"bounding"`
		Effective   []string `json:"effective"`
		Inheritable []string `json:"inheritable"`
		Permitted   []string `json:"permitted"`
		Ambient     []string `json:"ambient"`
	}
	ociLimit struct {
		Type string `json:"type"`
		Hard uint64 `json:"hard"`
		Soft uint64 `json:"soft"`
	}
	ociRoot struct {
		Path     string `json:"path"`
		Readonly bool   `json:"readonly"`
	}
	ociMount struct {
		Destination string   `json:"destination"`
		Type        string   `json:"type"`
		Source      string   `json:"source"`
		Options     []string `json:"options,omitempty"`
	}
	ociLinux struct {
		Namespaces []ociNamespace `json:"namespaces"`
		Seccomp    *ociSeccomp    `json:"seccomp,omitempty"`
	}
	ociSeccomp struct {
		DefaultAction string       `json:"defaultAction"`
		Syscalls      []ociSyscall `json:"syscalls"`
	}
	ociSyscall struct {
		Names    []string `json:"names"`
		Action   string   `json:"action"`
		ErrnoRet *uint    `json:"errnoRet,omitempty"`
		Args     []ociArg `json:"args,omitempty"`
	}
	ociArg struct {
		Index    uint   `json:"index"`
		Value    uint64 `json:"value"`
		ValueTwo uint64 `json:"valueTwo"`
		Op       string `json:"op"`
	}
	ociNamespace struct {
		Type string `json:"type"`
	}
)

// bundle writes the sandbox's config.json into dir: the shared read-only root, the same
// layout as the jail's (host directories, generated /etc, /proc, /dev, a bounded /tmp, the
// code at /var/task, a layer at /opt, a managed runtime at /var/runtime), the shim at
// /.ember-init and the sandbox's own socket directory at /.ember.
func (b *Backend) bundle(dir string, spec sandbox.Spec) error {
	ro := []string{"rbind", "ro", "nosuid", "nodev"}
	mounts := []ociMount{
		{Destination: "/proc", Type: "proc", Source: "proc", Options: []string{"nosuid", "nodev", "noexec"}},
		{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "noexec", "mode=755", "size=64k"}},
		{Destination: "/tmp", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "nodev", fmt.Sprintf("size=%dm", spec.EphemeralStorageMB), "mode=1777"}},
		{Destination: "/etc", Type: "bind", Source: b.etcDir, Options: ro},
		{Destination: "/var/task", Type: "bind", Source: spec.CodeDir, Options: ro},
		{Destination: shimPath, Type: "bind", Source: b.exe, Options: []string{"bind", "ro", "nosuid", "nodev"}},
		{Destination: socketDir, Type: "bind", Source: dir + "/sock", Options: []string{"rbind", "nosuid", "nodev", "noexec"}},
	}
	for _, d := range b.cfg.HostDirs {
		if fi, err := os.Lstat(d); err == nil && fi.IsDir() {
			mounts = append(mounts, ociMount{Destination: d, Type: "bind", Source: d, Options: ro})
		}
	}
	if len(spec.LayerDirs) > 0 {
		opt, err := b.mergedLayers(spec.LayerDirs)
		if err != nil {
			return err
		}
		mounts = append(mounts, ociMount{Destination: "/opt", Type: "bind", Source: opt, Options: ro})
	}
	if rd, ok := b.cfg.RuntimeDirs[spec.Runtime]; ok {
		mounts = append(mounts, ociMount{Destination: "/var/runtime", Type: "bind", Source: rd, Options: ro})
	}
	env := append(append([]string(nil), spec.Env...), "AWS_LAMBDA_RUNTIME_API="+RuntimeAPIAddr, shimEnv+"="+shimMagic)
	if len(spec.Extensions) > 0 {
		exts, err := json.Marshal(spec.Extensions)
		if err != nil {
			return fmt.Errorf("gvisor: %w", err)
		}
		env = append(env, extEnv+"="+string(exts))
	}
	none := []string{}
	cfg := ociSpec{
		Version: "1.0.2",
		Process: ociProcess{
			User:            ociUser{UID: SandboxUID, GID: SandboxGID},
			Args:            append([]string{shimPath}, spec.Command...),
			Env:             env,
			Cwd:             "/var/task",
			Capabilities:    ociCaps{Bounding: none, Effective: none, Inheritable: none, Permitted: none, Ambient: none},
			Rlimits:         []ociLimit{{Type: "RLIMIT_NOFILE", Hard: 1024, Soft: 1024}, {Type: "RLIMIT_CORE"}, {Type: "RLIMIT_NPROC", Hard: 1024, Soft: 1024}},
			NoNewPrivileges: true,
		},
		Root:     ociRoot{Path: b.rootDir, Readonly: true},
		Hostname: b.cfg.Hostname,
		Mounts:   mounts,
		Linux: ociLinux{
			Namespaces: []ociNamespace{{Type: "pid"}, {Type: "network"}, {Type: "ipc"}, {Type: "uts"}, {Type: "mount"}},
			Seccomp:    seccompProfile(),
		},
	}
	blob, err := json.MarshalIndent(cfg, "", " ")
	if err != nil {
		return fmt.Errorf("gvisor: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "config.json"), blob, 0o644); err != nil {
		return fmt.Errorf("gvisor: %w", err)
	}
	return nil
}

// seccompProfile is the jail's deny list as an OCI profile, which gVisor enforces on the
// function inside its own kernel (runsc --oci-seccomp): the same calls fail with EPERM, clone
// with a namespace flag too. The Sentry is filtered by runsc's own
// host filter besides. clone3 needs no rule: gVisor does not implement it (ENOSYS), and
// this runsc ignores errnoRet, so a rule would make it EPERM, which libc does not fall back
// from.
func seccompProfile() *ociSeccomp {
	eperm := uint(unix.EPERM)
	names := seccomp.Denied()
	slices.Sort(names)
	p := &ociSeccomp{
		DefaultAction: "SCMP_ACT_ALLOW",
		Syscalls: []ociSyscall{
			{Names: names, Action: "SCMP_ACT_ERRNO", ErrnoRet: &eperm},
		},
	}
	for _, fl := range []uint64{unix.CLONE_NEWNS, unix.CLONE_NEWCGROUP, unix.CLONE_NEWUTS, unix.CLONE_NEWIPC,
		unix.CLONE_NEWUSER, unix.CLONE_NEWPID, unix.CLONE_NEWNET, unix.CLONE_NEWTIME} {
		p.Syscalls = append(p.Syscalls, ociSyscall{Names: []string{"clone"}, Action: "SCMP_ACT_ERRNO", ErrnoRet: &eperm,
			Args: []ociArg{{Index: 0, Value: fl, ValueTwo: fl, Op: "SCMP_CMP_MASKED_EQ"}}})
	}
	return p
}
