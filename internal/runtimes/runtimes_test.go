package runtimes_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/ember-serverless/ember/internal/runtimes"
	"github.com/ember-serverless/ember/internal/testenv"
)

// fakeInterpreters makes a directory of scripts that print a version as node and python do.
func fakeInterpreters(t *testing.T, scripts map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, out := range scripts {
		body := "#!/bin/sh\necho '" + out + "'\n"
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestDetectOffersTheRuntimesOfTheInstalledInterpreters(t *testing.T) {
	dir := fakeInterpreters(t, map[string]string{"node": "v22.3.1", "python3.12": "Python 3.12.4"})
	table := runtimes.Detect(context.Background(), []string{dir})

	tests := []struct {
		name    string
		runtime string
		want    string // the interpreter, or "" for a provided runtime
		err     error
		msg     string
	}{
		{"a provided runtime is always there", "provided.al2023", "", nil, ""},
		{"Node 22 runs nodejs22.x", "nodejs22.x", filepath.Join(dir, "node"), nil, ""},
		{"Python 3.12 runs python3.12", "python3.12", filepath.Join(dir, "python3.12"), nil, ""},
		{"nodejs20.x without Node 20 names what is missing and what is there", "nodejs20.x", "", runtimes.ErrUnavailable,
			"it needs Node.js 20 (node or nodejs in " + dir + "), and this server has Node.js 22.3.1 at " + filepath.Join(dir, "node")},
		{"python3.11 without Python 3.11 names what is missing", "python3.11", "", runtimes.ErrUnavailable,
			"it needs Python 3.11 (python3.11 in " + dir + ")"},
		{"a language Ember has no client for is unavailable", "java21", "", runtimes.ErrUnavailable,
			"Ember runs the provided, Node.js and Python runtimes only"},
		{"a deprecated runtime is unknown", "nodejs16.x", "", runtimes.ErrUnknown, ""},
		{"a made-up name is unknown", "cobol", "", runtimes.ErrUnknown, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rt, err := table.Lookup(tc.runtime)
			if !errors.Is(err, tc.err) {
				t.Fatalf("Lookup(%s) error = %v, want %v", tc.runtime, err, tc.err)
			}
			if err != nil {
				if !strings.Contains(err.Error(), tc.msg) {
					t.Errorf("error %q does not contain %q", err, tc.msg)
				}
				return
			}
			if rt.Name != tc.runtime || rt.Interpreter != tc.want {
				t.Errorf("Lookup(%s) = %+v, want interpreter %q", tc.runtime, rt, tc.want)
			}
		})
	}
	if got := table.Supported(); !slices.Equal(got, []string{"nodejs22.x", "provided", "provided.al2", "provided.al2023", "python3.12"}) {
		t.Errorf("Supported() = %v", got)
	}
}

func TestDetectIgnoresWhatIsNotAnInterpreterOfTheRightVersion(t *testing.T) {
	dir := fakeInterpreters(t, map[string]string{"node": "not a version", "python3.11": "Python 3.12.0"})
	table := runtimes.Detect(context.Background(), []string{dir, filepath.Join(dir, "missing")})
	if got := table.Managed(); len(got) != 0 {
		t.Errorf("Managed() = %+v, want none", got)
	}
}

func TestCommandStartsEachFamilysProcess(t *testing.T) {
	code := t.TempDir()
	if err := os.WriteFile(filepath.Join(code, "bootstrap"), []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	layer := t.TempDir()
	if err := os.WriteFile(filepath.Join(layer, "bootstrap"), []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	empty := t.TempDir()
	node := runtimes.Runtime{Name: "nodejs20.x", Family: runtimes.NodeJS, Interpreter: "/usr/bin/node"}
	py := runtimes.Runtime{Name: "python3.11", Family: runtimes.Python, Interpreter: "/usr/bin/python3.11"}
	custom := runtimes.Runtime{Name: "provided.al2023", Family: runtimes.Provided}
	tests := []struct {
		name  string
		rt    runtimes.Runtime
		code  string
		layer []string
		want  []string
	}{
		{"a provided runtime runs the code's bootstrap", custom, code, []string{layer}, []string{"/var/task/bootstrap"}},
		{"a provided runtime falls back to a layer's bootstrap", custom, empty, []string{layer}, []string{"/opt/bootstrap"}},
		{"Node.js runs the client from the runtime directory", node, empty, nil,
			[]string{"/usr/bin/node", "--max-http-header-size=81920", "/var/runtime/index.mjs"}},
		{"Python runs the client unbuffered without host site-packages", py, empty, nil,
			[]string{"/usr/bin/python3.11", "-u", "-S", "-B", "/var/runtime/bootstrap.py"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.rt.Command(tc.code, tc.layer, runtimes.RuntimeDir)
			if err != nil || !slices.Equal(got, tc.want) {
				t.Errorf("Command = %v, %v; want %v", got, err, tc.want)
			}
		})
	}
	t.Run("a provided runtime without any bootstrap is an entrypoint error", func(t *testing.T) {
		var ee *runtimes.EntrypointError
		if _, err := custom.Command(empty, nil, ""); !errors.As(err, &ee) {
			t.Errorf("Command error = %v, want an EntrypointError", err)
		}
	})
}

func TestEnvNamesTheExecutionEnvironmentAndModulePaths(t *testing.T) {
	node := runtimes.Runtime{Name: "nodejs20.x", Family: runtimes.NodeJS}.Env()
	if node["AWS_EXECUTION_ENV"] != "AWS_Lambda_nodejs20.x" || !strings.HasPrefix(node["NODE_PATH"], "/opt/nodejs/node20/node_modules:/opt/nodejs/node_modules:") {
		t.Errorf("Node.js env = %v", node)
	}
	py := runtimes.Runtime{Name: "python3.11", Family: runtimes.Python}.Env()
	if py["AWS_EXECUTION_ENV"] != "AWS_Lambda_python3.11" || py["PYTHONPATH"] != "/var/runtime" {
		t.Errorf("Python env = %v", py)
	}
	if env := (runtimes.Runtime{Name: "provided", Family: runtimes.Provided}).Env(); len(env) != 0 {
		t.Errorf("provided env = %v, want none", env)
	}
}

func TestInstallWritesEachClientReadableByEveryone(t *testing.T) {
	dir := fakeInterpreters(t, map[string]string{"node": "v20.1.0", "python3.11": "Python 3.11.2"})
	table := runtimes.Detect(context.Background(), []string{dir})
	out := filepath.Join(t.TempDir(), "runtimes")
	for range 2 { // the second time finds the files in place
		dirs, err := table.Install(out)
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]string{"nodejs20.x": "index.mjs", "python3.11": "bootstrap.py"}
		if len(dirs) != len(want) {
			t.Fatalf("Install returned %v, want %d runtimes", dirs, len(want))
		}
		for rt, file := range want {
			fi, err := os.Stat(filepath.Join(dirs[rt], file))
			if err != nil || fi.Mode().Perm() != 0o644 {
				t.Errorf("%s's client %s: %v, mode %v", rt, file, err, fi.Mode())
			}
		}
	}
}

func TestHostPathsHoldTheInterpreterAndEveryLibraryItLoads(t *testing.T) {
	testenv.NeedCommand(t, "/usr/bin/ldd", "libc-bin") // to compare with
	table := runtimes.Detect(context.Background(), nil)
	managed := table.Managed()
	if len(managed) == 0 {
		testenv.Need(t, "no Node.js or Python interpreter installed (Debian package python3)")
	}
	for _, rt := range managed {
		t.Run(rt.Name, func(t *testing.T) {
			paths, err := rt.HostPaths()
			if err != nil {
				t.Fatal(err)
			}
			have := map[string]bool{}
			for _, p := range paths {
				have[p] = true
			}
			if !have[rt.Interpreter] {
				t.Errorf("the interpreter %s is missing from %v", rt.Interpreter, paths)
			}
			out, err := exec.Command("/usr/bin/ldd", rt.Interpreter).Output()
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range regexp.MustCompile(`(?m)(/\S+) \(0x`).FindAllStringSubmatch(string(out), -1) {
				if !have[m[1]] {
					t.Errorf("ldd lists %s, HostPaths does not", m[1])
				}
			}
			if rt.Family == runtimes.Python {
				v := strings.Join(strings.Split(rt.Version, ".")[:2], ".")
				if !slices.ContainsFunc(paths, func(p string) bool { return strings.HasSuffix(p, "/lib/python"+v) }) {
					t.Errorf("the standard library is missing from %v", paths)
				}
			}
			for _, p := range paths {
				if strings.HasPrefix(p, "/root/") || strings.HasPrefix(p, "/home/") || strings.Contains(p, "-packages") {
					t.Errorf("%s is not part of the interpreter", p)
				}
			}
			if err := rt.CheckVisible([]string{"/usr", "/bin", "/lib", "/lib64", "/sbin"}); err != nil {
				t.Errorf("the jail's default host dirs do not show %s: %v", rt.Name, err)
			}
			if err := rt.CheckVisible([]string{"/opt"}); !errors.Is(err, runtimes.ErrNotVisible) {
				t.Errorf("CheckVisible(/opt) = %v, want ErrNotVisible", err)
			}
		})
	}
}
