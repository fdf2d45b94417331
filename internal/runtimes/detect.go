package runtimes

import (
	"context"
	"fmt"

	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"
)

// lambdaRuntime is one runtime identifier Lambda accepts.
type lambdaRuntime struct {
	name    string
	family  Family
	version string
}

// lambdaRuntimes are the runtime identifiers Lambda runs, by family: those it accepts for new
// functions, and the retired ones it still invokes (internal/control refuses those at create
// and update, with Lambda's message).
// Managed runtimes carry the interpreter version they need: a Node.js major, or a Python
// major.minor.
var lambdaRuntimes = []lambdaRuntime{
	{"provided.al2023", Provided, ""}, {"provided.al2", Provided, ""}, {"provided", Provided, ""},
	{"nodejs18.x", NodeJS, "18"}, {"nodejs20.x", NodeJS, "20"}, {"nodejs22.x", NodeJS, "22"}, {"nodejs24.x", NodeJS, "24"},
	{"python3.9", Python, "3.9"}, {"python3.10", Python, "3.10"}, {"python3.11", Python, "3.11"},
	{"python3.12", Python, "3.12"}, {"python3.13", Python, "3.13"}, {"python3.14", Python, "3.14"},
	{"java8.al2", "java", ""}, {"java11", "java", ""}, {"java17", "java", ""}, {"java21", "java", ""}, {"java25", "java", ""},
	{"dotnet8", "dotnet", ""}, {"dotnet10", "dotnet", ""},
	{"ruby3.2", "ruby", ""}, {"ruby3.3", "ruby", ""}, {"ruby3.4", "ruby", ""},
}

// DefaultSearchDirs are where Detect looks for interpreters. They lie under /usr, which the
// jail shares read-only with every sandbox, so an interpreter found here runs at the same path
// inside one. (An interpreter elsewhere, e.g. under /root/.pyenv, would not be visible.)
var DefaultSearchDirs = []string{"/usr/bin", "/usr/local/bin"}

// Interpreter is one interpreter Detect found.
type Interpreter struct {
	Path    string
	Version string // e.g. "20.20.2", "3.11.2"
}

// Table is what this host can run: every provided runtime, and each managed runtime whose
// interpreter was found.
type Table struct {
	runtimes   map[string]Runtime
	searchDirs []string
	// node and python are the interpreters found, in search order.
	node, python []Interpreter
}

// Detect probes dirs (DefaultSearchDirs when nil) for Node.js (`node`, `nodejs`) and Python
// (`python3.X`) interpreters and builds the table of runtimes they make available. The first
// interpreter of a matching version wins.
func Detect(ctx context.Context, dirs []string) *Table {
	if dirs == nil {
		dirs = DefaultSearchDirs
	}
	t := &Table{runtimes: map[string]Runtime{}, searchDirs: dirs}
	seen := map[string]bool{}
	probe := func(path string, re *regexp.Regexp) (Interpreter, bool) {
		real, err := filepath.EvalSymlinks(path)
		if err != nil || seen[real] || !isExecutable(real) {
			return Interpreter{}, false
		}
		seen[real] = true
		pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		out, err := exec.CommandContext(pctx, path, "--version").CombinedOutput()
		if err != nil {
			return Interpreter{}, false
		}
		m := re.FindStringSubmatch(string(out))
		if m == nil {
			return Interpreter{}, false
		}
		return Interpreter{Path: path, Version: m[1]}, true
	}
	nodeRe := regexp.MustCompile(`^v(\d+\.\d+\.\d+)`)
	pyRe := regexp.MustCompile(`^Python (\d+\.\d+\.\d+)`)
	for _, d := range dirs {
		for _, n := range []string{"node", "nodejs"} {
			if in, ok := probe(filepath.Join(d, n), nodeRe); ok {
				t.node = append(t.node, in)
			}
		}
		for _, r := range lambdaRuntimes {
			if r.family != Python {
				continue
			}
			// python3.X must be Python 3.X: a name that lies about its version is skipped.
			if in, ok := probe(filepath.Join(d, "python"+r.version), pyRe); ok && (in.Version == r.version || strings.HasPrefix(in.Version, r.version+".")) {
				t.python = append(t.python, in)
			}
		}
	}
	for _, r := range lambdaRuntimes {
		switch r.family {
		case Provided:
			t.runtimes[r.name] = Runtime{Name: r.name, Family: Provided}
		case NodeJS:
			if in, ok := find(t.node, r.version); ok {
				t.runtimes[r.name] = Runtime{Name: r.name, Family: NodeJS, Interpreter: in.Path, Version: in.Version}
			}
		case Python:
			if in, ok := find(t.python, r.version); ok {
				t.runtimes[r.name] = Runtime{Name: r.name, Family: Python, Interpreter: in.Path, Version: in.Version}
			}
		}
	}
	return t
}

// find returns the first interpreter whose version is want or starts with want + ".".
func find(ins []Interpreter, want string) (Interpreter, bool) {
	for _, in := range ins {
		if in.Version == want || strings.HasPrefix(in.Version, want+".") {
			return in, true
		}
	}
	return Interpreter{}, false
}

// ProvidedOnly is a table of the provided runtimes alone, as on a host with no interpreter: it
// probes nothing.
func ProvidedOnly() *Table { return Detect(context.Background(), []string{}) }

// Lookup returns the runtime named name if this host can run it. Otherwise the error wraps
// ErrUnknown (not a current Lambda runtime), or is an *UnavailableError wrapping
// ErrUnavailable whose message names what is missing.
func (t *Table) Lookup(name string) (Runtime, error) {
	if r, ok := t.runtimes[name]; ok {
		return r, nil
	}
	i := slices.IndexFunc(lambdaRuntimes, func(r lambdaRuntime) bool { return r.name == name })
	if i < 0 {
		return Runtime{}, fmt.Errorf("runtime %q: %w", name, ErrUnknown)
	}
	want := lambdaRuntimes[i]
	where := strings.Join(t.searchDirs, ", ")
	switch want.family {
	case NodeJS:
		return Runtime{}, unavailable(name, "it needs Node.js %s (node or nodejs in %s), and this server has %s.",
			want.version, where, describe("Node.js", t.node))
	case Python:
		return Runtime{}, unavailable(name, "it needs Python %s (python%s in %s), and this server has %s.",
			want.version, want.version, where, describe("Python", t.python))
	}
	return Runtime{}, unavailable(name, "Ember runs the provided, Node.js and Python runtimes only. Supported runtimes: %s.",
		strings.Join(t.Supported(), ", "))
}

func describe(lang string, ins []Interpreter) string {
	if len(ins) == 0 {
		return "no " + lang
	}
	parts := make([]string, len(ins))
	for i, in := range ins {
		parts[i] = fmt.Sprintf("%s %s at %s", lang, in.Version, in.Path)
	}
	return strings.Join(parts, " and ")
}

// Supported lists the runtime identifiers this host can run, sorted.
func (t *Table) Supported() []string {
	names := make([]string, 0, len(t.runtimes))
	for n := range t.runtimes {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Managed lists the runtimes of t that run one of Ember's clients, sorted by name.
func (t *Table) Managed() []Runtime {
	var out []Runtime
	for _, n := range t.Supported() {
		if r := t.runtimes[n]; !r.Custom() {
			out = append(out, r)
		}
	}
	return out
}
