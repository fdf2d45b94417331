//go:build linux && !amd64 && !arm64

package seccomp

const auditArch = 0

const x32Bit = 0

var archDenied = map[string]uintptr{}
