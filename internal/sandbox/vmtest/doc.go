// Package vmtest runs the sandbox's cgroup-facing tests on a real cgroup v2 hierarchy. Hosts
// of this project and CI are cgroup v1 hybrids, where the cgroups package's v2 code is only
// checked against a fake directory tree; here TestTheSandboxTestsPassOnCgroupV2InAVM boots
// Debian's cloud kernel (6.1, unpacked into .cache/vmtest/kernel by scripts/setup) under
// QEMU's microvm machine with software emulation (TCG: this project's hosts have no usable
// KVM), with cgroup2 mounted on /sys/fs/cgroup, and runs inside it:
//
//   - all of ./cgroups' tests, and
//   - all of ./jail's tests (its conformance and escape suites among them) with -test.short,
//     which skips only the noisy-neighbour latency comparison: under emulation latencies mean
//     nothing, and the test must be deterministic.
//
// It runs both three times, one placement after the other in the same boot, as a server is
// started on the hosts Ember supports:
//
//   - root: in the root group, with no controller enabled in it, as on a host without
//     systemd;
//   - service: in a new group system.slice/ember.service with the memory, cpu and pids
//     controllers enabled down to it and cgroup2 remounted with nsdelegate, as systemd starts
//     a service with Delegate=yes. The group holds the test binary, so it cannot give its
//     children controllers until the cgroups package has moved the binary into a leaf group;
//   - container: the same group, but the binary starts in a cgroup namespace rooted there,
//     with cgroup2 mounted afresh (its root is the namespace's), as Docker and Podman start a
//     container with --cgroupns=private.
//
// After each run in the service's group, the host test checks that the binary left a leaf
// group (ember.server) there, and nothing inside it, that is that it made its sandboxes'
// groups in that group, beside the leaf, however many times it called Detect,
// and in the container that the binary saw itself in the root of its namespace. Not among
// the placements: a cgroup namespace that still sees the init's cgroup2 mount, whose root
// reads "/../.." from inside: there the cgroups package cannot tell which directory its group
// is, and Detect fails saying to mount the hierarchy afresh.
//
// In the VM, EMBER_EXPECT_CGROUP=v2 makes each package check that it did choose v2, and any
// skipped test but that one fails the host test, so a run that quietly fell back to v1 or
// skipped the jail cannot pass. The whole run, builds included, takes under two minutes on
// this project's 2-core machines (the guest boots in about 2 s; the jail's tests take most
// of it, 30 to 40 s per placement).
//
// The test binaries are built on the host (go test -c, static) with the test function the
// suites run in sandboxes (sandboxtest.RuntimeEnv names it in the VM, which has no go tool),
// and packed with ./guestinit, the VM's /init, into an initramfs (newc cpio, written by
// ../vmimage, which also finds the kernel and its modules). The guest gets
// no host file system: only the host programs the tests' scripts run, with their libraries,
// Python 3.11 when the host has it, and the loop, overlay and virtio modules; its /tmp is an
// ext4 disk, as the jail's disk-backed /tmp wants. The init powers the VM off when done and
// reports on the serial console, which the host test parses (Marker lines).
//
// The test skips, saying why, when QEMU or the kernel is missing, unless CI is set: then it
// fails, for scripts/setup should have provided them. The package is for tests only and must
// not be imported by anything but ./guestinit.
package vmtest
