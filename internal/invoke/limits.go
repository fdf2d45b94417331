package invoke

// Lambda's limits on the invoke path.
const (
	// MaxResponseSize is the largest response payload a synchronous invoke returns (6 MB).
	MaxResponseSize = 6 * 1024 * 1024
	// TailSize is how much of an invocation's log X-Amz-Log-Result carries.
	TailSize = 4096
)
