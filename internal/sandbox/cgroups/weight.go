package cgroups

// v1Shares is a group's cpu.shares for a CPU bandwidth: 1,024 per CPU.
func v1Shares(milli int64) int64 { return max(milli*1024/1000, 2) }

// v2Weight is a group's cpu.weight for a CPU bandwidth: 100 per CPU, within 1..10000.
func v2Weight(milli int64) int64 { return max(1, min(milli/10, 10000)) }
