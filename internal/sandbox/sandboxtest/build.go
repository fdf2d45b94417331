package sandboxtest

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/ember-serverless/ember/internal/testenv"
)

const runtimePkg = "github.com/ember-serverless/ember/internal/sandbox/sandboxtest/testruntime"

// RuntimeEnv names a prebuilt test function (a static build of ./testruntime with the
// lambda.norpc tag). When it is set, BuildRuntime copies that file instead of building: where
// there is no go tool, as in the VM of ../vmtest.
const RuntimeEnv = "EMBER_SANDBOXTEST_RUNTIME"

// BuildRuntime builds the test function into a new code directory, as a statically linked
// "bootstrap" that others may read and execute, and returns the directory.
func BuildRuntime(t testing.TB) string {
	t.Helper()
	if prebuilt := os.Getenv(RuntimeEnv); prebuilt != "" {
		dir := CodeDir(t)
		if err := copyFile(prebuilt, filepath.Join(dir, "bootstrap")); err != nil {
			t.Fatalf("the prebuilt test function (%s): %v", RuntimeEnv, err)
		}
		return dir
	}
	gobin, err := exec.LookPath("go")
	if err != nil {
		gobin = filepath.Join(goRoot(), "bin", "go")
		if _, err := os.Stat(gobin); err != nil {
			testenv.Need(t, "needs the go tool to build the test function: %v", err)
		}
	}
	dir := CodeDir(t)
	cmd := exec.Command(gobin, "build", "-tags", "lambda.norpc", "-trimpath", "-o", filepath.Join(dir, "bootstrap"), runtimePkg)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build test function: %v\n%s", err, out)
	}
	return dir
}

func goRoot() string {
	if r := os.Getenv("GOROOT"); r != "" {
		return r
	}
	return "/usr/local/go"
}

// CodeDir makes an empty directory that a sandbox's unprivileged user can read, as code
// directories from the code store are.
func CodeDir(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}
