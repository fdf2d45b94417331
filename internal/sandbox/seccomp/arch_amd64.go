//go:build linux

package seccomp

import "golang.org/x/sys/unix"

const auditArch = unix.AUDIT_ARCH_X86_64

// x32Bit marks x32 ABI system call numbers, which the filter refuses outright.
const x32Bit = 0x40000000

var archDenied = map[string]uintptr{
	"iopl":            unix.SYS_IOPL,
	"ioperm":          unix.SYS_IOPERM,
	"create_module":   unix.SYS_CREATE_MODULE,
	"get_kernel_syms": unix.SYS_GET_KERNEL_SYMS,
	"query_module":    unix.SYS_QUERY_MODULE,
	"uselib":          unix.SYS_USELIB,
	"ustat":           unix.SYS_USTAT,
	"sysfs":           unix.SYS_SYSFS,
	"_sysctl":         unix.SYS__SYSCTL,
	"modify_ldt":      unix.SYS_MODIFY_LDT,
}
