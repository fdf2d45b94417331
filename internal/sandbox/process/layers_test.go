package process

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/ember-serverless/ember/internal/sandbox"
)

func writeTree(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if content == "->" {
			if err := os.Symlink("target", p); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestLayersAreMergedInOrderLaterOnesWinning(t *testing.T) {
	first := writeTree(t, map[string]string{"bin/tool": "first", "lib/a": "a", "data": "a file in the first layer", "link": "->"})
	second := writeTree(t, map[string]string{"bin/tool": "second", "lib/b": "b", "data/inner": "a directory in the second"})
	merged, err := mergeLayers([]string{first, second})
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(merged)
	tests := []struct{ path, want string }{
		{"bin/tool", "second"},
		{"lib/a", "a"},
		{"lib/b", "b"},
		{"data/inner", "a directory in the second"},
	}
	for _, tt := range tests {
		t.Run(tt.path+" reads "+tt.want, func(t *testing.T) {
			got, err := os.ReadFile(filepath.Join(merged, tt.path))
			if err != nil || string(got) != tt.want {
				t.Errorf("%s = %q, %v; want %q", tt.path, got, err, tt.want)
			}
		})
	}
	t.Run("a layer's own symbolic link is kept as it is", func(t *testing.T) {
		if link, err := os.Readlink(filepath.Join(merged, "link")); err != nil || link != "target" {
			t.Errorf("link -> %q, %v", link, err)
		}
	})
}

func TestASandboxMapsOptToItsLayersAndRemovesTheMergeWhenDestroyed(t *testing.T) {
	first := writeTree(t, map[string]string{"bin/tool": "first"})
	second := writeTree(t, map[string]string{"python/mod.py": "x"})
	tests := []struct {
		name   string
		layers []string
		merged bool
	}{
		{"one layer is used as it is", []string{first}, false},
		{"two layers are merged", []string{first, second}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sb, err := New().Create(context.Background(), sandbox.Spec{ID: "t", Command: []string{"/opt/bin/tool"}, LayerDirs: tt.layers})
			if err != nil {
				t.Fatal(err)
			}
			s := sb.(*Sandbox)
			if got, err := os.ReadFile(s.hostPath("/opt/bin/tool")); err != nil || string(got) != "first" {
				t.Errorf("/opt/bin/tool = %q, %v", got, err)
			}
			if got := s.hostPathList("/usr/bin:/opt/bin"); got != "/usr/bin:"+filepath.Join(s.opt, "bin") {
				t.Errorf("PATH maps to %q", got)
			}
			if (s.merged != "") != tt.merged {
				t.Errorf("merged dir %q", s.merged)
			}
			if err := sb.Destroy(context.Background()); err != nil {
				t.Fatal(err)
			}
			if s.merged != "" {
				if _, err := os.Stat(s.merged); !os.IsNotExist(err) {
					t.Errorf("the merged dir is left after Destroy: %v", err)
				}
			}
			if _, err := os.Stat(first); err != nil {
				t.Errorf("a layer's own directory was touched: %v", err)
			}
		})
	}
}
