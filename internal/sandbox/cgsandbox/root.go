package cgsandbox

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/ember-serverless/ember/internal/sandbox"
)

// The unprivileged user every runtime runs as inside its sandbox (Lambda's sbx_user1051).
const (
	SandboxUID = 993
	SandboxGID = 990
)

// EtcFiles are a sandbox's /etc, by file name: what libc and runtimes read, and nothing of the
// host's.
func EtcFiles(hostname string) map[string]string {
	return map[string]string{
		"passwd": "root:x:0:0:root:/root:/sbin/nologin\n" +
			fmt.Sprintf("sbx_user1051:x:%d:%d::/home/sbx_user1051:/sbin/nologin\n", SandboxUID, SandboxGID) +
			"nobody:x:65534:65534:nobody:/:/sbin/nologin\n",
		"group":         fmt.Sprintf("root:x:0:\nsbx_user1051:x:%d:\nnobody:x:65534:\n", SandboxGID),
		"hosts":         "127.0.0.1\tlocalhost " + hostname + " " + sandbox.SandboxHostname + "\n::1\tlocalhost\n",
		"hostname":      hostname + "\n",
		"resolv.conf":   "",
		"nsswitch.conf": "passwd: files\ngroup: files\nhosts: files dns\n",
	}
}

// LookPath resolves a runtime or extension command inside the sandbox the way execvp would,
// using the runtime's PATH from env.
func LookPath(name string, env []string) (string, error) {
	if strings.Contains(name, "/") {
		return name, nil
	}
	path := "/usr/local/bin:/usr/bin:/bin"
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "PATH="); ok {
			path = v
		}
	}
	for _, dir := range filepath.SplitList(path) {
		p := filepath.Join(dir, name)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("exec %s: not found in PATH", name)
}
