// Package harness is the machinery behind Ember's benchmarks: it builds the echo function, starts
// each server under test (Ember, shared/bench/floor and the AWS Runtime Interface Emulator) on a
// free loopback port, drives them with one SigV4-signing HTTP client, and turns what it measured
// into percentiles, rates and ratios to floor.
//
// It owns the benchmark's processes and temporary files and nothing else: it never reaches into
// Ember's packages, and talks to every server only over HTTP, as a user would. It asserts no
// timing; the figures it prints are for people to compare.
package harness
