package limits_test

import (
	"testing"

	"github.com/ember-serverless/ember/internal/limits"
)

func TestTheLimitsAreLambdasInBytes(t *testing.T) {
	// The byte counts Lambda's own error messages and GetAccountSettings give.
	cases := []struct {
		name      string
		got, want int64
	}{
		{"a synchronous payload is 6291456 bytes", limits.MaxSyncPayload, 6291456},
		{"a direct upload is 52428800 bytes", limits.MaxZippedSize, 52428800},
		{"code and layers unzipped are 262144000 bytes", limits.MaxUnzippedSize, 262144000},
		{"a code request is 69905067 bytes", limits.MaxCodeRequest, 69905067},
		{"the account's code storage is 80530636800 bytes", limits.TotalCodeSize, 80530636800},
		{"the account runs 1000 invocations at once", limits.ConcurrentExecutions, 1000},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.got != tc.want {
				t.Errorf("got %d, want %d", tc.got, tc.want)
			}
		})
	}
}

func TestValidAccountIDIsTwelveDigits(t *testing.T) {
	cases := []struct {
		name, id string
		ok       bool
	}{
		{"the default account is valid", limits.DefaultAccountID, true},
		{"twelve digits are valid", "123456789012", true},
		{"eleven digits are not", "12345678901", false},
		{"thirteen digits are not", "1234567890123", false},
		{"a letter among digits is not", "12345678901a", false},
		{"nothing is not", "", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := limits.ValidAccountID(tc.id); got != tc.ok {
				t.Errorf("ValidAccountID(%q) = %v, want %v", tc.id, got, tc.ok)
			}
		})
	}
}
