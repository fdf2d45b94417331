//go:build linux

package gvisor

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/ember-serverless/ember/internal/sandbox"
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
	for _, l := range spec.LayerDirs {
		mounts = append(mounts, ociMount{Destination: "/opt", Type: "bind", Source: l, Options: ro})
	}
	if rd, ok := b.cfg.RuntimeDirs[spec.Runtime]; ok {
		mounts = append(mounts, ociMount{Destination: "/var/runtime", Type: "bind", Source: rd, Options: ro})
	}
	none := []string{}
	cfg := ociSpec{
		Version: "1.0.2",
		Process: ociProcess{
			User:            ociUser{UID: SandboxUID, GID: SandboxGID},
			Args:            append([]string{shimPath}, spec.Command...),
			Env:             append(append(append([]string(nil), spec.Env...), "AWS_LAMBDA_RUNTIME_API="+RuntimeAPIAddr), shimEnv+"="+shimMagic),
			Cwd:             "/var/task",
			Capabilities:    ociCaps{Bounding: none, Effective: none, Inheritable: none, Permitted: none, Ambient: none},
			Rlimits:         []ociLimit{{Type: "RLIMIT_NOFILE", Hard: 1024, Soft: 1024}, {Type: "RLIMIT_CORE"}},
			NoNewPrivileges: true,
		},
		Root:     ociRoot{Path: b.rootDir, Readonly: true},
		Hostname: b.cfg.Hostname,
		Mounts:   mounts,
		Linux: ociLinux{Namespaces: []ociNamespace{
			{Type: "pid"}, {Type: "network"}, {Type: "ipc"}, {Type: "uts"}, {Type: "mount"},
		}},
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
