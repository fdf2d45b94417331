// Package vmimage makes what a Linux guest boots from: it finds an unpacked kernel and the
// modules the guest must load (with their dependencies), writes initramfs archives (newc cpio)
// of host files and generated ones, and reads the host's TSC rate, which a guest under QEMU's
// software emulation must be told. The VM tests (../vmtest) and the microVM backend
// (../microvm) build their guests with it. It runs nothing and starts no VM.
package vmimage
