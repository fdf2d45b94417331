// Package cgroups puts a sandbox's processes under resource limits: memory (with OOM
// detection), CPU proportional to memory, a pids limit, and the freezer. It hides cgroup v1 and
// v2 behind one Manager interface chosen by Detect when the server starts.
//
// The package owns only the directories it creates beneath its parent group; it must not
// change limits on, or move processes out of, any cgroup it did not create, and it knows
// nothing about functions or sandboxes beyond a name and a set of limits.
package cgroups
