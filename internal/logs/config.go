package logs

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/ember-serverless/ember/internal/limits"
)

// StoreConfig says where and how long logs are kept. The zero value is usable: every zero
// field takes the default written next to it.
type StoreConfig struct {
	// Stream is the JetStream stream holding the events (default "LOGS").
	Stream string
	// SubjectPrefix is the first subject token of every event (default "logs").
	SubjectPrefix string
	// GroupBucket is the key-value bucket recording log groups (default "LOG_GROUPS").
	GroupBucket string
	// Replicas is the replica count of the stream and the bucket (default 1; 3 on a cluster).
	Replicas int
	// MaxAge drops events older than this (default 7 days).
	MaxAge time.Duration
	// MaxBytes drops the oldest events once the stream holds this much (default 1 GiB).
	MaxBytes int64
	// BufferEvents bounds the events waiting in memory to be stored (default 65,536).
	BufferEvents int
	// BufferBytes bounds the message bytes waiting in memory to be stored (default 64 MiB).
	BufferBytes int
	// SpillDir, when set, is where events go while the memory buffer is full (see spill.go):
	// nothing is dropped and Write still does not wait on JetStream. Without it, or once the
	// spill holds SpillBytes, Write waits for room: its caller's output is held back.
	SpillDir string
	// SpillBytes bounds the spill file (default 1 GiB).
	SpillBytes int64
	// MaxBatch is the most events published before waiting for their acks (default 1,000).
	MaxBatch int
	// Linger is how long the publisher lets events gather before it stores a batch smaller
	// than MaxBatch (default 10 ms).
	Linger time.Duration
	// MaxEventBytes truncates longer messages (default 262,118: CloudWatch's 256 KiB event
	// limit less its 26 bytes of per-event overhead).
	MaxEventBytes int
	// MaxLag is how long after its timestamp an event is assumed to be stored at the latest;
	// queries with an endTime stop reading once events were stored this long after it
	// (default 15 minutes).
	MaxLag time.Duration
	// ClockSkew is how far an event's timestamp may run ahead of the time it was stored;
	// queries with a startTime start reading this long before it (default 1 minute).
	ClockSkew time.Duration
	// Region and Account fill ARNs (limits.DefaultRegion and limits.DefaultAccountID when empty).
	Region  string
	Account string
}

// Defaults for StoreConfig.
const (
	DefaultStream        = "LOGS"
	DefaultSubjectPrefix = "logs"
	DefaultGroupBucket   = "LOG_GROUPS"
	DefaultMaxAge        = 7 * 24 * time.Hour
	DefaultMaxBytes      = 1 << 30
	DefaultBufferEvents  = 1 << 16
	DefaultBufferBytes   = 64 << 20
	DefaultMaxBatch      = 1000
	DefaultSpillBytes    = 1 << 30
	DefaultMaxEventBytes = 256*1024 - 26
	DefaultMaxLag        = 15 * time.Minute
	DefaultClockSkew     = time.Minute
	DefaultLinger        = 10 * time.Millisecond
)

// Validate reports whether the config can be used.
func (c StoreConfig) Validate() error {
	if c.Stream != "" && strings.ContainsAny(c.Stream, ".*> \t\r\n/\\") {
		return fmt.Errorf("logs: stream name %q: must not contain '.', '*', '>', '/', '\\' or spaces", c.Stream)
	}
	if c.SubjectPrefix != "" && (strings.ContainsAny(c.SubjectPrefix, "*> \t\r\n") ||
		strings.HasPrefix(c.SubjectPrefix, ".") || strings.HasSuffix(c.SubjectPrefix, ".") ||
		strings.Contains(c.SubjectPrefix, "..")) {
		return fmt.Errorf("logs: subject prefix %q is not a literal subject", c.SubjectPrefix)
	}
	if c.Replicas < 0 || c.Replicas > 5 {
		return fmt.Errorf("logs: replicas %d: must be 1 to 5", c.Replicas)
	}
	if c.MaxAge < 0 || c.MaxBytes < 0 || c.Linger < 0 || c.BufferEvents < 0 || c.BufferBytes < 0 || c.MaxBatch < 0 || c.SpillBytes < 0 ||
		c.MaxEventBytes < 0 || c.MaxLag < 0 || c.ClockSkew < 0 {
		return errors.New("logs: limits must not be negative")
	}
	return nil
}

func (c StoreConfig) withDefaults() StoreConfig {
	set := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	if c.Stream == "" {
		c.Stream = DefaultStream
	}
	if c.SubjectPrefix == "" {
		c.SubjectPrefix = DefaultSubjectPrefix
	}
	if c.GroupBucket == "" {
		c.GroupBucket = DefaultGroupBucket
	}
	set(&c.Replicas, 1)
	if c.MaxAge == 0 {
		c.MaxAge = DefaultMaxAge
	}
	if c.MaxBytes == 0 {
		c.MaxBytes = DefaultMaxBytes
	}
	set(&c.BufferEvents, DefaultBufferEvents)
	set(&c.BufferBytes, DefaultBufferBytes)
	set(&c.MaxBatch, DefaultMaxBatch)
	if c.SpillBytes == 0 {
		c.SpillBytes = DefaultSpillBytes
	}
	if c.Linger == 0 {
		c.Linger = DefaultLinger
	}
	set(&c.MaxEventBytes, DefaultMaxEventBytes)
	if c.MaxLag == 0 {
		c.MaxLag = DefaultMaxLag
	}
	if c.ClockSkew == 0 {
		c.ClockSkew = DefaultClockSkew
	}
	if c.Region == "" {
		c.Region = limits.DefaultRegion
	}
	if c.Account == "" {
		c.Account = limits.DefaultAccountID
	}
	return c
}
