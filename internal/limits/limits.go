// Package limits is where the numbers Lambda fixes live, each once: the account's quotas, the
// sizes of packages and payloads, a function's defaults, and the region and account Ember's
// ARNs use when the server is told none (DESIGN decision 3), with the one check of an account
// id. Every role that needs one of them imports it from here. It imports nothing.
package limits

// The region and account a server stands for when not told otherwise.
const (
	DefaultRegion    = "us-east-1"
	DefaultAccountID = "000000000000"
)

// ValidAccountID reports whether s is an AWS account id: 12 digits.
func ValidAccountID(s string) bool {
	if len(s) != 12 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// Lambda's quotas and limits, as its documentation and error messages give them.
const (
	// ConcurrentExecutions is the account's default quota of invocations running at once.
	ConcurrentExecutions = 1000
	// MinUnreservedConcurrency is how many of the account's concurrent executions reserved
	// concurrency must leave to the functions without a reservation.
	MinUnreservedConcurrency = 100
	// MaxSyncPayload bounds a synchronous invocation's request payload and its response: 6 MB
	// each.
	MaxSyncPayload = 6 * 1024 * 1024
	// TailSize is how much of an invocation's log X-Amz-Log-Result carries: the last 4 KB.
	TailSize = 4096
	// MaxZippedSize bounds a package uploaded directly (Code.ZipFile): 50 MB.
	MaxZippedSize = 50 * 1024 * 1024
	// MaxCodeRequest bounds a CreateFunction or UpdateFunctionCode request: a 50 MB zip,
	// base64-encoded in JSON, as Lambda's message gives it.
	MaxCodeRequest = 69905067
	// MaxUnzippedSize bounds a function's code and layers together, unzipped: 250 MB.
	MaxUnzippedSize = 250 * 1024 * 1024
	// TotalCodeSize is the account's storage for packages and layers: 75 GB.
	TotalCodeSize = 75 * 1024 * 1024 * 1024
)

// A function's configuration where its creator sets none, as Lambda's.
const (
	// DefaultMemorySize is MemorySize in MB.
	DefaultMemorySize = 128
	// DefaultTimeout is Timeout in seconds.
	DefaultTimeout = 3
	// DefaultEphemeralStorageMB is the size of /tmp (EphemeralStorage.Size) in MB.
	DefaultEphemeralStorageMB = 512
)
