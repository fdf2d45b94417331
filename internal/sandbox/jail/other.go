//go:build !linux

package jail

// MaybeRunInit does nothing on systems without the jail backend.
func MaybeRunInit() {}
