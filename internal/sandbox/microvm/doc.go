// Package microvm is the microvm isolation backend: every sandbox is a QEMU microvm of its own
// (KVM where the host has working hardware virtualization, TCG software emulation where not),
// booting Debian's cloud kernel with the project's static Go agent (cmd/ember-vmagent,
// package ./agent) as /init. Inside the guest the function runs in the same jail as on a host
// (package jail): the VM is a second wall, not a replacement for the first.
//
// Each VM gets three disks: the root image (the host programs and interpreters runtimes may
// use, made once per configuration), the function image (code, layers and the runtime's client,
// read-only, made once per code), and a sparse scratch disk where the guest's jail keeps /tmp,
// bounded by EphemeralStorage. Host and guest talk over two virtio-serial ports (these hosts
// have no vhost-vsock): control requests as JSON lines, and a yamux session on which the agent
// relays the runtime's Runtime API connections, which the worker serves as for any backend
// (RuntimeAPI is a listener of those streams), and the runtime's output. The VM has
// MemorySize plus Config.MemoryOverheadMB of RAM, held in a file (Config.MemDir) so that it
// can be snapshotted.
//
// Freeze and Thaw pause and resume the whole VM (QMP stop and cont); Destroy asks the agent to
// end the runtime as the jail does (SIGTERM, grace, SIGKILL) and power off, and kills QEMU if
// it does not.
//
// The package owns QEMU processes, their files in StateDir, CacheDir and MemDir, and nothing
// else on the host: no cgroups, mounts or network.
package microvm
