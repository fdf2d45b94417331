package cgroups

import (
	"bufio"
	"fmt"
	"os"
	"path"
	"strings"
)

// mount is one line of /proc/self/mountinfo that matters here.
type mount struct {
	root, point, fstype string
	super               []string
}

func readMountinfo(file string) ([]mount, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []mount
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		// 36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		if !ok {
			continue
		}
		a := strings.Fields(pre)
		b := strings.Fields(post)
		if len(a) < 5 || len(b) < 3 {
			continue
		}
		if b[0] != "cgroup" && b[0] != "cgroup2" {
			continue
		}
		out = append(out, mount{root: unescape(a[3]), point: unescape(a[4]), fstype: b[0], super: strings.Split(b[2], ",")})
	}
	return out, sc.Err()
}

func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			var c byte
			if _, err := fmt.Sscanf(s[i+1:i+4], "%03o", &c); err == nil {
				b.WriteByte(c)
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// readProcCgroup maps each v1 controller (and "" for the v2 hierarchy) to this process's
// path in it.
func readProcCgroup(file string) (map[string]string, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		if parts[1] == "" {
			out[""] = parts[2]
			continue
		}
		for _, c := range strings.Split(parts[1], ",") {
			out[c] = parts[2]
		}
	}
	return out, nil
}

// hostPath turns a process's cgroup path into a directory, given the mount it lives under.
// A path outside the mount's root has no directory: a process in a cgroup namespace sees the
// mount of the namespace's parent with a root like "/../..", and the groups between are
// unnamed from inside.
func hostPath(m mount, cgPath string) (string, error) {
	rel := cgPath
	if m.root != "/" {
		r, ok := strings.CutPrefix(cgPath, m.root)
		if !ok || (r != "" && !strings.HasPrefix(r, "/")) {
			return "", fmt.Errorf("this process's group %s is outside the root %s of the cgroup mount at %s (a cgroup namespace with its parent's mount?): mount the hierarchy afresh inside the namespace", cgPath, m.root, m.point)
		}
		rel = r
	}
	return path.Join(m.point, rel), nil
}
