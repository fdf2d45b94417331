//go:build linux

// Command ember-vmagent is the /init of every microVM of the microvm isolation backend: it
// boots the guest, builds the function's jail inside it and relays the Runtime API, output and
// control to the host over virtio-serial (see internal/sandbox/microvm/agent). It is built
// statically beside the ember binary (scripts/build), which packs it into the guest's
// initramfs.
package main

import "github.com/ember-serverless/ember/internal/sandbox/microvm/agent"

func main() { agent.Main() }
